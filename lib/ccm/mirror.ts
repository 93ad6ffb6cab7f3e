// Log mirroring on a session: records are RDMA WRITTEN into the partner's ring. A `delivered` record
// rings the partner's doorbell; the partner validates it, delivers it in order and writes back an ack
// (one for every record delivered so far), again with a doorbell. A `placed` or `persisted` record is
// one-sided: a fence on the same link (a READ, or a FLUSH) proves it is in the partner's memory, and
// the partner's software takes no part. The writer publishes a tail word that says where the records
// a replay still needs begin (mirrored-log.ts reads it). The ring bounds what is in flight; appends
// beyond it wait (back-pressure), and the queue of waiting appends is bounded too. Numbering, the place
// in the ring and what outlives a failed session are the partner's MirrorStream's (mirror-stream.ts).
import { EventEmitter } from 'node:events';
import type { CcmObserver } from './observer';
import type { FlushPlacement, Link, Outgoing } from './transport';
import { MirrorError, MirrorStream, PendingRecord, type RingState } from './mirror-stream';
import { decodeCounter, encodeCounter } from './wire/mailbox';
import { copyOut } from './wire/copy-out';
import { decodeRecord, encodeRecord, recordSize } from './wire/log-record';
import { encodeLogTail } from './wire/log-tail';
import { ProtocolError } from './wire/errors';
import { DOORBELL, doorbell, doorbellKind, DURABILITY, SLOT, type Durability } from './wire/layout';
import { codeError } from '../errors';
import { awake } from '../stall';

/** Syncs a mirror keeps in flight on its link: a second goes out while the first's fence is on the wire. */
const MAX_SYNCS = 2;

/** Runs `f` once, on the next turn of the event loop, however often it is asked for in this one. */
function nextTurn(f: () => void): () => void {
  let due = false;
  return () => {
    if (due) return;
    due = true;
    setImmediate(() => {
      due = false;
      f();
    });
  };
}

export { MirrorError } from './mirror-stream';

/** Where our records go: our slot in the partner's mailbox. */
export interface MirrorTarget {
  /** Address/rkey of our slot in the partner's mailbox (control part first, ring after it). */
  slotAddr: bigint;
  /** The rkey of that slot (valid on this partner's connections only). */
  rkey: number;
  /** Bytes of the partner's log ring for us (the slot less its 512 bytes of control words). */
  ringBytes: number;
  /** The partner's status block: what a fence READs (the slot is write-only). */
  statusAddr: bigint;
  /** The rkey of the partner's status block over the current link. */
  statusRkey: number;
}

/** Fences a mirror completed, by kind. */
export interface FenceCounts {
  /** RDMA FLUSHes of our slot in the partner's memory. */
  flush: number;
  /** Of those, FLUSHes to persistence (a sync covering `persisted` records, where the partner's slots take it). */
  flushPersistent: number;
  /** 8-byte RDMA READs of the partner's status block. */
  read: number;
}

/** Options of one `append()`. */
export interface AppendOptions {
  /** How far the record goes before the append resolves; default the node's `durability` (`delivered`). */
  durability?: Durability;
}

/** What a session's mirror is told about its partner and its defaults. */
export interface MirrorOptions {
  /** The durability of an append that names none. */
  durability: Durability;
  /** The partner's log regions are persistent memory (its status block says so): `persisted` appends are allowed. */
  partnerPersistent: boolean;
  /** How far the partner's slots take RDMA FLUSH (its status block says so); null or absent: they do not, fences READ. */
  partnerFlush?: FlushPlacement | null;
}

/** The events of a LogMirror, with their listeners' arguments. */
export interface LogMirrorEvents {
  /**
   * Each record from the partner, in order and exactly once, before it is acknowledged. A listener that
   * throws refuses the record: it is not acknowledged, the session closes and the partner sends it
   * again on the next session. `payload` is a copy out of the ring, safe to keep; like a Buffer from
   * Node's pool it may share its ArrayBuffer with other copies (read it through its offset and length).
   */
  record: [sequence: bigint, payload: Buffer];
  /** The mirror emits no `'error'` itself: a failure ends the session, and its appends reject or are held. */
  error: [e: Error];
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
 * ring and resolves once it is as safe as asked (delivered, placed or persisted); records from the
 * partner arrive as `'record'` events. Appends beyond the ring's room wait (back-pressure, at most 4096
 * waiting).
 */
export class LogMirror extends EventEmitter<LogMirrorEvents> {
  private readonly waiting: PendingRecord[];
  private closedReason: string | null = null;
  /** The application refused a record: nothing more is delivered or acknowledged on this session. */
  private refusing = false;
  private live = false;
  /** `delivered` records in the ring not yet acknowledged: they stay below the partner's doorbell receives. */
  private unackedDelivered = 0;
  /** Syncs (tail word and fence) in flight on the current link, and whether another is due after them. */
  private syncs = 0;
  private syncAgain = false;
  /** What the last sync posted said, so that one saying nothing new is not posted again. */
  private lastSync: { ring: RingState; through: bigint; released: bigint; acknowledged: bigint } | null =
    null;
  /** Bumped when the mirror moves to another link: completions of the old one no longer steer it. */
  private token = 0;
  /** Records delivered to this node by the partner on this session. */
  received = 0n;
  /** The sequence number of the last of this node's records that became safe on this session (0: none yet). */
  acknowledged = 0n;
  /** Records the partner sent again after a failed session that this node already held. */
  duplicates = 0n;
  /** The last ack word this node wrote on this session (sent again after a move to another link). */
  private ackSent: Uint8Array | null = null;
  /** Doorbells seen from the partner: proof of life as good as a heartbeat. */
  activity = 0;
  /** Fences completed on this session, by kind. */
  readonly fences: FenceCounts = { flush: 0, flushPersistent: 0, read: 0 };
  /** Appends that became safe, resolved together in the next microtask. */
  private safe: PendingRecord[] = [];

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
    private readonly options: MirrorOptions = { durability: 'delivered', partnerPersistent: false },
    private readonly maxWaiting = 4096,
    /** `delivered` records in flight at once: stays below the receives the partner keeps posted for doorbells. */
    private readonly maxInflight = 64,
  ) {
    super();
    this.waiting = held;
  }

  /** This node's stream on the session: a replay of the partner's memory names it as `log.stream`. */
  get streamId(): number {
    return this.stream.txStream;
  }

  /**
   * The partner's side of the session is up (its heartbeat moved, or it sent a record or an ack): only
   * now can its session take our records' doorbells, which would otherwise reach only its handshake.
   * Appends, and what the previous session left unsafe, wait for this.
   * @internal
   */
  partnerLive(): void {
    if (this.live) return;
    this.live = true;
    const ring = this.stream.ring;
    this.unackedDelivered = ring.live.filter((p) => p.durability === 'delivered' && !p.settled).length;
    this.resend();
    this.pump();
  }

  /**
   * Appends one record; resolves with its sequence number once it is as safe as `options.durability`
   * asks: `delivered` once the partner's application has it, `placed` once it is in the partner's
   * memory, `persisted` once it is in the partner's persistent memory. A `placed` or `persisted` record
   * takes ring space until {@link checkpoint} releases it. Rejects with a {@link MirrorError}:
   * ERR_CCM_SESSION_CLOSED, ERR_CCM_RECORD_TOO_LARGE (over half the partner's ring or the link's
   * staging), ERR_CCM_QUEUE_FULL, ERR_CCM_NOT_PERSISTENT, or, after a failed session,
   * ERR_CCM_PARTNER_REBOOTED or ERR_CCM_PARTNER_DOWN; a TypeError if `payload` is not a Uint8Array or the
   * durability is unknown. `payload` is not copied: leave it unchanged until the promise settles (it is
   * sent again after a failed session).
   */
  append(payload: Uint8Array, options: AppendOptions = {}): Promise<bigint> {
    if (this.closedReason)
      return Promise.reject(
        new MirrorError('ERR_CCM_SESSION_CLOSED', `session closed: ${this.closedReason}`),
      );
    if (!(payload instanceof Uint8Array))
      return Promise.reject(new TypeError('payload must be a Uint8Array'));
    const durability = options?.durability ?? this.options.durability;
    if (!DURABILITY.includes(durability))
      return Promise.reject(
        codeError('ERR_INVALID_ARG_TYPE', `durability must be one of ${DURABILITY.join(', ')}`),
      );
    if (durability === 'persisted' && !this.options.partnerPersistent)
      return Promise.reject(
        new MirrorError(
          'ERR_CCM_NOT_PERSISTENT',
          `partner ${this.partner}'s log regions are not persistent memory`,
        ),
      );
    const size = recordSize(payload.byteLength);
    if (size > this.target.ringBytes / 2)
      return Promise.reject(
        new MirrorError(
          'ERR_CCM_RECORD_TOO_LARGE',
          `record of ${payload.byteLength} bytes exceeds half the partner's ring (${this.target.ringBytes} bytes)`,
        ),
      );
    // Refused here, never later: a record the link could not stage would fail the session each time it is sent.
    if (size > this.link.maxMessage)
      return Promise.reject(
        new MirrorError(
          'ERR_CCM_RECORD_TOO_LARGE',
          `record of ${payload.byteLength} bytes exceeds what the link stages (${this.link.maxMessage} bytes)`,
        ),
      );
    if (this.waiting.length >= this.maxWaiting)
      return Promise.reject(
        new MirrorError('ERR_CCM_QUEUE_FULL', `${this.maxWaiting} appends already waiting for ring space`),
      );
    return new Promise((resolve, reject) => {
      this.waiting.push({
        sequence: 0n,
        payload,
        durability,
        size,
        offset: 0,
        skipped: 0,
        sent: false,
        at: performance.now(),
        resolve,
        reject,
      });
      this.observer.appended(this.partner, payload.byteLength, durability);
      this.pump();
    });
  }

  /**
   * This node holds its records up to `sequence` on its own stable storage: a replay of the partner's
   * ring needs them no longer, and their ring space is reused once the tail word says so. `placed` and
   * `persisted` records take ring space until they are checkpointed (`delivered` ones, until the
   * partner acknowledges them). With `stream` (the {@link streamId} the sequence belongs to), a
   * checkpoint of a stream that has since started over does nothing. Throws RangeError for a sequence
   * not yet appended.
   */
  checkpoint(sequence: bigint, stream?: number): void {
    if (stream !== undefined && stream !== this.stream.txStream) return;
    if (typeof sequence !== 'bigint' || sequence < 0n || sequence >= this.stream.nextSeq)
      throw codeError(
        'ERR_OUT_OF_RANGE',
        `checkpoint(${String(sequence)}): only records up to ${this.stream.nextSeq - 1n} were appended`,
      );
    if (sequence <= this.stream.checkpointed) return;
    this.stream.checkpointed = sequence;
    // Published with the next sync: an append in this turn carries it; else one of its own, next turn.
    this.syncNextTurn();
  }

  /** Writes into our slot in the partner's memory over the current link; a failure is that link's. */
  private post(data: Outgoing, at: number, imm?: number): void {
    const link = this.link;
    link.write(data, this.target.slotAddr + BigInt(at), this.target.rkey, imm).catch((e: Error) => {
      // A write of a link the mirror already left: what it carried was sent again over the new one.
      if (link === this.link && !this.closedReason) this.hooks.linkFault(link, e);
    });
  }

  /**
   * @internal The session moved to another link (the one in use failed): from now on every write goes
   * over `link` (with its rkeys for our slot and the partner's status block), and every record not yet safe is sent again, in order and
   * at the same places in the ring, under the same sequence numbers; the partner acknowledges again what
   * it already had (the stream's dedup). The last ack and the tail word are written again too.
   */
  useLink(link: Link, rkey: number, statusRkey: number): void {
    this.link = link;
    this.target.rkey = rkey;
    this.target.statusRkey = statusRkey;
    this.token++;
    this.syncs = 0;
    this.syncAgain = false;
    this.lastSync = null;
    if (this.closedReason || !this.live) return;
    this.resend();
    if (this.ackSent)
      this.post(
        this.ackSent,
        SLOT.ack,
        doorbell(DOORBELL.ack, Number(decodeCounter(this.ackSent).value & BigInt(DOORBELL.valueMask))),
      );
    this.pump();
  }

  /** Records not yet safe (in the ring or waiting for room). */
  get pending(): number {
    return this.waiting.length + this.stream.ring.live.filter((p) => !p.settled && !p.abandoned).length;
  }

  /** The last sequence up to which every record of the stream is safe: what this node's records and tail word say it knows. */
  private safeThrough(): bigint {
    const ring = this.stream.ring;
    let through = ring.published?.released ?? 0n;
    for (const p of ring.live) {
      if (!p.settled) break;
      through = p.sequence;
    }
    return through;
  }

  /**
   * `acknowledged`: safeThrough() now, read once by the caller for every record it writes in one go.
   * `again`: the bytes it was last written with, without a doorbell (a rewrite for a new boot of the partner).
   */
  private writeRecord(p: PendingRecord, acknowledged: bigint, again = false): void {
    // Encoded where the link stages it, from what holds now: a record sent again is encoded again.
    const w = again && p.written ? p.written : { epoch: this.epoch, acknowledged };
    p.written = w;
    const stream = this.stream.txStream;
    const { sequence, durability, prior } = p;
    const record = {
      byteLength: p.size,
      // The payload as it is when staged: once the append settles, the mirror's copy.
      fill: (into: Uint8Array) =>
        void encodeRecord(
          w.epoch,
          stream,
          sequence,
          p.payload,
          { durability, prior, acknowledged: w.acknowledged },
          into,
        ),
    };
    this.post(
      record,
      SLOT.size + p.offset,
      durability === 'delivered' && !again ? doorbell(DOORBELL.record, p.offset / 8) : undefined,
    );
  }

  /**
   * Writes again, at their places, the records in the ring not yet safe (a new session, or a new link);
   * for a new boot of the partner, every record written before it, as it was (the old tail word in an
   * NVRAM region may name them acknowledged: a torn rewrite must not turn them into damage).
   */
  private resend(): void {
    const ring = this.stream.ring;
    const acknowledged = this.safeThrough();
    for (const p of ring.live)
      if (p.sequence <= ring.rewrite) this.writeRecord(p, acknowledged, true);
      else if (!p.settled) this.writeRecord(p, acknowledged);
    this.sync();
  }

  private pump(): void {
    if (!this.live) return;
    const ring = this.stream.ring;
    const ringBytes = this.target.ringBytes;
    let oneSided = false;
    // What is safe cannot change while this loop writes (no completion runs meanwhile).
    let acknowledged: bigint | undefined;
    while (this.waiting.length > 0 && !this.closedReason) {
      const p = this.waiting[0];
      if (p.durability === 'delivered' && this.unackedDelivered >= this.maxInflight) break; // wait for acks
      const skipped = ring.head + p.size > ringBytes ? ringBytes - ring.head : 0;
      if (ring.used + skipped + p.size > ringBytes) break; // wait for acks, checkpoints and the tail word
      this.waiting.shift();
      p.skipped = skipped;
      p.offset = skipped ? 0 : ring.head;
      p.sequence = this.stream.nextSeq++;
      p.prior = this.stream.lastForDelivery;
      if (p.durability === 'delivered') {
        this.stream.lastForDelivery = p.sequence;
        this.unackedDelivered++;
      } else oneSided = true;
      p.sent = true;
      ring.head = p.offset + p.size;
      ring.used += skipped + p.size;
      ring.live.push(p);
      this.writeRecord(p, (acknowledged ??= this.safeThrough()));
    }
    if (oneSided) this.sync();
  }

  /** A record became safe: its append resolves (unless it was given up before). */
  private settle(p: PendingRecord): void {
    if (p.settled) return;
    p.settled = true;
    if (p.durability === 'delivered') this.unackedDelivered--;
    if (p.sequence > this.acknowledged) this.acknowledged = p.sequence;
    if (p.abandoned) return;
    // It stays in the ring until released, and a new boot of the partner needs it written again.
    p.payload = copyOut(p.payload);
    this.observer.acknowledged(this.partner, performance.now() - p.at, p.durability);
    if (this.safe.push(p) === 1) queueMicrotask(this.resolveSafe);
  }

  /**
   * Resolves the appends that became safe, after a stall check: a stall (SIGSTOP, a paused VM) between
   * their completion and their callers' callbacks is seen, and an ACTIVE node leaves ACTIVE, before any
   * caller learns of them.
   */
  private readonly resolveSafe = (): void => {
    awake();
    const safe = this.safe;
    this.safe = [];
    for (const p of safe) p.resolve(p.sequence);
  };

  /** The records a replay no longer needs, from the start of the ring: released through `released`, the next at `offset`. */
  private releasable(): { released: bigint; offset: number } {
    const ring = this.stream.ring;
    let released = ring.published?.released ?? 0n;
    for (const p of ring.live) {
      const freed = p.settled && (p.durability === 'delivered' || p.sequence <= this.stream.checkpointed);
      if (!freed) return { released, offset: p.offset };
      released = p.sequence;
    }
    return { released, offset: ring.head };
  }

  /**
   * How a sync proves records are in the partner's memory on the current link: an RDMA FLUSH of our slot
   * where the partner's slots take it and this link posts it (FLUSH executes after every WRITE before it),
   * else an 8-byte READ of its status block (a READ response follows the WRITEs before it on the QP).
   */
  get fence(): 'flush' | 'read' {
    return this.options.partnerFlush && this.link.flush ? 'flush' : 'read';
  }

  /**
   * Syncs the partner's copy of the log: writes the tail word, then fences the link (an 8-byte READ of
   * the partner's status block, or a FLUSH). When the fence completes, every `placed` or `persisted` record written
   * before it is in the partner's memory and its append resolves, and the ring bytes the word releases
   * are free. The word names as acknowledged every record written before it, before any of their
   * appends resolves, so a replay never marks unacknowledged a record whose writer was told it was safe
   * (it may mark acknowledged one whose append was still in flight when the writer died, or a
   * `delivered` one not yet acknowledged). Up to MAX_SYNCS are in flight (so a checkpoint's sync does
   * not hold back the next append's); the next covers whatever was written meanwhile, and fences
   * complete in order. Nothing new to say: no sync.
   */
  private sync(): void {
    if (this.closedReason || !this.live) return;
    if (this.syncs >= MAX_SYNCS) {
      this.syncAgain = true;
      return;
    }
    const ring = this.stream.ring;
    let through = 0n;
    let persistent = false;
    const { rewrite } = ring;
    for (const p of ring.live)
      if (!p.settled && p.durability !== 'delivered') {
        through = p.sequence;
        persistent ||= p.durability === 'persisted';
      } else if (p.sequence <= rewrite) persistent ||= p.durability === 'persisted';
    const { released, offset } = this.releasable();
    // Every record written before the word is in the partner's memory once the fence completes.
    const pub = ring.published;
    const written = ring.live.at(-1)?.sequence ?? 0n;
    const acknowledged = pub && pub.acknowledged > written ? pub.acknowledged : written;
    // What the partner has, or will have once the syncs in flight complete: nothing new, no sync.
    const said =
      this.lastSync?.ring === ring
        ? this.lastSync
        : pub && { through: 0n, released: pub.released, acknowledged: pub.acknowledged };
    if (
      rewrite === 0n &&
      said &&
      through <= said.through &&
      released === said.released &&
      acknowledged === said.acknowledged
    )
      return;
    this.lastSync = { ring, through, released, acknowledged };
    this.syncs++;
    const { link, token } = this;
    const stream = this.stream.txStream;
    this.post(encodeLogTail({ stream, released, offset: BigInt(offset), acknowledged }), SLOT.tail);
    const kind = this.fence;
    const toPersistence = kind === 'flush' && persistent && this.options.partnerFlush === 'persistent';
    const fenced =
      kind === 'flush'
        ? link.flush!(this.target.slotAddr, this.target.rkey, toPersistence ? 'persistent' : 'global')
        : link.fence(this.target.statusAddr, this.target.statusRkey, persistent);
    fenced.then(
      () => {
        this.fences[kind]++;
        if (toPersistence) this.fences.flushPersistent++;
        // The stream may have started over meanwhile (a new boot of the partner): this word was of the old one.
        if (this.stream.txStream !== stream || this.stream.ring !== ring) return;
        // The fence completed: what was written before it on that link is placed, whichever link is in use now.
        for (const p of ring.live) if (p.sequence <= through && p.durability !== 'delivered') this.settle(p);
        if (!ring.published || released >= ring.published.released)
          ring.published = { released, offset, acknowledged };
        // The rewrite is in the new boot's memory, and the tail word over it (a failure before: done again).
        if (rewrite !== 0n && ring.rewrite === rewrite && token === this.token && !this.closedReason)
          ring.rewrite = 0n;
        while (ring.live.length > 0 && ring.live[0].sequence <= ring.published.released) {
          const p = ring.live.shift()!;
          ring.used -= p.skipped + p.size;
        }
        if (token !== this.token) return;
        this.syncs--;
        if (this.syncAgain) {
          this.syncAgain = false;
          this.sync();
        }
        this.pump();
      },
      (e: Error) => {
        if (token !== this.token) return;
        this.syncs--;
        if (!this.closedReason) this.hooks.linkFault(link, e);
      },
    );
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
      this.hooks.fault(
        new ProtocolError('ERR_CCM_LENGTH', 'log', `record offset ${offset} outside the ring`),
      );
      return;
    }
    let record;
    let verdict;
    try {
      // decodeRecord validates a copy of the record taken out of the ring; only the copy is delivered.
      record = decodeRecord(ring.subarray(offset));
      if (record.epoch !== this.epoch) {
        this.hooks.refused(
          'log',
          'ERR_CCM_EPOCH',
          `record of epoch ${record.epoch.toString(16)}, not this session's`,
        );
        return;
      }
      if (record.durability !== 'delivered')
        throw new ProtocolError('ERR_CCM_FIELD', 'log', `a ${record.durability} record rang the doorbell`);
      verdict = this.stream.accept(record);
    } catch (e) {
      this.hooks.fault(e as Error);
      return;
    }
    // A duplicate is one sent again after a failed session whose ack was lost: acknowledged, not delivered.
    // A new record reaches every listener before its ack is posted: an ack means the application has it.
    if (verdict === 'deliver') {
      const payload = Buffer.from(
        record.payload.buffer,
        record.payload.byteOffset,
        record.payload.byteLength,
      );
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
    this.scheduleAck();
  }

  /** One ack for every record delivered by the time the event loop comes round: acks are coalesced. */
  private readonly scheduleAck = nextTurn(() => {
    if (this.refusing || this.closedReason) return;
    const delivered = this.stream.delivered;
    const ack = encodeCounter({ value: delivered, epoch: this.epoch });
    this.ackSent = ack;
    this.post(ack, SLOT.ack, doorbell(DOORBELL.ack, Number(delivered & BigInt(DOORBELL.valueMask))));
  });

  private readonly syncNextTurn = nextTurn(() => this.sync());

  private acked(): void {
    const { value, epoch } = decodeCounter(this.localSlot.subarray(SLOT.ack, SLOT.ack + SLOT.ackSize));
    if (epoch !== this.epoch) {
      this.hooks.refused(
        'ack',
        'ERR_CCM_EPOCH',
        `ack word of epoch ${epoch.toString(16)}, not this session's`,
      );
      return;
    }
    if (value >= this.stream.nextSeq) {
      this.hooks.fault(
        new ProtocolError(
          'ERR_CCM_FIELD',
          'log',
          `ack of ${value}, but only ${this.stream.nextSeq - 1n} records were sent`,
        ),
      );
      return;
    }
    for (const p of this.stream.ring.live) {
      if (p.sequence > value) break;
      if (p.durability === 'delivered') this.settle(p);
    }
    this.sync();
    this.pump();
  }

  /**
   * Ends the mirror. With `hold` (the session failed), appends not yet safe wait in the stream for the
   * next session with the same partner boot; otherwise they reject.
   * @internal
   */
  close(reason: string, hold: boolean): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    const waiting = this.waiting.splice(0);
    if (hold) return this.stream.hold(waiting, reason);
    for (const p of waiting)
      p.reject(new MirrorError('ERR_CCM_SESSION_CLOSED', `session closed: ${reason}`, false));
    this.stream.abandon('ERR_CCM_SESSION_CLOSED', `session closed: ${reason}`);
  }
}
