// What log mirroring with one partner remembers from one session to the next, so that a record is
// delivered exactly once even when a session fails with records in flight (a link flap, a partner
// that reconnects). The sender keeps its unacknowledged records and sends them again, under their
// first sequence numbers, on the next session with the same boot of the partner; the receiver knows
// how far it got in the sender's stream and acknowledges a record it already delivered without
// delivering it twice. With nothing held, the sender starts a new stream at sequence 1.
import { randomInt } from 'node:crypto';
import { ProtocolError } from './wire/errors';
import type { LogRecord } from './wire/log-record';

/**
 * Why an append was rejected: ERR_CCM_SESSION_CLOSED (the session closed, this node stops, or the partner
 * left), ERR_CCM_RECORD_TOO_LARGE, ERR_CCM_QUEUE_FULL (4096 appends already waiting),
 * ERR_CCM_PARTNER_REBOOTED (the next session was with a new boot of the partner), ERR_CCM_PARTNER_DOWN
 * (no new session within mirrorHoldMs).
 */
export type MirrorErrorCode = 'ERR_CCM_SESSION_CLOSED' | 'ERR_CCM_RECORD_TOO_LARGE' | 'ERR_CCM_QUEUE_FULL' | 'ERR_CCM_PARTNER_REBOOTED' | 'ERR_CCM_PARTNER_DOWN';

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
  /** The caller's payload (not copied). */
  payload: Uint8Array;
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

/** Log mirroring state kept for one partner across its sessions: numbering, and appends held after a failed session. */
export class MirrorStream {
  /** The partner boot both directions refer to (its generation), once a session was made. */
  private peer: bigint | null = null;
  /** Sending: our stream's id and its next sequence number. */
  txStream = 0;
  /** The sequence number the next new record gets. */
  nextSeq = 1n;
  private held: PendingRecord[] = [];
  private holdTimer: NodeJS.Timeout | null = null;
  /** Receiving: the partner's stream and the next sequence number due in it. */
  private rxStream = 0;
  private expected = 1n;

  constructor(private readonly holdMs: number) {}

  /** Records waiting for the next session. */
  get heldCount(): number {
    return this.held.length;
  }

  /**
   * A session with the partner's boot `generation` begins. Returns the records to send first: those
   * held from a failed session with the same boot, still numbered. Held records meet a new boot only
   * to be rejected (that boot never saw them).
   */
  resume(generation: bigint): PendingRecord[] {
    if (this.peer !== null && this.peer !== generation && this.held.length > 0)
      this.giveUp('ERR_CCM_PARTNER_REBOOTED', `partner rebooted (generation ${this.peer} → ${generation}) before acknowledging`);
    this.clearTimer();
    if (this.peer !== generation) {
      this.peer = generation;
      this.rxStream = 0;
      this.expected = 1n;
    }
    const held = this.held;
    this.held = [];
    if (held.length === 0) {
      this.txStream = newStreamId(this.txStream);
      this.nextSeq = 1n;
    }
    return held;
  }

  /** A session failed with these appends unacknowledged: keep them for the next session, for at most holdMs. */
  hold(records: PendingRecord[], reason: string): void {
    this.held.push(...records);
    if (this.held.length === 0 || this.holdTimer) return;
    const message = `no new session with the partner within ${this.holdMs} ms after: ${reason}`;
    if (this.holdMs === 0) return this.giveUp('ERR_CCM_PARTNER_DOWN', message);
    this.holdTimer = setTimeout(() => this.giveUp('ERR_CCM_PARTNER_DOWN', message), this.holdMs);
    this.holdTimer.unref();
  }

  /** Rejects every held append; the next session starts a new stream. */
  giveUp(code: MirrorErrorCode, message: string): void {
    this.clearTimer();
    const held = this.held;
    this.held = [];
    for (const p of held) p.reject(new MirrorError(code, message, p.sent));
  }

  private clearTimer(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
  }

  /** Decides on a valid record from the partner: deliver it, or only acknowledge it again. */
  accept(r: LogRecord): 'deliver' | 'duplicate' {
    if (r.stream !== this.rxStream) {
      if (r.sequence !== 1n) throw new ProtocolError('ERR_CCM_FIELD', 'log', `a new stream starts at sequence ${r.sequence}, not 1`);
      this.rxStream = r.stream;
      this.expected = 1n;
    }
    if (r.sequence < this.expected) return 'duplicate';
    if (r.sequence > this.expected) throw new ProtocolError('ERR_CCM_FIELD', 'log', `sequence ${r.sequence}, expected ${this.expected}`);
    this.expected++;
    return 'deliver';
  }

  /** Takes back the delivery of `r`, the last record accepted: it is due again (its application refused it). */
  unaccept(r: LogRecord): void {
    if (r.stream === this.rxStream && r.sequence === this.expected - 1n) this.expected--;
  }

  /** The last sequence number delivered from the partner's stream: what an ack carries. */
  get delivered(): bigint {
    return this.expected - 1n;
  }
}
