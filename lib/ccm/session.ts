// An established session with one partner: heartbeats both ways, the partner's state, and the log
// mirror. It ends exactly once, either because the partner went down (heartbeats stopped, the QP
// failed, the CM disconnected) or because this node closed it.
import type { Link } from './transport';
import type { Role } from './events';
import { LogMirror } from './mirror';
import type { CcmObserver } from './observer';
import type { MirrorStream, PendingRecord } from './mirror-stream';
import { decodeCounter, encodeCounter, RegionCoords } from './wire/mailbox';
import { decodeStatus } from './wire/status-block';
import { NodeState, SLOT } from './wire/layout';

/** What a session is made with (by the partner's connect loop, once a handshake succeeded). */
export interface SessionInit {
  partner: number;
  role: Role;
  link: Link;
  clusterId: bigint;
  /** This session's epoch (both sides derive it from the handshake's nonces): every word it writes carries it. */
  epoch: bigint;
  partnerGeneration: bigint;
  partnerState: NodeState;
  /** The partner's memory for us: its status block and our slot there. */
  partnerRegions: RegionCoords;
  /** The partner's slot in our memory. */
  localSlot: Uint8Array;
  heartbeatMs: number;
  partnerDownMs: number;
  statusPollMs: number;
  secret?: Uint8Array;
  /** Who measures heartbeat gaps, appends and acks (the node's metrics, when enabled). */
  observer: CcmObserver;
  /** Log mirroring state kept across sessions with this partner, and what the last session left unacknowledged. */
  stream: MirrorStream;
  held: PendingRecord[];
}

/** A heartbeat value that says "I am leaving": the partner closes the session without declaring it down. */
export const LEAVING_MARK = 0xffff_ffff_ffff_ffffn;
/** A heartbeat value that says "I am closing this session" (not leaving): the partner closes it too, holding its appends. */
export const CLOSING_MARK = 0xffff_ffff_ffff_fffen;

/** How a session ended. */
export interface SessionEnd {
  /** Human-readable cause. */
  reason: string;
  /** True when the partner failed (as opposed to this node closing the session). */
  down: boolean;
  /** How long the partner had been silent when it was declared down (ms; 0 when not down). */
  detectionMs: number;
  /** Unacknowledged appends wait for the next session (it failed, or was replaced) instead of rejecting. */
  hold: boolean;
}

/** How a session reports to its partner's loop. */
export interface SessionHooks {
  stateChanged(from: NodeState, to: NodeState): void;
  /** A word in the partner's slot that is not of this session (replayed, forged, stale): refused, reported. */
  refused(block: string, code: string, reason: string): void;
  ended(end: SessionEnd): void;
}

/**
 * An established session with one partner: heartbeats both ways, the partner's state, and the log
 * mirror. Made by the node; get it from `ClusterNode.waitForSession()` or `session()`. It ends exactly
 * once, and a new session replaces it after a reconnect.
 */
export class Session {
  /** The partner's node id. */
  readonly partner: number;
  /** This node's side of the handshake that made the session. */
  readonly role: Role;
  /** The partner's boot generation. */
  readonly partnerGeneration: bigint;
  /** The log mirror of this session: `append()` records to the partner, `'record'` events from it. */
  readonly mirror: LogMirror;
  /** When the session was established (ms since the epoch, `Date.now()`). */
  readonly establishedAt = Date.now();
  private state: NodeState;
  private heartbeats = 0n;
  private lastSeen: { value: bigint; activity: number; at: number };
  /** When the partner's heartbeat counter last moved, and the gaps between its moves (ms). */
  private beatMovedAt = performance.now();
  private lastCheckAt = performance.now();
  private readonly beatGaps: number[] = [];
  private timers: NodeJS.Timeout[] = [];
  private ended: SessionEnd | null = null;
  private readonly slotAddr: bigint;
  private readonly rkey: number;
  private statusReading = false;
  private leavingSeen = false;
  private leaveTimer: NodeJS.Timeout | null = null;
  /** The last word refused per block, so each is reported once. */
  private readonly refusedWords = new Map<string, string>();
  /** This node is closing the session (closeAndTell): nothing more of it is delivered meanwhile. */
  private closing = false;

  constructor(
    private readonly init: SessionInit,
    private readonly hooks: SessionHooks,
  ) {
    this.partner = init.partner;
    this.role = init.role;
    this.partnerGeneration = init.partnerGeneration;
    this.state = init.partnerState;
    this.slotAddr = init.partnerRegions.slotAddr;
    this.rkey = init.partnerRegions.slotRkey;
    this.lastSeen = { value: this.readHeartbeat(), activity: 0, at: performance.now() };
    this.mirror = new LogMirror(
      init.link,
      { slotAddr: this.slotAddr, rkey: this.rkey, ringBytes: init.partnerRegions.slotLen - SLOT.size },
      init.localSlot,
      init.epoch,
      init.stream,
      init.held,
      {
        fault: (e) => this.fail(`log: ${e.message}`),
        refuse: (reason) => void this.closeAndTell(reason),
        refused: (block, code, reason) => this.refuse(block, code, reason),
      },
      init.partner,
      init.observer,
    );
    init.link.onDoorbell((imm) => this.mirror.doorbell(imm));
    init.link.onClose((reason) => this.fail(reason));
  }

  /** Milliseconds since the partner last showed life (its heartbeat moved, or a record or ack bell). */
  heartbeatAgeMs(now = performance.now()): number {
    return Math.max(0, now - this.lastSeen.at);
  }

  /** The partner's state, as last read from its status block (every statusPollMs). */
  get partnerState(): NodeState {
    return this.state;
  }

  /** The session has ended. */
  get closed(): boolean {
    return this.ended !== null;
  }

  /** @internal Called by the node once the session is established: starts heartbeats and status reads. */
  start(): void {
    // The largest record the partner's ring takes is half of it: the link stages writes that large.
    this.init.link.deepen(Math.floor((this.init.partnerRegions.slotLen - SLOT.size) / 2));
    this.beat();
    this.timers.push(setInterval(() => this.beat(), this.init.heartbeatMs));
    this.timers.push(setInterval(() => void this.pollStatus(), this.init.statusPollMs));
  }

  /**
   * The partner's heartbeat counter, from a word of this session only: a word with another epoch (a
   * replay, a forgery, a late write of an earlier session) is refused and reported, and counts as silence.
   */
  private readHeartbeat(): bigint {
    const w = decodeCounter(this.init.localSlot.subarray(SLOT.heartbeat, SLOT.heartbeat + SLOT.heartbeatSize));
    if (w.epoch === this.init.epoch) return w.value;
    if (w.value !== 0n || w.epoch !== 0n) this.refuse('heartbeat', 'ERR_CCM_EPOCH', `heartbeat word of epoch ${w.epoch.toString(16)}, not this session's`);
    return this.lastSeen?.value ?? 0n;
  }

  /** The heartbeat word's value if it is of this session, else null (no report: fail() only looks). */
  private readWord(): bigint | null {
    const w = decodeCounter(this.init.localSlot.subarray(SLOT.heartbeat, SLOT.heartbeat + SLOT.heartbeatSize));
    return w.epoch === this.init.epoch ? w.value : null;
  }

  private refuse(block: string, code: string, reason: string): void {
    if (this.refusedWords.get(block) === reason) return;
    this.refusedWords.set(block, reason);
    this.hooks.refused(block, code, reason);
  }

  /** @internal Called on every mailbox scan: has the partner's heartbeat counter moved? */
  check(now: number): void {
    if (this.ended) return;
    // If this process itself stalled (a blocked event loop, a paused VM), the silence it measures is its
    // own: give the partner a fresh window rather than declare it down.
    const stalled = now - this.lastCheckAt > this.init.partnerDownMs / 2;
    this.lastCheckAt = now;
    const value = this.readHeartbeat();
    if (value === LEAVING_MARK) return this.end({ reason: 'partner left the cluster', down: false, detectionMs: 0, hold: false });
    if (value === CLOSING_MARK) return this.end({ reason: 'partner closed the session', down: false, detectionMs: 0, hold: true });
    const activity = this.mirror.activity;
    if (value !== this.lastSeen.value) {
      this.mirror.partnerLive();
      if (this.beatGaps.length >= 1 << 20) this.beatGaps.splice(0, 1 << 19);
      this.beatGaps.push(now - this.beatMovedAt);
      this.init.observer.heartbeatGap(this.partner, now - this.beatMovedAt);
      this.beatMovedAt = now;
    }
    if (value !== this.lastSeen.value || activity !== this.lastSeen.activity) {
      this.lastSeen = { value, activity, at: now };
      return;
    }
    if (stalled) {
      this.lastSeen = { value, activity, at: now };
      return;
    }
    const silent = now - this.lastSeen.at;
    if (silent > this.init.partnerDownMs) this.fail(`no heartbeat for ${Math.round(silent)} ms`, silent);
  }

  /**
   * The partner's heartbeats as this node saw them: how many moves of its counter, and the gaps between
   * them (ms, measured at the mailbox scan period).
   */
  heartbeatStats(): {
    /** Moves of the partner's heartbeat counter seen (gaps measured). */
    count: number;
    /** Mean gap (ms; 0 with none). */
    meanGapMs: number;
    /** 99th-percentile gap (ms; 0 with none). */
    p99GapMs: number;
    /** Largest gap (ms; 0 with none). */
    maxGapMs: number;
  } {
    const g = [...this.beatGaps].sort((x, y) => x - y);
    const mean = g.length ? g.reduce((x, y) => x + y, 0) / g.length : 0;
    return { count: g.length, meanGapMs: mean, p99GapMs: g.length ? g[Math.min(g.length - 1, Math.floor(g.length * 0.99))] : 0, maxGapMs: g.length ? g[g.length - 1] : 0 };
  }

  private beat(): void {
    if (this.ended) return;
    this.heartbeats++;
    const bytes = encodeCounter({ value: this.heartbeats, epoch: this.init.epoch });
    this.init.link.write(bytes, this.slotAddr + BigInt(SLOT.heartbeat), this.rkey).catch((e: Error & { code?: string }) =>
      this.fail(`heartbeat write failed: ${e.code ?? e.message}`),
    );
  }

  private async pollStatus(): Promise<void> {
    if (this.ended || this.statusReading) return;
    this.statusReading = true;
    try {
      const r = this.init.partnerRegions;
      const bytes = await this.init.link.read(r.statusAddr, r.statusRkey, r.statusLen);
      if (this.ended) return;
      let status;
      try {
        status = decodeStatus(bytes, this.init.clusterId, this.init.secret);
      } catch {
        return; // a torn read during the partner's update: the next poll sees a whole block
      }
      if (status.generation !== this.partnerGeneration) return this.fail('partner rebooted (new generation in its status block)');
      if (status.state !== this.state) {
        if (status.state === 'LEAVING') this.leavingSeen = true;
        const from = this.state;
        this.state = status.state;
        this.hooks.stateChanged(from, status.state);
      }
    } catch (e) {
      this.fail(`status read failed: ${(e as { code?: string }).code ?? (e as Error).message}`);
    } finally {
      this.statusReading = false;
    }
  }

  /** Writes `mark` into the partner's heartbeat word (waiting at most `maxMs`), so it does not take the close for a failure. */
  private async tell(mark: bigint, maxMs: number): Promise<void> {
    const bytes = encodeCounter({ value: mark, epoch: this.init.epoch });
    const write = this.init.link.write(bytes, this.slotAddr + BigInt(SLOT.heartbeat), this.rkey).catch(() => {});
    await Promise.race([write, new Promise((r) => (this.leaveTimer = setTimeout(r, maxMs)))]);
    if (this.leaveTimer) clearTimeout(this.leaveTimer);
  }

  /** @internal Tells the partner this node is leaving (so it does not declare it down), then closes. */
  async leave(): Promise<void> {
    if (this.ended) return;
    // A node that stops waits little: its partner also reads LEAVING from the status block.
    await this.tell(LEAVING_MARK, 500);
    this.close('node stopping');
  }

  /**
   * This node closes the session for a reason of its own (its application refused a record): the partner
   * is told first, so it closes its side without declaring this node down, and both hold their appends
   * for the next session.
   */
  private async closeAndTell(reason: string): Promise<void> {
    if (this.ended || this.closing) return;
    this.closing = true;
    // Nothing else tells the partner: the session (already refusing records) waits for the mark to land.
    await this.tell(CLOSING_MARK, 2000);
    this.close(reason, true);
  }

  /**
   * The partner failed: report once, with how long it had been silent. A partner that said it is leaving
   * or closing the session (its word is in memory before its disconnect arrives) is not down.
   * @internal
   */
  fail(reason: string, silentMs?: number): void {
    const word = this.readWord();
    if (this.leavingSeen || word === LEAVING_MARK) return this.end({ reason: `partner left the cluster (${reason})`, down: false, detectionMs: 0, hold: false });
    if (word === CLOSING_MARK) return this.end({ reason: `partner closed the session (${reason})`, down: false, detectionMs: 0, hold: true });
    this.end({ reason, down: true, detectionMs: Math.round(silentMs ?? performance.now() - this.lastSeen.at), hold: true });
  }

  /**
   * This node ends the session: it is stopping, or a newer connection from the partner replaces it
   * (`hold`: unacknowledged appends go on over that one).
   * @internal
   */
  close(reason: string, hold = false): void {
    this.end({ reason, down: false, detectionMs: 0, hold });
  }

  private end(end: SessionEnd): void {
    if (this.ended) return;
    this.ended = end;
    for (const t of this.timers) clearInterval(t);
    this.mirror.close(end.reason, end.hold);
    this.init.link.close();
    this.hooks.ended(end);
  }
}
