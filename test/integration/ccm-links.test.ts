// Redundant links on rxe: two address pairs per node (the lab's veth pair, link 0, and a private pair
// with its own rxe devices, link 1). Partner 2 is the CLI in its own process, given both addresses;
// links are cut with netem (every packet dropped, netdevs up: a pulled cable). One link cut under
// full-rate mirroring is a link-down, never a partner-down, and every record reaches the partner once
// and in order; the link comes back by itself; only every link cut is a partner-down.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterNode } from '../../lib/ccm';
import { rdmaTransport } from '../../lib/ccm/rdma-transport';
import { decodeReject, encodeJoin, joinKey } from '../../lib/ccm/wire';
import { contextFor } from '../../lib/cm';
import {
  cliNode,
  heldResources,
  leakedSince,
  next,
  recordAttack,
  recordFault,
  stopNodes,
  testNode,
  twoLinks,
  type TwoLinks,
  until,
} from './lab';

const CLUSTER = 5151n;
const SECRET = 'two links, one session';
let links: TwoLinks;
let A: string[];
let B: string[];
let port = 7700;
let baseline: Record<string, number> = {};

beforeAll(async () => {
  links = twoLinks('lnk', 2);
  A = links.a;
  B = links.b;
  for (const a of [...A, ...B]) await contextFor(a);
  baseline = heldResources();
});

afterEach(async () => {
  await stopNodes();
  links.cutAll(false);
});

afterAll(() => links.remove());

function nodeA(p: number) {
  return testNode({
    clusterId: CLUSTER,
    nodeId: 1,
    address: A,
    port: p,
    partners: [{ nodeId: 2, address: B, port: p }],
    secret: SECRET,
    heartbeatMs: 100,
    partnerDownMs: 1500,
    backoff: { minMs: 50, maxMs: 1000, jitter: 0.2 },
    connectTimeoutMs: 3000,
  });
}

/** Partner 2 as the CLI: both addresses, printing its events and each mirrored record it receives. */
function cliB(p: number) {
  return cliNode([
    '--records',
    '--no-control',
    '--cluster-id',
    String(CLUSTER),
    '--node-id',
    '2',
    '--address',
    B[0],
    '--address',
    B[1],
    '--port',
    String(p),
    '--partner',
    `1@${A.join(',')}:${p}`,
    '--secret',
    SECRET,
    '--heartbeat-ms',
    '100',
    '--partner-down-ms',
    '1500',
  ]);
}

/** Appends at full rate (a window of 32 in flight) until stopped; resolves with every sequence, in order of its append. */
function mirrorAtFullRate(n: ClusterNode) {
  const seqs: bigint[] = [];
  const acks: { seq: bigint; at: number }[] = [];
  let stop = false;
  let failed: unknown;
  // A pump's error is kept for stop(): a test that fails first stops the node under held appends, and
  // those rejections are not the failure to report.
  const pumps = Array.from({ length: 32 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const s = n.session(2);
      if (!s) throw new Error('no session');
      const seq = await s.mirror.append(Buffer.from(`pump ${w} record ${i}`));
      seqs.push(seq);
      acks.push({ seq, at: performance.now() });
    }
  }).map((p) => p.catch((e) => void (failed ??= e)));
  return {
    acks,
    async stop() {
      stop = true;
      await Promise.all(pumps);
      if (failed) throw failed;
      return seqs.sort((x, y) => (x < y ? -1 : 1));
    },
  };
}

describe('CCM over two links on rxe', () => {
  it('joins both links; the carrier cut under full-rate mirroring is a link-down: mirroring moves, every record once and in order, the link rejoins', async () => {
    const p = port++;
    const a = nodeA(p);
    const b = cliB(p);
    await a.n.start();
    await next(a.events, 'link-up', (e) => e.linksUp === 2);
    await next(b.events, 'link-up', (e) => e.linksUp === 2);
    const s = a.n.session(2)!;
    const carrier = s.carrier as 0 | 1;
    expect(
      a.n
        .status()
        .partners[0].session!.links.map((l) => l.state)
        .sort(),
    ).toEqual(['carrier', 'up']);

    const run = mirrorAtFullRate(a.n);
    await new Promise((r) => setTimeout(r, 2000));
    const from = a.events.length;
    const t0 = performance.now();
    links.cut(carrier, true);
    const down = await next(a.events, 'link-down', (e) => e.link === carrier, 30_000, from);
    expect(down.linksUp).toBe(1);
    expect(s.carrier).toBe(1 - carrier);
    // Mirroring goes on over the other link: records are acknowledged after the link-down.
    const acked = () => run.acks.find((x) => x.at > t0 + down.detectionMs);
    await until(
      () => acked() !== undefined,
      `an ack after the link-down (at the link-down: ${run.acks.length} acks, the last ${Math.round(performance.now() - (run.acks.at(-1)?.at ?? 0))} ms before)`,
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const failoverMs = Math.round(run.acks.find((x) => x.at > t0)!.at - t0);
    const seqs = await run.stop();
    expect(seqs).toEqual(seqs.map((_, i) => BigInt(i + 1)));
    for (const end = Date.now() + 30_000; b.records.length < seqs.length && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 100));
    expect(b.records.map((r) => r.seq)).toEqual(seqs); // every acknowledged record at the partner's application, once, in order
    expect(
      [...a.events, ...b.events].some((e) => e.type === 'partner-down' || e.type === 'session-closed'),
    ).toBe(false);
    expect(a.n.session(2)).toBe(s);

    // The cable goes back: the session's initiator joins the link again by itself.
    const back = a.events.length;
    links.cut(carrier, false);
    const up = await next(a.events, 'link-up', (e) => e.link === carrier, 90_000, back);
    expect(up.linksUp).toBe(2);
    const seq = await s.mirror.append(Buffer.from('after the link came back'));
    expect(seq).toBe(BigInt(seqs.length + 1));
    recordFault(
      `one of two links cut under full-rate mirroring (link-down after ${down.detectionMs} ms, first ack after the cut ${failoverMs} ms, heartbeat 100 ms), no partner-down, the link rejoined`,
      { records: seqs.length + 1 },
    );
  });

  it('every link cut while both nodes live: link-downs, then partner-down naming each link and no witness; back on the same boot, held appends delivered once', async () => {
    const p = port++;
    const a = nodeA(p);
    const b = cliB(p);
    await a.n.start();
    await next(a.events, 'link-up', (e) => e.linksUp === 2);
    const s = a.n.session(2)!;
    expect(await s.mirror.append(Buffer.from('before'))).toBe(1n);
    const from = a.events.length;
    links.cut(0, true);
    links.cut(1, true);
    const held = [s.mirror.append(Buffer.from('during 1')), s.mirror.append(Buffer.from('during 2'))];
    const down = await next(a.events, 'partner-down', () => true, 60_000, from);
    expect(down.witness).toBe('none');
    expect(down.links.map((l) => l.link)).toEqual([0, 1]);
    expect(a.events.slice(from).filter((e) => e.type === 'link-down').length).toBe(2);
    links.cut(0, false);
    links.cut(1, false);
    const again = await next(a.events, 'established', () => true, 90_000, from);
    expect(again.partnerGeneration).toBe(s.partnerGeneration.toString()); // the same boot of B
    expect(await Promise.all(held)).toEqual([2n, 3n]);
    for (const end = Date.now() + 20_000; b.records.length < 3 && Date.now() < end; )
      await new Promise((r) => setTimeout(r, 100));
    expect(b.records.map((r) => r.seq)).toEqual([1n, 2n, 3n]);
    recordFault(
      'every link cut with both nodes alive (partner-down after both link-downs, no witness), then restored: held appends delivered once',
      { records: 3 },
    );
  });

  it('a join not keyed with the session it names is refused (NO_SESSION), the session and both links stay up', async () => {
    const p = port++;
    const a = nodeA(p);
    cliB(p);
    await a.n.start();
    await next(a.events, 'link-up', (e) => e.linksUp === 2);
    const rogue = await rdmaTransport({ addresses: [B[1]], statusSize: 512, slots: 1, slotSize: 4608 });
    try {
      const join = (key: Uint8Array) =>
        rogue
          .connect({
            address: A[1],
            port: p,
            slot: 0,
            link: 0,
            timeoutMs: 10_000,
            privateData: encodeJoin(
              { clusterId: CLUSTER, nodeId: 2, link: 1, attempt: 1 << 30, statusRkey: 1, slotRkey: 2 },
              key,
            ),
          })
          .then(
            (l) => (l.close(), 'accepted'),
            (e: { privateData?: Uint8Array }) => decodeReject(e.privateData)?.reason,
          );
      // Keyed with a made-up session epoch, with the secret unknown: as a stranger would.
      expect(await join(joinKey(undefined, 0x1234n))).toBe('NO_SESSION');
      expect(await join(joinKey(new TextEncoder().encode(SECRET), 0x1234n))).toBe('NO_SESSION');
    } finally {
      await rogue.close();
    }
    expect(a.n.session(2)!.upLinks.length).toBe(2);
    expect(await a.n.session(2)!.mirror.append(Buffer.from('still mirrored'))).toBe(1n);
    recordAttack(
      'a link join for a session the peer is not part of (made-up epoch, with and without the secret)',
      { records: 1 },
    );
  });

  it('leaves no QP, CQ, MR, PD or CM id behind', async () => {
    await new Promise((r) => setTimeout(r, 500));
    expect(leakedSince(baseline, heldResources())).toBe(0);
  });
});
