// Hostile peers against the CCM on real rxe devices (rxe0/10.99.0.1 ↔ rxe1/10.99.0.2): a peer without the
// cluster secret, replayed requests, hellos and commits, a partner writing into another partner's slot,
// forged heartbeat, ack and log words, records that mix sizes, partners whose rings differ. Each attack is
// refused by name (on the wire where RDMA allows it), live sessions stay up, and every acknowledged record
// is delivered once and in order.
import { afterEach, describe, expect, it } from 'vitest';
import type { CcmEvent, CcmOptions, Endpoint, Link, Session } from '../../lib/ccm';
import { rdmaTransport } from '../../lib/ccm/rdma-transport';
import {
  decodeAccept,
  decodeReject,
  encodeCommit,
  encodeConnect,
  encodeCounter,
  encodeHello,
  encodeRecord,
  DOORBELL,
  doorbell,
  SLOT,
} from '../../lib/ccm/wire';
import {
  cutLink,
  heldResources,
  lab,
  leakedSince,
  recordAttack,
  recordFault,
  stopNodes,
  testNode,
  until,
} from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
const CLUSTER = 4242n;
const SECRET = 'the-secret-of-this-cluster';
const secretBytes = new TextEncoder().encode(SECRET);
let port = 7800;
const rogues: Endpoint[] = [];

afterEach(async () => {
  cutLink(false);
  await Promise.all(rogues.splice(0).map((r) => r.close()));
  await stopNodes();
});

type Id = 1 | 2 | 3;
const where: Record<Id, { address: string; port: (p: number) => number }> = {
  1: { address: addrA, port: (p) => p },
  2: { address: addrB, port: (p) => p },
  3: { address: addrA, port: (p) => p + 1 },
};

/** A node with `partners`, its events recorded, and its endpoint captured (to learn where its slots are). */
function node(id: Id, p: number, partners: Id[], extra: Partial<CcmOptions> = {}) {
  const captured: { ep?: Endpoint } = {};
  const { n, events } = testNode({
    clusterId: CLUSTER,
    nodeId: id,
    address: where[id].address,
    port: where[id].port(p),
    partners: partners.map((x) => ({ nodeId: x, address: where[x].address, port: where[x].port(p) })),
    heartbeatMs: 100,
    partnerDownMs: 1500,
    backoff: { minMs: 50, maxMs: 500, jitter: 0.2 },
    transport: async (o) => (captured.ep = await rdmaTransport(o)),
    ...extra,
  });
  return { n, events, captured };
}

const count = (events: CcmEvent[], type: CcmEvent['type']) => events.filter((e) => e.type === type).length;

/** The link under a session: the partner's own queue pair, as compromised software on it would use it. */
const linkOf = (s: Session) => {
  const init = (s as unknown as { init: { link: { link: Link }; epoch: bigint } }).init;
  return { link: init.link.link, epoch: init.epoch };
};

/** A rogue endpoint on rxe0 that speaks the CM part itself. */
async function rogue(): Promise<Endpoint> {
  const r = await rdmaTransport({ addresses: [addrA], statusSize: 512, slots: 1, slotSize: 4352 });
  rogues.push(r);
  return r;
}

/** Connects a rogue as "node 1" to node 2 at port p; resolves with the link, or with the CM error. */
async function rogueConnect(
  r: Endpoint,
  p: number,
  privateData: Uint8Array,
): Promise<Link | (Error & { code?: string; privateData?: Uint8Array })> {
  return r
    .connect({ address: addrB, port: p, slot: 0, link: 0, privateData, timeoutMs: 10_000 })
    .catch((e) => e);
}

/** Mirrors `n` records each way on live sessions and checks that each arrives once, in order. */
async function mirrorBothWays(a: Session, b: Session, n: number, tag: string): Promise<number> {
  const gotA: string[] = [];
  const gotB: string[] = [];
  const onA = (_s: bigint, p: Buffer) => gotA.push(p.toString());
  const onB = (_s: bigint, p: Buffer) => gotB.push(p.toString());
  a.mirror.on('record', onA);
  b.mirror.on('record', onB);
  const recs = Array.from({ length: n }, (_, i) => `${tag} #${i}`);
  await Promise.all([
    ...recs.map((r) => a.mirror.append(Buffer.from(`a ${r}`))),
    ...recs.map((r) => b.mirror.append(Buffer.from(`b ${r}`))),
  ]);
  a.mirror.off('record', onA);
  b.mirror.off('record', onB);
  expect(gotB).toEqual(recs.map((r) => `a ${r}`));
  expect(gotA).toEqual(recs.map((r) => `b ${r}`));
  return 2 * n;
}

/** Nodes 1 and 2 with a session between them (node 1 initiates: node 2 holds its first attempt long). */
async function pair(p: number, extra: Partial<CcmOptions> = {}) {
  const b = node(2, p, [1], { ...extra, backoff: { minMs: 3000, maxMs: 5000, jitter: 0 } });
  await b.n.start();
  const a = node(1, p, [2], extra);
  await a.n.start();
  await until(() => !!a.n.session(2) && !!b.n.session(1), 'a session between 1 and 2');
  const sa = a.n.session(2)!;
  const sb = b.n.session(1)!;
  await Promise.all([sa.mirror.append(Buffer.from('warm-up a')), sb.mirror.append(Buffer.from('warm-up b'))]);
  return { a, b, sa, sb };
}

describe('CCM against hostile peers on rxe', () => {
  it('a peer without the secret that claims a live partner with a new boot is refused, learns nothing, and closes nothing', async () => {
    const p = (port += 2);
    const { a, b, sa, sb } = await pair(p, { secret: SECRET });
    const r = await rogue();
    // No MAC, a configured partner's id, a generation newer than the live one: in version 1 this was accepted,
    // got the regions' rkeys and closed the real session as "partner rebooted".
    const res = await rogueConnect(
      r,
      p,
      encodeConnect({
        clusterId: CLUSTER,
        nodeId: 1,
        generation: a.n.generation + 1n,
        target: 2,
        attempt: 1,
      }),
    );
    expect(res).toMatchObject({ code: 'ERR_CM_REJECTED' });
    const pd = (res as { privateData: Uint8Array }).privateData;
    expect(decodeReject(pd)).toEqual({ clusterId: CLUSTER, reason: 'NOT_AUTHENTICATED' });
    // The reject carries the caller's own cluster id and the reason: no node id, generation or partner list.
    expect(pd.subarray(24).every((x) => x === 0)).toBe(true);
    expect(Buffer.from(pd).includes(Buffer.from(new BigUint64Array([b.n.generation]).buffer))).toBe(false);
    // Another cluster id, a target that does not exist: the same one answer, before any field is believed.
    const other = await rogueConnect(
      r,
      p,
      encodeConnect({ clusterId: 99n, nodeId: 7, generation: 1n, target: 9, attempt: 1 }),
    );
    expect(decodeReject((other as { privateData: Uint8Array }).privateData)).toEqual({
      clusterId: 99n,
      reason: 'NOT_AUTHENTICATED',
    });
    expect(
      b.events.filter((e) => e.type === 'rejected').map((e) => (e as { reason: string }).reason),
    ).toEqual(['NOT_AUTHENTICATED', 'NOT_AUTHENTICATED']);
    // The live session is untouched and still mirrors.
    const checked = await mirrorBothWays(sa, sb, 50, 'after the stranger');
    expect(count(a.events, 'session-closed') + count(b.events, 'session-closed')).toBe(0);
    expect(a.n.session(2)).toBe(sa);
    recordAttack('connect without the secret claiming a live partner with a new boot', { records: checked });
  });

  it('without a secret, a reject to another cluster carries only that cluster id, not this one', async () => {
    const p = (port += 2);
    const b = node(2, p, [1]);
    await b.n.start();
    const r = await rogue();
    const res = await rogueConnect(
      r,
      p,
      encodeConnect({ clusterId: 99n, nodeId: 1, generation: 1n, target: 2, attempt: 1 }),
    );
    const pd = (res as { privateData: Uint8Array }).privateData;
    expect(decodeReject(pd)).toEqual({ clusterId: 99n, reason: 'WRONG_CLUSTER' });
    expect(Buffer.from(pd).includes(Buffer.from(new BigUint64Array([CLUSTER]).buffer))).toBe(false);
    recordAttack('connect with a wrong cluster id (no secret): the reject reveals nothing');
  });

  it('a replayed connect request, MAC and all, is refused as stale and closes nothing', async () => {
    const p = (port += 2);
    const { a, b, sa, sb } = await pair(p, { secret: SECRET });
    const attempt = (a.events.find((e) => e.type === 'attempt') as { attempt: number }).attempt;
    const r = await rogue();
    // A recording of node 1's first request of this boot: its MAC verifies, but it is not fresh.
    const res = await rogueConnect(
      r,
      p,
      encodeConnect(
        { clusterId: CLUSTER, nodeId: 1, generation: a.n.generation, target: 2, attempt },
        secretBytes,
      ),
    );
    expect(decodeReject((res as { privateData: Uint8Array }).privateData)?.reason).toBe('STALE_REQUEST');
    // So is a recording of an earlier boot of node 1.
    const old = await rogueConnect(
      r,
      p,
      encodeConnect(
        { clusterId: CLUSTER, nodeId: 1, generation: a.n.generation - 1n, target: 2, attempt: 99 },
        secretBytes,
      ),
    );
    expect(decodeReject((old as { privateData: Uint8Array }).privateData)?.reason).toBe('STALE_REQUEST');
    const checked = await mirrorBothWays(sa, sb, 50, 'after the replays');
    expect(count(a.events, 'session-closed') + count(b.events, 'session-closed')).toBe(0);
    recordAttack('replayed connect requests (same boot, earlier boot)', { records: checked });
  });

  it('a hello or commit made for another handshake (replayed) is refused: no echo, no session', async () => {
    const p = (port += 2);
    const b = node(2, p, [1], { secret: SECRET });
    await b.n.start();
    const r = await rogue();
    const request = { generation: 1000n, attempt: 1 };
    const link = (await rogueConnect(
      r,
      p,
      encodeConnect({ clusterId: CLUSTER, nodeId: 1, target: 2, ...request }, secretBytes),
    )) as Link;
    const acc = decodeAccept(link.privateData, CLUSTER, request, secretBytes);
    const hello = (responderNonce: bigint, nonce: bigint) =>
      encodeHello(
        {
          clusterId: CLUSTER,
          nodeId: 1,
          generation: request.generation,
          nonce,
          responderNonce,
          regions: r.regions(0),
        },
        secretBytes,
      );
    // A hello recorded from another handshake carries that handshake's responder nonce.
    await link.write(
      hello(acc.responderNonce ^ 0x5555n, 7n),
      acc.regions.slotAddr + BigInt(SLOT.hello),
      acc.regions.slotRkey,
      doorbell(DOORBELL.hello),
    );
    await until(
      () =>
        b.events.some(
          (e) => e.type === 'protocol-error' && e.block === 'hello' && /another handshake/.test(e.reason),
        ),
      'the replayed hello refused',
    );
    expect(b.events.some((e) => e.type === 'step' && e.step === 'echo')).toBe(false);
    // The right hello is echoed; then a commit recorded from another handshake is refused.
    await link.write(
      hello(acc.responderNonce, 8n),
      acc.regions.slotAddr + BigInt(SLOT.hello),
      acc.regions.slotRkey,
      doorbell(DOORBELL.hello),
    );
    await until(
      () => b.events.some((e) => e.type === 'step' && e.step === 'echo'),
      'the echo of the fresh hello',
    );
    const commit = encodeCommit(
      {
        clusterId: CLUSTER,
        nodeId: 1,
        generation: request.generation,
        nonce: 8n,
        responderNonce: acc.responderNonce ^ 0x5555n,
      },
      secretBytes,
    );
    await link.write(
      commit,
      acc.regions.slotAddr + BigInt(SLOT.commit),
      acc.regions.slotRkey,
      doorbell(DOORBELL.commit),
    );
    await until(
      () => b.events.some((e) => e.type === 'protocol-error' && e.block === 'commit'),
      'the replayed commit refused',
    );
    await new Promise((res) => setTimeout(res, 500));
    expect(count(b.events, 'established')).toBe(0);
    recordAttack('replayed hello, then a replayed commit');
  });

  it("a partner writing into another partner's slot, reading one, or flushing it or the status block, fails on the wire; the other session stays up", async () => {
    const p = (port += 2);
    const one = node(1, p, [2, 3], { secret: SECRET });
    const two = node(2, p, [1], { secret: SECRET });
    const three = node(3, p, [1], { secret: SECRET });
    await Promise.all([one.n.start(), two.n.start(), three.n.start()]);
    await until(
      () => !!one.n.session(2) && !!one.n.session(3) && !!two.n.session(1) && !!three.n.session(1),
      'sessions 1–2 and 1–3',
    );
    const s13 = one.n.session(3)!;
    const s31 = three.n.session(1)!;
    await Promise.all([s13.mirror.append(Buffer.from('warm-up')), s31.mirror.append(Buffer.from('warm-up'))]);
    const ep = one.captured.ep!;
    const theirs = ep.regions(1); // partner 3's slot on node 1
    const before = Buffer.from(ep.slot(1).subarray(0, SLOT.size));
    // Node 2, authenticated and with a live session, aims its own queue pair at partner 3's slot.
    const { link } = linkOf(two.n.session(1)!);
    await expect(
      link.write(new Uint8Array(16).fill(0x5a), theirs.slotAddr + BigInt(SLOT.heartbeat), theirs.slotRkey),
    ).rejects.toMatchObject({ code: 'ERR_WC_REM_ACCESS_ERR' });
    expect(
      ep
        .slot(1)
        .subarray(SLOT.heartbeat, SLOT.heartbeat + 16)
        .every((x) => x === 0x5a),
    ).toBe(false);
    expect(
      Buffer.from(ep.slot(1).subarray(0, SLOT.heartbeat)).equals(before.subarray(0, SLOT.heartbeat)),
    ).toBe(true);
    // Node 2 reconnects (its own QP failed); then it tries to READ partner 3's slot, and its own.
    await until(() => !!two.n.session(1) && !!one.n.session(2), 'node 2 back');
    const again = linkOf(two.n.session(1)!).link;
    await expect(again.read(theirs.slotAddr, theirs.slotRkey, 64)).rejects.toMatchObject({
      code: 'ERR_WC_REM_ACCESS_ERR',
    });
    // Where the stack places FLUSH (trixie's), node 2's QP posts it and node 1's own slot for node 2
    // takes it; partner 3's slot, and node 1's status block (registered for READ only), refuse it.
    let flushes = 0;
    if (process.env.RDMA_CCM_LAB_STACK === 'trixie') expect(again.flush).toBeDefined();
    const status = ep.regions(0); // node 2's registrations on node 1
    let failed = again;
    for (const [addr, rkey] of again.flush
      ? ([
          [theirs.slotAddr, theirs.slotRkey],
          [status.statusAddr, status.statusRkey],
        ] as const)
      : []) {
      await until(
        () => !!two.n.session(1) && !!one.n.session(2) && linkOf(two.n.session(1)!).link !== failed,
        'node 2 back',
      );
      const l = (failed = linkOf(two.n.session(1)!).link);
      await expect(l.flush!(addr, rkey, 'global')).rejects.toMatchObject({ code: 'ERR_WC_REM_ACCESS_ERR' });
      flushes++;
    }
    expect(flushes).toBe(again.flush ? 2 : 0);
    // The session of 1 and 3 never noticed, and mirrors every record once, in order.
    expect(one.n.session(3)).toBe(s13);
    expect(one.events.filter((e) => e.type === 'session-closed' && e.partner === 3)).toEqual([]);
    const checked = await mirrorBothWays(s13, s31, 50, 'after the cross-slot write');
    recordAttack(
      flushes
        ? "a partner's WRITE into another partner's slot, its READ of it, and its FLUSH of it and of the status block"
        : "a partner's WRITE into another partner's slot, and its READ of it",
      { records: checked },
    );
  });

  it('forged heartbeat, ack and log words of another session are refused and reported; the session goes on', async () => {
    const p = (port += 2);
    const { a, b, sa, sb } = await pair(p, { secret: SECRET });
    const { link, epoch } = linkOf(sb);
    const r = a.captured.ep!.regions(0);
    const wrong = epoch ^ 0xdeadn;
    const refused = (block: string) =>
      a.events.some((e) => e.type === 'protocol-error' && e.block === block && e.code === 'ERR_CCM_EPOCH');
    // Into node 1's slot for node 2, through node 2's own queue pair: a heartbeat, an ack, a record.
    // The heartbeat word rings no doorbell: node 1 reads it on its scan, and node 2's own next heartbeat
    // may overwrite one forgery before that scan. An attacker keeps writing it, and so does this test.
    await until(async () => {
      if (refused('heartbeat')) return true;
      await link.write(
        encodeCounter({ value: 1n << 40n, epoch: wrong }),
        r.slotAddr + BigInt(SLOT.heartbeat),
        r.slotRkey,
      );
      return false;
    }, 'the forged heartbeat word refused');
    await link.write(
      encodeCounter({ value: 1n, epoch: wrong }),
      r.slotAddr + BigInt(SLOT.ack),
      r.slotRkey,
      doorbell(DOORBELL.ack, 1),
    );
    const at = Math.floor((r.slotLen - SLOT.size) / 2 / 8) * 8;
    await link.write(
      encodeRecord(wrong, 12345, 1n, Buffer.from('forged')),
      r.slotAddr + BigInt(SLOT.size + at),
      r.slotRkey,
      doorbell(DOORBELL.record, at / 8),
    );
    await until(() => refused('ack') && refused('log'), 'the forged ack and log words refused');
    const forged: string[] = [];
    sa.mirror.on('record', (_s, pl) => forged.push(pl.toString()));
    const checked = await mirrorBothWays(sa, sb, 50, 'after the forgeries');
    expect(forged.includes('forged')).toBe(false);
    expect(
      count(a.events, 'session-closed') + count(b.events, 'session-closed') + count(a.events, 'partner-down'),
    ).toBe(0);
    recordAttack('forged heartbeat, ack and log words (another epoch)', { records: checked });
  });

  it('mirrors records that mix sizes across a third of the ring to a partner whose ring is larger, with no flap', async () => {
    const p = (port += 2);
    // Node 1's own ring is 64 KiB, its partner's 1 MiB: node 1 stages writes for the partner's ring.
    const b = node(2, p, [1], { logRingBytes: 1 << 20, backoff: { minMs: 3000, maxMs: 5000, jitter: 0 } });
    await b.n.start();
    const a = node(1, p, [2], { logRingBytes: 64 << 10 });
    await a.n.start();
    await until(() => !!a.n.session(2) && !!b.n.session(1), 'a session');
    const sa = a.n.session(2)!;
    const sb = b.n.session(1)!;
    const got: Buffer[] = [];
    sb.mirror.on('record', (_s, pl) => got.push(pl));
    const sizes = [100, 340_000, 7, 200_000, 340_000, 64, 340_000, 1, 300_000, 5000, 340_000, 12];
    const recs = sizes.map((n, i) => Buffer.alloc(n, 0x41 + i));
    const seqs = await Promise.all(recs.map((r) => sa.mirror.append(r)));
    expect(seqs).toEqual(sizes.map((_, i) => BigInt(i + 1)));
    expect(got.length).toBe(recs.length);
    got.forEach((g, i) => expect(g.equals(recs[i])).toBe(true));
    // The other way, the larger side's record beyond half of the smaller ring is refused up front, by name.
    await expect(sb.mirror.append(Buffer.alloc(40 << 10))).rejects.toMatchObject({
      code: 'ERR_CCM_RECORD_TOO_LARGE',
    });
    await expect(sb.mirror.append(Buffer.alloc(20 << 10))).resolves.toBeGreaterThan(0n);
    expect(count(a.events, 'session-closed') + count(b.events, 'session-closed')).toBe(0);
    recordAttack('records mixing sizes across a third of the ring, partners with rings of different sizes', {
      records: recs.length,
    });
  });
});

describe('CCM transport and node lifetimes on rxe', () => {
  it("posts a link's writes in call order: a small write never overtakes a large one waiting for staging", async () => {
    const p = (port += 2);
    const server = await rdmaTransport({
      addresses: [addrB],
      statusSize: 512,
      slots: 1,
      slotSize: 600 << 10,
    });
    rogues.push(server);
    const accepted = new Promise<Link>(
      (resolve) => void server.listen(p, (req) => void req.accept(new Uint8Array(8), 0).then(resolve)),
    );
    const client = await rogue();
    const link = await client.connect({
      address: addrB,
      port: p,
      slot: 0,
      link: 0,
      privateData: new Uint8Array(8),
      timeoutMs: 10_000,
    });
    await accepted;
    const r = server.regions(0);
    // The client's staging holds one of these at a time: the second waits, and the third is small.
    const big = 200 << 10;
    const x = link.write(new Uint8Array(big).fill(1), r.slotAddr, r.slotRkey);
    const y = link.write(new Uint8Array(big).fill(2), r.slotAddr + BigInt(big), r.slotRkey);
    const z = link.write(new Uint8Array(8).fill(3), r.slotAddr + BigInt(big), r.slotRkey);
    await Promise.all([x, y, z]);
    // Posted in order, the small write lands last, over the start of the second large one.
    expect([...server.slot(0).subarray(big, big + 8)]).toEqual(Array(8).fill(3));
    expect(server.slot(0)[big + 8]).toBe(2);
  });

  it('stops while an accept is in flight: stopped is emitted, and nothing is left in the kernel', async () => {
    const before = heldResources();
    const p = (port += 2);
    const b = node(2, p, [1], { backoff: { minMs: 3000, maxMs: 5000, jitter: 0 } });
    // The link is cut the moment node 2 starts to accept: its answer never reaches node 1.
    b.n.on('step', (e) => {
      if (e.role === 'responder' && e.step === 'accept') cutLink(true);
    });
    await b.n.start();
    const a = node(1, p, [2]);
    await a.n.start();
    await until(() => b.events.some((e) => e.type === 'step' && e.step === 'accept'), 'an accept under way');
    const t0 = Date.now();
    await b.n.stop();
    expect(b.events.at(-1)?.type).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(5000);
    cutLink(false);
    await a.n.stop();
    await stopNodes(); // already stopped: forgets them
    await new Promise((r) => setTimeout(r, 500));
    const after = heldResources();
    expect(leakedSince(before, after)).toBe(0);
    recordFault('node stopped during an accept in flight (link cut under it)', {
      leaked: leakedSince(before, after),
    });
  });

  it('a record listener that throws refuses the record: not acknowledged, sent again, delivered; event listeners that throw change nothing', async () => {
    const p = (port += 2);
    const { a, b, sa, sb } = await pair(p);
    const seen: string[] = [];
    let threw = false;
    // The daemon's handler, on every session with node 1 (as a daemon attaches it on 'established').
    const handler = (_s: bigint, pl: Buffer) => {
      seen.push(pl.toString());
      if (!threw) {
        threw = true;
        throw new Error('the daemon could not take it');
      }
    };
    sb.mirror.on('record', handler);
    b.n.on('established', () => b.n.session(1)!.mirror.on('record', handler));
    // Listeners of the node's events that throw: reported, and the CCM goes on.
    b.n.on('session-closed', () => {
      throw new Error('a broken session-closed listener');
    });
    a.n.on('event', () => {
      throw new Error('a broken event listener');
    });
    const seq = await sa.mirror.append(Buffer.from('refused once'));
    expect(seq).toBe(2n); // after the pair's warm-up record
    expect(seen).toEqual(['refused once', 'refused once']);
    expect(b.events.some((e) => e.type === 'session-closed' && /record listener threw/.test(e.reason))).toBe(
      true,
    );
    expect(b.events.some((e) => e.type === 'listener-error' && e.event === 'session-closed')).toBe(true);
    await until(() => !!a.n.session(2) && !!b.n.session(1), 'the session back');
    await a.n.session(2)!.mirror.append(Buffer.from('next'));
    expect(seen).toEqual(['refused once', 'refused once', 'next']);
    expect(sa.closed).toBe(true);
    // Node 2 said it was closing the session: neither side took the other for down.
    const ends = (events: CcmEvent[]) =>
      events
        .filter((e) => e.type === 'session-closed' || e.type === 'partner-down')
        .map((e) => `${e.type}: ${(e as { reason: string }).reason}`);
    expect(ends(a.events)[0], `node 1 saw ${JSON.stringify(ends(a.events))}`).toMatch(
      /^session-closed: partner closed the session/,
    );
    expect(
      count(a.events, 'partner-down') + count(b.events, 'partner-down'),
      `node 1 saw ${JSON.stringify(ends(a.events))}, node 2 ${JSON.stringify(ends(b.events))}`,
    ).toBe(0);
  });
});
