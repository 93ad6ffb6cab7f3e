// What log mirroring with one partner remembers from one session to the next, so that a record is
// delivered exactly once even when a session fails with records in flight (a link flap, a partner
// that reconnects). The sender keeps its unacknowledged records and sends them again, under their
// first sequence numbers, on the next session with the same boot of the partner; the receiver knows
// how far it got in the sender's stream and acknowledges a record it already delivered without
// delivering it twice. With nothing held, the sender starts a new stream at sequence 1.
//
// The sender's place in the partner's ring outlives a session too: records `placed` there and not yet
// released are what a replay of the ring finds after this node dies, so a later session of the same
// partner boot goes on writing after them (and sends again, at the same places, what was not yet safe).
// It outlives a reboot of the partner too, when a replay still needs records in it (placed or persisted,
// not checkpointed) and the partner's ring has the same size: the partner's memory (NVRAM, or a fresh
// slot) may have lost or damaged those records, so the sender writes every record in the ring again,
// byte for byte as before and without a doorbell, then a tail word and a fence. A record safe before the
// reboot stays in the replay; none is delivered twice (they ring no doorbell, and the first record for
// delivery to the new boot names no prior).
import { randomInt } from 'node:crypto';
import { copyOut } from './wire/copy-out';
import { ProtocolError } from './wire/errors';
import type { Durability } from './wire/layout';
import type { LogRecord } from './wire/log-record';

/**
 * Why an append was rejected: ERR_CCM_SESSION_CLOSED (the session closed, this node stops, or the partner
 * left), ERR_CCM_RECORD_TOO_LARGE, ERR_CCM_QUEUE_FULL (4096 appends already waiting),
 * ERR_CCM_PARTNER_REBOOTED (the next session was with a new boot of the partner), ERR_CCM_PARTNER_DOWN
 * (no new session within mirrorHoldMs), ERR_CCM_NOT_PERSISTENT (a `persisted` append to a partner whose
 * log regions are not persistent memory).
 */
export type MirrorErrorCode =
  | 'ERR_CCM_SESSION_CLOSED'
  | 'ERR_CCM_RECORD_TOO_LARGE'
  | 'ERR_CCM_QUEUE_FULL'
  | 'ERR_CCM_PARTNER_REBOOTED'
  | 'ERR_CCM_PARTNER_DOWN'
  | 'ERR_CCM_NOT_PERSISTENT';

/** The rejection of a `LogMirror.append()`. */
export class MirrorError extends Error {
  constructor(
    /** Why the append was rejected. */
    readonly code: MirrorErrorCode,
    message: string,
    /** The record had been sent when it was given up: the partner may hold it (only its ack is missing). */
    readonly maybeDelivered = false,
  ) {
    super(message);
    this.name = 'MirrorError';
  }
}

/** One append, from the call until its ack (or its rejection). */
export interface PendingRecord {
  /** 0 until the record is numbered, when it is first sent. */
  sequence: bigint;
  /** The caller's payload; a copy once the append settles (the caller may reuse its buffer, and the record may be written again). */
  payload: Uint8Array;
  /** How far the append goes before it resolves. */
  durability: Durability;
  /** What the record was last written with besides its fields: a rewrite after the partner's reboot gives the same bytes. */
  written?: { epoch: bigint; acknowledged: bigint };
  /** The stream's last record for delivery before this one (set when it is numbered). */
  prior?: bigint;
  /** Resolved: acknowledged by the partner (delivered) or fenced into its memory (placed, persisted). */
  settled?: boolean;
  /** Rejected to its caller while still in the ring: written again, never resolved. */
  abandoned?: boolean;
  /** Bytes the record takes in the ring (header and payload padded to 8). */
  size: number;
  /** Where in the partner's ring it was placed (bytes). */
  offset: number;
  /** Ring bytes skipped before this record when it wrapped to the start. */
  skipped: number;
  /** It was written to the partner at least once. */
  sent: boolean;
  /** When append() was called (performance.now()): the acknowledgement latency counts from here. */
  at: number;
  /** Settles the append with its sequence number. */
  resolve: (seq: bigint) => void;
  /** Rejects the append. */
  reject: (e: Error) => void;
}

function newStreamId(previous: number): number {
  for (;;) {
    const id = randomInt(1, 0x1_0000_0000);
    if (id !== previous) return id;
  }
}

/** Where the sender is in the partner's ring: records written there and not yet released, in ring order. */
export interface RingState {
  /** The ring offset the next record goes to (or 0, when it does not fit before the end). */
  head: number;
  /** Bytes from the published tail to the head, skipped ends included. */
  used: number;
  /** Records in the ring after the published tail, in ring (and sequence) order. */
  live: PendingRecord[];
  /** The tail word as last published (placed): released through `released`, the next record at `offset`. */
  published: { released: bigint; offset: number; acknowledged: bigint } | null;
  /** Bytes of the partner's ring. */
  bytes: number;
  /**
   * A new boot of the partner may lack the records in `live` up to this sequence (0n: none): write them
   * all again as they were, then a tail word and a fence.
   */
  rewrite: bigint;
}

function emptyRing(bytes: number): RingState {
  return { head: 0, used: 0, live: [], published: null, bytes, rewrite: 0n };
}

/** Log mirroring state kept for one partner across its sessions: numbering, and appends held after a failed session. */
export class MirrorStream {
  /** The partner boot both directions refer to (its generation), once a session was made. */
  private peer: bigint | null = null;
  /** Sending: our stream's id and its next sequence number. */
  txStream = 0;
  /** The sequence number the next new record gets. */
  nextSeq = 1n;
  /** The last record numbered for delivery: the next one's prior. */
  lastForDelivery = 0n;
  /** Records up to this sequence are on this node's stable storage (checkpoint()): a replay needs them no longer. */
  checkpointed = 0n;
  /** The sender's place in the partner's ring. */
  ring: RingState = emptyRing(0);
  private held: PendingRecord[] = [];
  private holdTimer: NodeJS.Timeout | null = null;
  /** Receiving: the partner's stream and the next sequence number due in it. */
  private rxStream = 0;
  private expected = 1n;
  /** The first record of the partner's stream delivered on this boot of this node (the stream may be older). */
  private rxFirst = 1n;

  constructor(private readonly holdMs: number) {}

  /** Records waiting for the next session. */
  get heldCount(): number {
    return this.held.length;
  }

  /**
   * A session with the partner's boot `generation`, whose ring takes `ringBytes`, begins. Returns the
   * records to send first: those held from a failed session with the same boot, still numbered. Held
   * records meet a new boot only to be rejected (that boot never saw them); records a replay still
   * needs stay in the ring for a new boot with a ring of the same size (written again), and the stream
   * goes on.
   */
  resume(generation: bigint, ringBytes: number): PendingRecord[] {
    const rebooted = this.peer !== null && this.peer !== generation;
    if (rebooted)
      this.giveUp(
        'ERR_CCM_PARTNER_REBOOTED',
        `partner rebooted (generation ${this.peer} → ${generation}) before acknowledging`,
      );
    this.clearTimer();
    if (this.peer !== generation) {
      this.peer = generation;
      this.rxStream = 0;
      this.expected = 1n;
      this.rxFirst = 1n;
    }
    const held = this.held;
    this.held = [];
    const ring = this.ring;
    // What a replay of the partner's memory still needs: a one-sided record not yet checkpointed.
    const needed = ring.live.some((p) => p.durability !== 'delivered');
    if (rebooted && needed && ring.bytes === ringBytes) {
      // Given up above: nothing ahead of them waits for an ack from the old boot.
      for (const p of ring.live) if (p.durability === 'delivered') p.settled = true;
      ring.rewrite = this.nextSeq - 1n;
      this.lastForDelivery = 0n;
    } else if (rebooted || (held.length === 0 && ring.live.length === 0)) {
      // A stream with nothing left in the ring or held starts over, and so does one whose partner's ring changed.
      this.txStream = newStreamId(this.txStream);
      this.nextSeq = 1n;
      this.lastForDelivery = 0n;
      this.checkpointed = 0n;
      this.ring = emptyRing(ringBytes);
    }
    return held;
  }

  /** A session failed with these appends unacknowledged: keep them for the next session, for at most holdMs. */
  hold(records: PendingRecord[], reason: string): void {
    this.held.push(...records);
    const unsafe = this.ring.live.some((p) => !p.settled && !p.abandoned);
    if ((this.held.length === 0 && !unsafe) || this.holdTimer) return;
    const message = `no new session with the partner within ${this.holdMs} ms after: ${reason}`;
    if (this.holdMs === 0) return this.giveUp('ERR_CCM_PARTNER_DOWN', message);
    this.holdTimer = setTimeout(() => this.giveUp('ERR_CCM_PARTNER_DOWN', message), this.holdMs);
    this.holdTimer.unref();
  }

  /**
   * Rejects every held append, and every one in the ring not yet safe: those stay in the ring (a replay
   * may find them) and are written again by the next session of the same boot, never resolved.
   */
  giveUp(code: MirrorErrorCode, message: string): void {
    this.clearTimer();
    const held = this.held;
    this.held = [];
    for (const p of held) p.reject(new MirrorError(code, message, p.sent));
    this.abandon(code, message);
  }

  /**
   * Rejects the appends in the ring not yet safe. They stay there, under their numbers, so that the
   * chain a replay follows has no hole: each is written again (from a copy of its payload, which its
   * caller may now reuse) by the next session of the same boot.
   */
  abandon(code: MirrorErrorCode, message: string): void {
    for (const p of this.ring.live)
      if (!p.settled && !p.abandoned) {
        p.abandoned = true;
        p.payload = copyOut(p.payload);
        p.reject(new MirrorError(code, message, true));
      }
  }

  private clearTimer(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
  }

  /**
   * Decides on a valid record from the partner: deliver it, or only acknowledge it again. Records sent
   * for delivery chain by their prior (the one before them sent for delivery), so one lost in between
   * is a fault even when placed records, which are never delivered, lie between them.
   */
  accept(r: Pick<LogRecord, 'stream' | 'sequence' | 'prior'>): 'deliver' | 'duplicate' {
    if (r.stream !== this.rxStream) {
      if (r.prior !== 0n)
        throw new ProtocolError(
          'ERR_CCM_FIELD',
          'log',
          `a new stream starts after record ${r.prior}, not at its first`,
        );
      this.rxStream = r.stream;
      this.expected = 1n;
      this.rxFirst = r.sequence;
    }
    if (r.sequence < this.expected) return 'duplicate';
    if (r.prior !== this.expected - 1n)
      throw new ProtocolError(
        'ERR_CCM_FIELD',
        'log',
        `sequence ${r.sequence} follows ${r.prior}, but ${this.expected - 1n} was delivered last`,
      );
    this.expected = r.sequence + 1n;
    return 'deliver';
  }

  /** Takes back the delivery of `r`, the last record accepted: it is due again (its application refused it). */
  unaccept(r: Pick<LogRecord, 'stream' | 'sequence' | 'prior'>): void {
    if (r.stream === this.rxStream && r.sequence === this.expected - 1n) this.expected = r.prior + 1n;
  }

  /**
   * The records of the partner's stream `stream` delivered to this node's application: `from` through
   * `through` (through 0n: none, or another stream). Records before `from` went to an earlier boot of this node.
   */
  deliveredOf(stream: number): { from: bigint; through: bigint } {
    return stream === this.rxStream
      ? { from: this.rxFirst, through: this.expected - 1n }
      : { from: 1n, through: 0n };
  }

  /** The last sequence number delivered from the partner's stream: what an ack carries. */
  get delivered(): bigint {
    return this.expected - 1n;
  }
}
