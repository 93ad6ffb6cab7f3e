// A partner that disconnects the moment the connection is established: its DISCONNECTED arrives in the
// same batch of CM events as the ESTABLISHED that ends accept(), before the Connection exists. The
// connection must still learn it: 'disconnected', `closed`, the partner's DREQ answered (so its own
// close is quick) and nothing left behind. The event loop is held busy while the partner connects and
// disconnects, so that both events are read in one drain. (An initiator cannot meet this: librdmacm
// sends its RTU only when connect() reads the CONNECT_RESPONSE, so the partner is not established, and
// cannot disconnect, before that batch is read.)
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { contextFor, createQueuePair, listen, type Connection } from '../../lib/cm';
import { channel } from '../../lib/cm/event-channel';
import { closersAfterEach, heldResources, lab, leakedSince, recordFault } from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
let port = 7950;
const peerScript = resolve(__dirname, 'support', 'cm-quick-peer.js');
const cleanup = closersAfterEach();

/** Blocks this process's event loop for `ms`: nothing is read from the CM channel meanwhile. */
function blockLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The names of the events of each batch the CM channel delivers, from now on. */
function recordBatches(): string[][] {
  const batches: string[][] = [];
  const ch = channel() as unknown as { dispatch(batch: { event: string }[]): void };
  const dispatch = ch.dispatch;
  ch.dispatch = function (batch) {
    batches.push(batch.map((e) => e.event));
    dispatch.call(this, batch);
  };
  cleanup.push(() => (ch.dispatch = dispatch));
  return batches;
}

/** True when one batch held both events: the case this file is about really happened. */
const sameBatch = (batches: string[][]) =>
  batches.some((b) => b.includes('ESTABLISHED') && b.includes('DISCONNECTED'));

/** The quick peer in its own process, with its JSON lines as they come and its exit. */
function peer(args: string[]) {
  const child = spawn(process.execPath, [peerScript, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill('SIGKILL'));
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(JSON.parse(l));
    for (const w of waiters.splice(0)) w();
  });
  let gone = false;
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (code) => {
      gone = true;
      for (const w of waiters.splice(0)) w();
      r(code);
    }),
  );
  /** The first line with `key`; rejects, with what the peer printed, if it exits without one. */
  const line = (key: string) =>
    new Promise<Record<string, unknown>>((res, rej) => {
      const look = () => {
        const l = lines.find((x) => key in x);
        if (l) res(l);
        else if (gone) rej(new Error(`the peer exited without ${key}: ${JSON.stringify(lines)}`));
        else waiters.push(look);
      };
      look();
    });
  return { lines, exited, line };
}

/** Resolves with the reason once `conn` ends, and whether it emitted 'disconnected' first; fails after `ms`. */
function ends(conn: Connection, ms = 15_000) {
  let disconnected = false;
  conn.on('disconnected', () => (disconnected = true));
  return Promise.race([
    conn.closed.then(({ reason }) => ({ reason, disconnected })),
    new Promise<never>((_, rej) =>
      setTimeout(() => rej(new Error(`the connection did not learn its disconnect within ${ms} ms`)), ms),
    ),
  ]);
}

describe('a partner that disconnects at once', () => {
  it.each([
    ['a QP the CM makes', false],
    ["the caller's own QP", true],
  ])('accept() with %s: the DISCONNECTED read with the ESTABLISHED ends the connection', async (_, ownQp) => {
    const ctx = await contextFor(addrA);
    const before = heldResources();
    const pd = ctx.allocPd();
    const cq = ctx.createCq({ cqe: 64 });
    cleanup.push(
      () => pd.close(),
      () => cq.close(),
    );
    const p = port++;
    const listener = await listen({ address: addrA, port: p });
    cleanup.push(() => listener.close());
    const partner = peer([addrA, String(p), addrB, '1']);
    const it = listener[Symbol.asyncIterator]();
    // A peer that gave up says why, instead of the request never coming.
    const failed = partner.line('error').then(
      (e) => Promise.reject(new Error(`the peer failed: ${e.error}`)),
      () => new Promise<never>(() => {}),
    );
    const req = (await Promise.race([it.next(), failed])).value!;
    // While the loop is blocked, the partner's RTU (ESTABLISHED here) and its DREQ (DISCONNECTED) both arrive.
    const hold = () => queueMicrotask(() => blockLoop(1500));
    const opts = ownQp
      ? { queuePair: createQueuePair({ localAddress: addrA, pd, sendCq: cq }), prepare: hold }
      : { pd, prepare: hold };
    if (ownQp) cleanup.push(() => opts.queuePair!.close());
    const batches = recordBatches();
    const conn = await req.accept(opts);
    const end = await ends(conn);
    expect(sameBatch(batches)).toBe(true);
    expect(end).toEqual({ reason: 'disconnected by the partner', disconnected: true });
    // Its DREQ was answered: the partner's close and exit are prompt, not its DREQ timeouts.
    const closed = await partner.line('closed');
    expect(closed.closed as number).toBeLessThan(10_000);
    expect(await partner.exited).toBe(0);
    listener.close();
    if (ownQp) opts.queuePair!.close();
    cq.close();
    pd.close();
    expect(leakedSince(before, heldResources())).toBe(0);
    recordFault(
      `partner disconnected the moment accept() was established (${ownQp ? 'own QP' : 'CM QP'}), read in one batch: the connection learned it`,
    );
  });

  it('with the event loop busy in bursts, every one of many quick partners is learned', async () => {
    const ctx = await contextFor(addrA);
    const before = heldResources();
    const pd = ctx.allocPd();
    cleanup.push(() => pd.close());
    const p = port++;
    const listener = await listen({ address: addrA, port: p });
    cleanup.push(() => listener.close());
    const count = 8;
    const busy = setInterval(() => blockLoop(40), 50);
    cleanup.push(() => clearInterval(busy));
    const partner = peer([addrA, String(p), addrB, String(count)]);
    const endings: ReturnType<typeof ends>[] = [];
    let n = 0;
    for await (const req of listener) {
      endings.push(ends(await req.accept({ pd }), 30_000));
      if (++n === count) break;
    }
    const all = await Promise.all(endings);
    clearInterval(busy);
    expect(all).toEqual(
      Array.from({ length: count }, () => ({ reason: 'disconnected by the partner', disconnected: true })),
    );
    expect(await partner.exited).toBe(0);
    expect(partner.lines.filter((l) => 'closed' in l)).toHaveLength(count);
    pd.close();
    expect(leakedSince(before, heldResources())).toBe(0);
  });
});
