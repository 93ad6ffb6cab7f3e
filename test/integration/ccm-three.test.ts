// Three CCM nodes on rxe, each listing the other two: every pair gets exactly one session of its own,
// and records mirrored on each session arrive at that partner and no other. Nodes 1 and 3 share rxe0
// (10.99.0.1, ports P and P+1); node 2 is on rxe1.
import { afterEach, describe, expect, it } from 'vitest';
import type { CcmEvent } from '../../lib/ccm';
import { lab, stopNodes, testNode, until } from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
const P = 7700;
const where: Record<number, { address: string; port: number }> = {
  1: { address: addrA, port: P },
  2: { address: addrB, port: P },
  3: { address: addrA, port: P + 1 },
};
afterEach(stopNodes);

function node(id: 1 | 2 | 3) {
  const partners = [1, 2, 3].filter((x) => x !== id).map((x) => ({ nodeId: x, ...where[x] }));
  return {
    id,
    ...testNode({
      clusterId: 77n,
      nodeId: id,
      ...where[id],
      partners,
      heartbeatMs: 100,
      partnerDownMs: 2000,
      backoff: { minMs: 50, maxMs: 400, jitter: 0.2 },
    }),
  };
}

describe('CCM with three partners on rxe', () => {
  it('gives each pair its own session and mirrors each stream to the right partner', async () => {
    const all = [node(1), node(2), node(3)];
    await Promise.all(all.map((x) => x.n.start()));
    const sessionsUp = () =>
      all.every((x) => [1, 2, 3].filter((p) => p !== x.id).every((p) => x.n.session(p)));
    await until(sessionsUp, 'a session for every pair', 90_000);
    // Let the tie-breaks settle, then check that no pair ended up with two sessions.
    await new Promise((r) => setTimeout(r, 2000));
    for (const x of all) {
      const est = x.events.filter((e) => e.type === 'established') as Extract<
        CcmEvent,
        { type: 'established' }
      >[];
      expect(est.map((e) => e.partner).sort()).toEqual([1, 2, 3].filter((p) => p !== x.id));
      expect(x.events.filter((e) => e.type === 'session-closed')).toEqual([]);
    }

    const received: Record<string, string[]> = {};
    for (const x of all)
      for (const p of [1, 2, 3].filter((q) => q !== x.id))
        x.n
          .session(p)!
          .mirror.on('record', (_s: bigint, payload: Buffer) =>
            (received[`${p}->${x.id}`] ??= []).push(payload.toString()),
          );
    const sends: Promise<bigint>[] = [];
    for (const x of all)
      for (const p of [1, 2, 3].filter((q) => q !== x.id))
        for (let i = 0; i < 20; i++)
          sends.push(x.n.session(p)!.mirror.append(Buffer.from(`from ${x.id} to ${p} #${i}`)));
    await Promise.all(sends);
    for (const x of all)
      for (const p of [1, 2, 3].filter((q) => q !== x.id))
        expect(received[`${x.id}->${p}`]).toEqual(
          Array.from({ length: 20 }, (_, i) => `from ${x.id} to ${p} #${i}`),
        );
  });
});
