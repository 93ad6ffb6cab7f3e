// The numbering rules that make a mirrored record arrive exactly once across sessions (mirror-stream.ts).
// Proven end to end on rxe by the link-flap test in test/integration/ccm.test.ts.
import { describe, expect, it, vi } from 'vitest';
import { MirrorError, MirrorStream, type PendingRecord } from '../../lib/ccm/mirror-stream';

function pending(sequence: bigint, sent: boolean): PendingRecord & { outcome: Promise<unknown> } {
  let resolve!: (s: bigint) => void;
  let reject!: (e: Error) => void;
  const outcome = new Promise<bigint>((res, rej) => {
    resolve = res;
    reject = rej;
  }).then(
    (v) => ({ ok: v }),
    (e) => ({ error: e }),
  );
  return {
    sequence,
    payload: new Uint8Array(1),
    durability: 'delivered',
    size: 72,
    offset: 0,
    skipped: 0,
    sent,
    at: 0,
    resolve,
    reject,
    outcome,
  };
}

/** Bytes of the partner's ring. */
const RING = 65536;

/** A record sent for delivery: `prior` is the one before it sent for delivery (0 for a stream's first). */
const rec = (stream: number, sequence: bigint, prior = sequence - 1n) => ({ stream, sequence, prior });

describe('MirrorStream', () => {
  it('delivers a stream in order, acknowledges a record already delivered again, and refuses a gap', () => {
    const s = new MirrorStream(1000);
    s.resume(5n, RING);
    expect(s.accept(rec(9, 1n))).toBe('deliver');
    expect(s.accept(rec(9, 2n))).toBe('deliver');
    expect(s.delivered).toBe(2n);
    expect(s.accept(rec(9, 1n))).toBe('duplicate');
    expect(s.accept(rec(9, 2n))).toBe('duplicate');
    expect(s.delivered).toBe(2n);
    expect(() => s.accept(rec(9, 4n))).toThrow(/sequence 4 follows 3, but 2 was delivered last/);
    // A new stream of the same partner starts with a record that follows none.
    expect(() => s.accept(rec(10, 2n))).toThrow(/new stream starts after record 1/);
    expect(s.accept(rec(10, 1n))).toBe('deliver');
    expect(s.delivered).toBe(1n);
  });

  it('chains delivered records over placed ones between them (never delivered), and refuses one lost among them', () => {
    const s = new MirrorStream(1000);
    s.resume(5n, RING);
    expect(s.accept(rec(9, 1n))).toBe('deliver');
    // 2 to 4 were placed (one-sided): 5 follows 1 for delivery.
    expect(s.accept(rec(9, 5n, 1n))).toBe('deliver');
    expect(s.delivered).toBe(5n);
    expect(s.accept(rec(9, 5n, 1n))).toBe('duplicate');
    // 7 names 6 before it, which never arrived.
    expect(() => s.accept(rec(9, 7n, 6n))).toThrow(/sequence 7 follows 6, but 5 was delivered last/);
    s.unaccept(rec(9, 5n, 1n));
    expect(s.delivered).toBe(1n);
    expect(s.accept(rec(9, 5n, 1n))).toBe('deliver');
  });

  it('forgets the partner stream when the partner reboots, and keeps it across sessions with the same boot', () => {
    const s = new MirrorStream(1000);
    s.resume(5n, RING);
    s.accept(rec(9, 1n));
    s.resume(5n, RING);
    expect(s.accept(rec(9, 1n))).toBe('duplicate');
    s.resume(6n, RING);
    expect(() => s.accept(rec(9, 2n))).toThrow();
    expect(s.accept(rec(9, 1n))).toBe('deliver');
  });

  it('keeps the stream while records it placed are in the partner ring, also across a reboot of the partner', async () => {
    const s = new MirrorStream(1000);
    s.resume(5n, RING);
    const stream = s.txStream;
    const placed = { ...pending(1n, true), durability: 'placed' as const, settled: true };
    const delivered = { ...pending(2n, true), prior: 0n };
    s.ring.live.push(placed, delivered);
    s.nextSeq = 3n;
    s.lastForDelivery = 2n;
    expect(s.resume(5n, RING)).toEqual([]);
    expect(s.txStream).toBe(stream);
    expect(s.ring.rewrite).toBe(0n);
    // A new boot with a ring of the same size: the same stream, every record to be written again.
    expect(s.resume(6n, RING)).toEqual([]);
    expect(s.txStream).toBe(stream);
    expect(s.nextSeq).toBe(3n);
    expect(s.ring.live).toEqual([placed, delivered]);
    expect(s.ring.rewrite).toBe(2n);
    // The new boot delivered none of them: the next record for delivery follows none.
    expect(s.lastForDelivery).toBe(0n);
    // The unacknowledged `delivered` record is given up (the partner may hold it), and pins the ring no more.
    expect(await delivered.outcome).toMatchObject({
      error: { code: 'ERR_CCM_PARTNER_REBOOTED', maybeDelivered: true },
    });
    expect(delivered.settled).toBe(true);
    // With only `delivered` records left in the ring (none a replay needs), a new boot starts a new stream.
    const other = new MirrorStream(1000);
    other.resume(5n, RING);
    const first = other.txStream;
    other.ring.live.push({ ...pending(1n, true), prior: 0n });
    other.nextSeq = 2n;
    other.resume(6n, RING);
    expect(other.txStream).not.toBe(first);
    expect(other.nextSeq).toBe(1n);
    // A ring of another size: a new stream.
    s.resume(7n, RING / 2);
    expect(s.txStream).not.toBe(stream);
    expect(s.ring.live).toEqual([]);
    expect(s.ring.bytes).toBe(RING / 2);
    expect(s.nextSeq).toBe(1n);
  });

  it('hands held records to the next session of the same boot, numbered as before, and keeps the stream', () => {
    const s = new MirrorStream(1000);
    s.resume(5n, RING);
    const stream = s.txStream;
    s.nextSeq = 4n;
    const held = [pending(3n, true), pending(0n, false)];
    s.hold(held, 'link down');
    expect(s.heldCount).toBe(2);
    expect(s.resume(5n, RING)).toEqual(held);
    expect(s.txStream).toBe(stream);
    expect(s.nextSeq).toBe(4n);
  });

  it('starts a new stream at 1 when nothing is held', () => {
    const s = new MirrorStream(1000);
    s.resume(5n, RING);
    const first = s.txStream;
    s.nextSeq = 8n;
    expect(s.resume(5n, RING)).toEqual([]);
    expect(s.txStream).not.toBe(first);
    expect(s.txStream).toBeGreaterThan(0);
    expect(s.nextSeq).toBe(1n);
  });

  it('rejects held records when the partner comes back with a new boot, saying whether each was sent', async () => {
    const s = new MirrorStream(1000);
    s.resume(5n, RING);
    const sent = pending(1n, true);
    const unsent = pending(0n, false);
    s.hold([sent, unsent], 'link down');
    expect(s.resume(6n, RING)).toEqual([]);
    expect(s.nextSeq).toBe(1n);
    const [a, b] = (await Promise.all([sent.outcome, unsent.outcome])) as { error: MirrorError }[];
    expect(a.error).toMatchObject({ code: 'ERR_CCM_PARTNER_REBOOTED', maybeDelivered: true });
    expect(b.error).toMatchObject({ code: 'ERR_CCM_PARTNER_REBOOTED', maybeDelivered: false });
  });

  it('gives held records up after the hold time, and at once with a hold of 0', async () => {
    vi.useFakeTimers();
    try {
      const s = new MirrorStream(1000);
      s.resume(5n, RING);
      const p = pending(1n, true);
      s.hold([p], 'no heartbeat');
      vi.advanceTimersByTime(999);
      expect(s.heldCount).toBe(1);
      vi.advanceTimersByTime(2);
      expect(s.heldCount).toBe(0);
      expect(await p.outcome).toMatchObject({
        error: { code: 'ERR_CCM_PARTNER_DOWN', message: expect.stringContaining('no heartbeat') },
      });
      const now = new MirrorStream(0);
      now.resume(5n, RING);
      const q = pending(0n, false);
      now.hold([q], 'link down');
      expect(await q.outcome).toMatchObject({
        error: { code: 'ERR_CCM_PARTNER_DOWN', maybeDelivered: false },
      });
      // Given up: the next session starts a new stream.
      const before = s.txStream;
      expect(s.resume(5n, RING)).toEqual([]);
      expect(s.txStream).not.toBe(before);
    } finally {
      vi.useRealTimers();
    }
  });
});
