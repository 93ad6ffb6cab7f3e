// Log mirroring on a session: records are RDMA WRITTEN into the partner's ring with an immediate that
// rings its doorbell; the partner validates each record, delivers it in order and writes back an ack,
// again with a doorbell. append() resolves once the partner holds the record. The ring bounds what is
// in flight; appends beyond it wait (back-pressure), and the queue of waiting appends is bounded too.
// Numbering and what outlives a failed session are the partner's MirrorStream's (mirror-stream.ts).
import { EventEmitter } from 'node:events';
import type { CcmObserver } from './observer';
import type { Link } from './transport';
import { MirrorError, MirrorStream, PendingRecord } from './mirror-stream';
import { decodeCounter, encodeCounter } from './wire/mailbox';
import { decodeRecord, encodeRecord, recordSize } from './wire/log-record';
import { ProtocolError } from './wire/errors';
import { DOORBELL, doorbell, doorbellKind, SLOT } from './wire/layout';

export { MirrorError } from './mirror-stream';

/** Where our records go: our slot in the partner's mailbox. */
export interface MirrorTarget {
  /** Address/rkey of our slot in the partner's mailbox (control part first, ring after it). */
  slotAddr: bigint;
  /** The rkey of that slot (valid on this partner's connections only). */
  rkey: number;
  /** Bytes of the partner's log ring for us (the slot less its 512 bytes of control words). */
  ringBytes: number;
}

export interface LogMirror {
  /**
   * Each record from the partner, in order and exactly once, before it is acknowledged. A listener that
   * throws refuses the record: it is not acknowledged, the session closes and the partner sends it
   * again on the next session. `payload` is a copy out of the ring, safe to keep.
   */
  on(event: 'record', listener: (sequence: bigint, payload: Buffer) => void): this;
  /** The mirror emits no `'error'` itself: a failure ends the session, and its appends reject or are held. */
  on(event: 'error', listener: (e: Error) => void): this;
}

/** How a log mirror reports to its session. */
export interface MirrorHooks {
  /** A write over `link`, the link the mirror used then, failed: the session moves to another link if it has one (useLink). */
  linkFault(link: Link, e: Error): void;
  /** The partner broke the protocol (a bad record, an impossible ack): the session fails. */
  fault(e: Error): void;
  /** This node's application refused a record (a listener threw): the session closes, the record is sent again. */
  refuse(reason: string): void;
  /** A word of another session in the slot: refused and reported, the session goes on. */
  refused(block: string, code: string, reason: string): void;
}

/**
 * The log mirror of one session (`session.mirror`): `append()` RDMA WRITEs a record into the partner's
 * ring and resolves once the partner's application has it; records from the partner arrive as
 * `'record'` events. Appends beyond the ring's room wait (back-pressure, at most 4096 waiting).
 */
export class LogMirror extends EventEmitter {
  private head = 0;
  private used = 0;
  private readonly inflight: PendingRecord[] = [];
  private readonly waiting: PendingRecord[];
  private closedReason: string | null = null;
  /** The application refused a record: nothing more is delivered or acknowledged on this session. */
  private refusing = false;
  private live = false;
  /** Records delivered to this node by the partner on this session. */
  received = 0n;
  /** The sequence number of the last record the partner acknowledged on this session (0: none yet). */
  acknowledged = 0n;
  /** Records the partner sent again after a failed session that this node already held. */
  duplicates = 0n;
  /** The last ack word this node wrote on this session (sent again after a move to another link). */
  private ackSent: Uint8Array | null = null;
  /** Doorbells seen from the partner: proof of life as good as a heartbeat. */
  activity = 0;

  /** @internal Made by the session (`session.mirror`). */
  constructor(
    private link: Link,
    private readonly target: MirrorTarget,
    /** Our mailbox bytes of the partner's slot: control part, then the ring the partner writes. */
    private readonly localSlot: Uint8Array,
    /** The session's epoch: our records and acks carry it, and the partner's must. */
    private readonly epoch: bigint,
    /** The partner's stream state; `resume(partnerGeneration)` was called for this session. */
    private readonly stream: MirrorStream,
    /** Appends held from the previous session of the same partner boot, sent first. */
    held: PendingRecord[],
    private readonly hooks: MirrorHooks,
    /** The partner's node id and who measures appends and acks (metrics). */
    private readonly partner: number,
    private readonly observer: CcmObserver,
    private readonly maxWaiting = 4096,
    /** Records in flight at once: stays below the receives the partner keeps posted for doorbells. */
    private readonly maxInflight = 64,
  ) {
    super();
    this.waiting = held;
  }

  /**
   * The partner's side of the session is up (its heartbeat moved, or it sent a record or an ack): only
   * now can its session take our records' doorbells, which would otherwise reach only its handshake.
   * Appends, and what was held from the previous session, wait for this.
   * @internal
   */
  partnerLive(): void {
    if (this.live) return;
    this.live = true;
    this.pump();
  }

  /**
   * Appends one record; resolves with its sequence number once the partner has it. Rejects with a
   * {@link MirrorError}: ERR_CCM_SESSION_CLOSED, ERR_CCM_RECORD_TOO_LARGE (over half the partner's ring or
   * the link's staging), ERR_CCM_QUEUE_FULL, or, after a failed session, ERR_CCM_PARTNER_REBOOTED or
   * ERR_CCM_PARTNER_DOWN; a TypeError if `payload` is not a Uint8Array. `payload` is not copied: leave it
   * unchanged until the promise settles (it is sent again after a failed session).
   */
  append(payload: Uint8Array): Promise<bigint> {
    if (this.closedReason) return Promise.reject(new MirrorError('ERR_CCM_SESSION_CLOSED', `session closed: ${this.closedReason}`));
    if (!(payload instanceof Uint8Array)) return Promise.reject(new TypeError('payload must be a Uint8Array'));
    const size = recordSize(payload.byteLength);
    if (size > this.target.ringBytes / 2)
      return Promise.reject(new MirrorError('ERR_CCM_RECORD_TOO_LARGE', `record of ${payload.byteLength} bytes exceeds half the partner's ring (${this.target.ringBytes} bytes)`));
    // Refused here, never later: a record the link could not stage would fail the session each time it is sent.
    if (size > this.link.maxMessage)
      return Promise.reject(new MirrorError('ERR_CCM_RECORD_TOO_LARGE', `record of ${payload.byteLength} bytes exceeds what the link stages (${this.link.maxMessage} bytes)`));
    if (this.waiting.length >= this.maxWaiting) return Promise.reject(new MirrorError('ERR_CCM_QUEUE_FULL', `${this.maxWaiting} appends already waiting for ring space`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ sequence: 0n, payload, size, offset: 0, skipped: 0, sent: false, at: performance.now(), resolve, reject });
      this.observer.appended(this.partner, payload.byteLength);
      this.pump();
    });
  }

  /** Writes into our slot in the partner's memory over the current link; a failure is that link's. */
  private post(bytes: Uint8Array, at: number, imm: number): void {
    const link = this.link;
    link.write(bytes, this.target.slotAddr + BigInt(at), this.target.rkey, imm).catch((e: Error) => {
      // A write of a link the mirror already left: what it carried was sent again over the new one.
      if (link === this.link && !this.closedReason) this.hooks.linkFault(link, e);
    });
  }

  /**
   * @internal The session moved to another link (the one in use failed): from now on every write goes
   * over `link` (with its rkey for our slot), and what was in flight is sent again, in order and at the
   * same places in the ring, under the same sequence numbers; the partner acknowledges again what it
   * already had (the stream's dedup). The last ack is written again too, in case the failed link lost it.
   */
  useLink(link: Link, rkey: number): void {
    this.link = link;
    this.target.rkey = rkey;
    if (this.closedReason) return;
    for (const p of this.inflight) this.post(encodeRecord(this.epoch, this.stream.txStream, p.sequence, p.payload), SLOT.size + p.offset, doorbell(DOORBELL.record, p.offset / 8));
    if (this.ackSent) this.post(this.ackSent, SLOT.ack, doorbell(DOORBELL.ack, Number(decodeCounter(this.ackSent).value & BigInt(DOORBELL.valueMask))));
    this.pump();
  }

  /** Records sent but not yet acknowledged, plus those waiting for ring space. */
  get pending(): number {
    return this.inflight.length + this.waiting.length;
  }

  private pump(): void {
    if (!this.live) return;
    while (this.waiting.length > 0 && !this.closedReason) {
      if (this.inflight.length >= this.maxInflight) return; // wait for acks
      const p = this.waiting[0];
      const skipped = this.head + p.size > this.target.ringBytes ? this.target.ringBytes - this.head : 0;
      if (this.used + skipped + p.size > this.target.ringBytes) return; // wait for acks
      this.waiting.shift();
      p.skipped = skipped;
      p.offset = skipped ? 0 : this.head;
      if (p.sequence === 0n) p.sequence = this.stream.nextSeq++;
      p.sent = true;
      this.head = p.offset + p.size;
      this.used += skipped + p.size;
      this.inflight.push(p);
      const bytes = encodeRecord(this.epoch, this.stream.txStream, p.sequence, p.payload);
      const imm = doorbell(DOORBELL.record, p.offset / 8);
      this.post(bytes, SLOT.size + p.offset, imm);
    }
  }

  /** @internal A doorbell from the partner: a new record in our ring, or an ack of ours. */
  doorbell(imm: number): void {
    this.activity++;
    const kind = doorbellKind(imm);
    if (kind === DOORBELL.record || kind === DOORBELL.ack) this.partnerLive();
    if (kind === DOORBELL.record) this.receive((imm & DOORBELL.valueMask) * 8);
    else if (kind === DOORBELL.ack) this.acked();
    // A handshake bell that arrives late (the echo of a re-sent hello) only shows the partner is alive.
    else if (kind === DOORBELL.hello || kind === DOORBELL.commit || kind === DOORBELL.echo) return;
    else this.hooks.fault(new ProtocolError('ERR_CCM_FIELD', 'log', `unknown doorbell kind ${kind}`));
  }

  private receive(offset: number): void {
    if (this.refusing || this.closedReason) return;
    const ring = this.localSlot.subarray(SLOT.size);
    if (offset >= ring.byteLength) {
      this.hooks.fault(new ProtocolError('ERR_CCM_LENGTH', 'log', `record offset ${offset} outside the ring`));
      return;
    }
    let record;
    let verdict;
    try {
      // decodeRecord validates a copy of the record taken out of the ring; only the copy is delivered.
      record = decodeRecord(ring.subarray(offset));
      if (record.epoch !== this.epoch) {
        this.hooks.refused('log', 'ERR_CCM_EPOCH', `record of epoch ${record.epoch.toString(16)}, not this session's`);
        return;
      }
      verdict = this.stream.accept(record);
    } catch (e) {
      this.hooks.fault(e as Error);
      return;
    }
    // A duplicate is one sent again after a failed session whose ack was lost: acknowledged, not delivered.
    // A new record reaches every listener before its ack is posted: an ack means the application has it.
    if (verdict === 'deliver') {
      const payload = Buffer.from(record.payload.buffer, record.payload.byteOffset, record.payload.byteLength);
      for (const listener of this.rawListeners('record')) {
        try {
          (listener as (s: bigint, p: Buffer) => void).call(this, record.sequence, payload);
        } catch (e) {
          // The application did not take it: no ack, and the record is due again. The session closes and
          // the partner sends it again on the next one (every listener then sees it again).
          this.stream.unaccept(record);
          this.refusing = true;
          this.hooks.refuse(`record listener threw: ${(e as Error)?.message ?? String(e)}`);
          return;
        }
      }
      this.received++;
    } else this.duplicates++;
    const delivered = this.stream.delivered;
    const ack = encodeCounter({ value: delivered, epoch: this.epoch });
    const imm = doorbell(DOORBELL.ack, Number(delivered & BigInt(DOORBELL.valueMask)));
    this.ackSent = ack;
    this.post(ack, SLOT.ack, imm);
  }

  private acked(): void {
    const { value, epoch } = decodeCounter(this.localSlot.subarray(SLOT.ack, SLOT.ack + SLOT.ackSize));
    if (epoch !== this.epoch) {
      this.hooks.refused('ack', 'ERR_CCM_EPOCH', `ack word of epoch ${epoch.toString(16)}, not this session's`);
      return;
    }
    if (value >= this.stream.nextSeq) {
      this.hooks.fault(new ProtocolError('ERR_CCM_FIELD', 'log', `ack of ${value}, but only ${this.stream.nextSeq - 1n} records were sent`));
      return;
    }
    const now = performance.now();
    while (this.inflight.length > 0 && this.inflight[0].sequence <= value) {
      const p = this.inflight.shift()!;
      this.used -= p.skipped + p.size;
      this.acknowledged = p.sequence;
      this.observer.acknowledged(this.partner, now - p.at);
      p.resolve(p.sequence);
    }
    this.pump();
  }

  /**
   * Ends the mirror. With `hold` (the session failed), appends not yet acknowledged wait in the stream
   * for the next session with the same partner boot; otherwise they reject.
   * @internal
   */
  close(reason: string, hold: boolean): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    const open = [...this.inflight, ...this.waiting];
    this.inflight.length = 0;
    this.waiting.length = 0;
    if (hold) return this.stream.hold(open, reason);
    for (const p of open) p.reject(new MirrorError('ERR_CCM_SESSION_CLOSED', `session closed: ${reason}`, p.sent));
  }
}
