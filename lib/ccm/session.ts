// An established session with one partner: heartbeats both ways, the partner's state, and the log
// mirror. It ends exactly once, either because the partner went down (heartbeats stopped, the QP
// failed, the CM disconnected) or because this node closed it.
import type { Role } from './events';
import { LogMirror, type MirrorOptions } from './mirror';
import type { CcmObserver } from './observer';
import type { MirrorStream, PendingRecord } from './mirror-stream';
import { decodeCounter, encodeCounter, type RegionCoords } from './wire/mailbox';
import { joinKey } from './wire/auth';
import type { SessionLink } from './session-link';
import { decodeStatus, type StatusBlock } from './wire/status-block';
import { NodeState, SLOT } from './wire/layout';

/** What a session is made with (by the partner's connect loop, once a handshake succeeded). */
export interface SessionInit {
  partner: number;
  role: Role;
  /** The link the handshake ran on; more join with addLink(). */
  link: SessionLink;
  /** Links the session can have: as many as both nodes have addresses. */
  linkCount: number;
  clusterId: bigint;
  /** This session's epoch (both sides derive it from the handshake's nonces): every word it writes carries it. */
  epoch: bigint;
  partnerGeneration: bigint;
  partnerState: NodeState;
  /** The partner's slot in our memory. */
  localSlot: Uint8Array;
  heartbeatMs: number;
  partnerDownMs: number;
  linkDownMs: number;
  statusPollMs: number;
  secret?: Uint8Array;
  /** Who measures heartbeat gaps, appends and acks (the node's metrics, when enabled). */
  observer: CcmObserver;
  /** Log mirroring state kept across sessions with this partner, and what the last session left unacknowledged. */
  stream: MirrorStream;
  held: PendingRecord[];
  /** The mirror's default durability, and whether the partner's log regions are persistent (its status block). */
  mirror: MirrorOptions;
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
  /** The takeover named in the partner's status block, at every status read, and when the read was posted (performance.now()). */
  takeoverSeen(takeover: StatusBlock['takeover'], postedAt: number): void;
  /** A link joined the session (the handshake's own link included). */
  linkUp(link: SessionLink): void;
  /** A link failed or was replaced; the session goes on while another is up. */
  linkDown(link: SessionLink, reason: string, detectionMs: number): void;
  /** A word in the partner's slot that is not of this session (replayed, forged, stale): refused, reported. */
  refused(block: string, code: string, reason: string): void;
  ended(end: SessionEnd): void;
  /** Runs first in each of the session's timers, before it reaches the partner (the node's stall check). */
  awake(): void;
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
  /** @internal The partner's status block and our slot there over the handshake's link: every link has these addresses and lengths. */
  readonly partnerRegions: RegionCoords;
  /** The session's link key: a further link's join must be made with it (wire/auth.ts joinKey). */
  readonly linkKey: Uint8Array;
  /** Links the session can have (as many as both nodes have addresses). */
  readonly linkCount: number;
  /** The last join attempt taken from the partner: joins are taken once and only rising. */
  lastJoinAttempt = 0;
  /** This node's join attempts for the session (as the side that joins links). */
  joinAttempts = 0;
  private state: NodeState;
  private heartbeats = 0n;
  private lastSeen: { value: bigint; activity: number; at: number };
  /** When the partner's heartbeat counter last moved, and the gaps between its moves (ms). */
  private beatMovedAt = performance.now();
  private lastCheckAt = performance.now();
  private readonly beatGaps: number[] = [];
  private timers: NodeJS.Timeout[] = [];
  private ended: SessionEnd | null = null;
  /** The links up, by index; `active` carries the mirror, the status reads and the session word. */
  private readonly links = new Map<number, SessionLink>();
  private active: SessionLink;
  private started = false;
  private statusReading = false;
  private leavingSeen = false;
  private leaveTimer: NodeJS.Timeout | null = null;
  /** The last word refused per block, so each is reported once. */
  private readonly refusedWords = new Map<string, string>();
  /** This node is closing the session (closeAndTell): nothing more of it is delivered meanwhile. */
  private closing = false;
  /** A LEAVING or CLOSING mark was written: no heartbeat may overwrite it. */
  private told = false;

  constructor(
    private readonly init: SessionInit,
    private readonly hooks: SessionHooks,
  ) {
    this.partner = init.partner;
    this.role = init.role;
    this.partnerGeneration = init.partnerGeneration;
    this.state = init.partnerState;
    this.linkCount = init.linkCount;
    this.linkKey = joinKey(init.secret, init.epoch);
    this.active = init.link;
    this.partnerRegions = init.link.regions;
    this.lastSeen = {
      value: this.word(SLOT.heartbeat, 'heartbeat') ?? 0n,
      activity: 0,
      at: performance.now(),
    };
    const r = init.link.regions;
    this.mirror = new LogMirror(
      init.link.link,
      {
        slotAddr: r.slotAddr,
        rkey: r.slotRkey,
        ringBytes: r.slotLen - SLOT.size,
        statusAddr: r.statusAddr,
        statusRkey: r.statusRkey,
      },
      init.localSlot,
      init.epoch,
      init.stream,
      init.held,
      {
        fault: (e) => this.fail(`log: ${e.message}`),
        linkFault: (link, e) => {
          const l = [...this.links.values()].find((x) => x.link === link);
          if (l) this.linkFailed(l, `log write failed: ${(e as { code?: string }).code ?? e.message}`);
        },
        refuse: (reason) => void this.closeAndTell(reason),
        refused: (block, code, reason) => this.refuse(block, code, reason),
      },
      init.partner,
      init.observer,
      init.mirror,
    );
    this.attach(init.link);
  }

  /** Milliseconds since the partner last showed life (its heartbeat moved on any link, or a record or ack bell). */
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

  /** The links up now, in order of index. */
  get upLinks(): SessionLink[] {
    return [...this.links.values()].sort((a, b) => a.index - b.index);
  }

  /** The index of the link that carries the session now (its mirror, status reads and session word). */
  get carrier(): number {
    return this.active.index;
  }

  /** The link indexes of this session that are not up: the joining side connects them. */
  missingLinks(): number[] {
    return Array.from({ length: this.linkCount }, (_, i) => i).filter((i) => !this.links.has(i));
  }

  /** @internal Called by the node once the session is established: starts heartbeats and status reads. */
  start(): void {
    this.started = true;
    // The largest record the partner's ring takes is half of it: each link stages writes that large.
    for (const l of this.links.values()) l.link.deepen(this.maxRecord());
    this.beat();
    this.timers.push(setInterval(() => (this.hooks.awake(), this.beat()), this.init.heartbeatMs));
    this.timers.push(setInterval(() => (this.hooks.awake(), void this.pollStatus()), this.init.statusPollMs));
    this.hooks.linkUp(this.active);
  }

  private maxRecord(): number {
    return Math.floor((this.active.regions.slotLen - SLOT.size) / 2);
  }

  /**
   * @internal A further link joined (or a failed one came back): heartbeats go over it at once, and it
   * carries the session if none does. A link of the same index still up is replaced.
   */
  addLink(l: SessionLink): void {
    if (this.ended) {
      l.link.close();
      return;
    }
    const old = this.links.get(l.index);
    if (old) this.linkDown(old, 'replaced by a new connection of the link', 0);
    if (this.ended) {
      l.link.close();
      return;
    }
    this.attach(l);
    if (this.started) l.link.deepen(this.maxRecord());
    this.beatLink(l);
    this.hooks.linkUp(l);
  }

  private attach(l: SessionLink): void {
    this.links.set(l.index, l);
    l.link.onDoorbell((imm) => {
      if (!l.up) return;
      l.activity++;
      this.mirror.doorbell(imm);
    });
    l.link.onClose((reason) => this.linkFailed(l, reason));
    if (!this.links.has(this.active.index) || !this.active.up) this.carry(l);
  }

  /**
   * The value of the counter word at `at` in the partner's slot if it is of this session, else null: a
   * word with another epoch (a replay, a forgery, a late write of an earlier session) is refused and
   * reported once, and counts as silence.
   */
  private word(at: number, block: string, report = true): bigint | null {
    const w = decodeCounter(this.init.localSlot.subarray(at, at + SLOT.heartbeatSize));
    if (w.epoch === this.init.epoch) return w.value;
    if (report && (w.value !== 0n || w.epoch !== 0n))
      this.refuse(
        block,
        'ERR_CCM_EPOCH',
        `${block} word of epoch ${w.epoch.toString(16)}, not this session's`,
      );
    return null;
  }

  private refuse(block: string, code: string, reason: string): void {
    if (this.refusedWords.get(block) === reason) return;
    this.refusedWords.set(block, reason);
    this.hooks.refused(block, code, reason);
  }

  /** @internal Called on every mailbox scan: have the partner's heartbeat words moved, on each link and overall? */
  check(now: number): void {
    if (this.ended) return;
    // If this process itself stalled (a blocked event loop, a paused VM), the silence it measures is its
    // own: give the partner and every link a fresh window rather than declare them down.
    const stalled = now - this.lastCheckAt > this.init.partnerDownMs / 2;
    this.lastCheckAt = now;
    const value = this.word(SLOT.heartbeat, 'heartbeat') ?? this.lastSeen.value;
    if (value === LEAVING_MARK)
      return this.end({ reason: 'partner left the cluster', down: false, detectionMs: 0, hold: false });
    if (value === CLOSING_MARK)
      return this.end({ reason: 'partner closed the session', down: false, detectionMs: 0, hold: true });
    let linkMoved = false;
    for (const l of [...this.links.values()]) {
      const v = this.word(SLOT.links + l.index * SLOT.linkSize, `link ${l.index} heartbeat`);
      if ((v !== null && v !== l.lastValue) || l.activity !== l.lastActivity || stalled) {
        if (v !== null && v !== l.lastValue) linkMoved = true;
        l.lastValue = v ?? l.lastValue;
        l.lastActivity = l.activity;
        l.lastSeenAt = now;
        continue;
      }
      const silent = now - l.lastSeenAt;
      if (silent > this.init.linkDownMs)
        this.linkFailed(l, `no heartbeat on link ${l.index} for ${Math.round(silent)} ms`, silent);
      if (this.ended) return;
    }
    const activity = this.mirror.activity;
    if (value !== this.lastSeen.value) {
      this.mirror.partnerLive();
      if (this.beatGaps.length >= 1 << 20) this.beatGaps.splice(0, 1 << 19);
      this.beatGaps.push(now - this.beatMovedAt);
      this.init.observer.heartbeatGap(this.partner, now - this.beatMovedAt);
      this.beatMovedAt = now;
    }
    if (value !== this.lastSeen.value || activity !== this.lastSeen.activity || linkMoved || stalled) {
      this.lastSeen = { value, activity, at: now };
      return;
    }
    const silent = now - this.lastSeen.at;
    if (silent > this.init.partnerDownMs)
      this.fail(`no heartbeat on any link for ${Math.round(silent)} ms`, silent);
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
    return {
      count: g.length,
      meanGapMs: mean,
      p99GapMs: g.length ? g[Math.min(g.length - 1, Math.floor(g.length * 0.99))] : 0,
      maxGapMs: g.length ? g[g.length - 1] : 0,
    };
  }

  /** Every heartbeat period: the session word over the carrying link, and each link's own word over that link. */
  private beat(): void {
    if (this.ended || this.told) return;
    this.heartbeats++;
    const a = this.active;
    const bytes = encodeCounter({ value: this.heartbeats, epoch: this.init.epoch });
    a.link
      .write(bytes, a.regions.slotAddr + BigInt(SLOT.heartbeat), a.regions.slotRkey)
      .catch((e: Error & { code?: string }) =>
        this.linkFailed(a, `heartbeat write failed: ${e.code ?? e.message}`),
      );
    for (const l of this.links.values()) this.beatLink(l);
  }

  private beatLink(l: SessionLink): void {
    l.beats++;
    const bytes = encodeCounter({ value: l.beats, epoch: this.init.epoch });
    l.link
      .write(bytes, l.regions.slotAddr + BigInt(SLOT.links + l.index * SLOT.linkSize), l.regions.slotRkey)
      .catch((e: Error & { code?: string }) =>
        this.linkFailed(l, `link heartbeat write failed: ${e.code ?? e.message}`),
      );
  }

  /**
   * A link failed (its connection ended, a work request on it failed, or its heartbeat stopped). The
   * session goes on over another link; with none left the partner is down, unless it said it is leaving
   * or closing the session.
   */
  private linkFailed(l: SessionLink, reason: string, silentMs?: number): void {
    if (this.ended || !l.up || this.links.get(l.index) !== l) return;
    const word = this.word(SLOT.heartbeat, 'heartbeat', false);
    if (this.leavingSeen || word === LEAVING_MARK || word === CLOSING_MARK)
      return this.fail(reason, silentMs);
    const others = [...this.links.values()].filter((x) => x !== l && x.up);
    this.linkDown(l, reason, Math.round(silentMs ?? performance.now() - l.lastSeenAt));
    if (others.length === 0)
      this.fail(
        `every link down (link ${l.index}: ${reason})`,
        silentMs ?? performance.now() - this.lastSeen.at,
      );
  }

  private linkDown(l: SessionLink, reason: string, detectionMs: number): void {
    l.up = false;
    this.links.delete(l.index);
    l.link.close();
    this.hooks.linkDown(l, reason, detectionMs);
    if (l === this.active) {
      const next = [...this.links.values()].sort((a, b) => a.index - b.index)[0];
      if (next) this.carry(next);
    }
  }

  /** `l` carries the session from now on: the mirror moves to it, sending again what it had in flight. */
  private carry(l: SessionLink): void {
    const moved = this.active !== l;
    this.active = l;
    if (moved) this.mirror.useLink(l.link, l.regions.slotRkey, l.regions.statusRkey);
  }

  private async pollStatus(): Promise<void> {
    if (this.ended || this.statusReading) return;
    this.statusReading = true;
    const a = this.active;
    try {
      const r = a.regions;
      const postedAt = performance.now();
      const bytes = await a.link.read(r.statusAddr, r.statusRkey, r.statusLen);
      if (this.ended) return;
      let status;
      try {
        status = decodeStatus(bytes, this.init.clusterId, this.init.secret);
      } catch {
        return; // a torn read during the partner's update: the next poll sees a whole block
      }
      if (status.generation !== this.partnerGeneration)
        return this.fail('partner rebooted (new generation in its status block)');
      this.hooks.takeoverSeen(status.takeover ?? null, postedAt);
      if (status.state !== this.state) {
        if (status.state === 'LEAVING') this.leavingSeen = true;
        const from = this.state;
        this.state = status.state;
        this.hooks.stateChanged(from, status.state);
      }
    } catch (e) {
      this.linkFailed(a, `status read failed: ${(e as { code?: string }).code ?? (e as Error).message}`);
    } finally {
      this.statusReading = false;
    }
  }

  /**
   * Writes `mark` into the partner's session word over every link up (the same bytes; waiting at most
   * `maxMs`), so it does not take the close for a failure.
   */
  private async tell(mark: bigint, maxMs: number): Promise<void> {
    // From here on the word says only this: a heartbeat posted after the mark would land over it, and the
    // partner, seeing the disconnect next, would take this node for down.
    this.told = true;
    const bytes = encodeCounter({ value: mark, epoch: this.init.epoch });
    const writes = [...this.links.values()].map((l) =>
      l.link.write(bytes, l.regions.slotAddr + BigInt(SLOT.heartbeat), l.regions.slotRkey),
    );
    const landed = writes.length ? Promise.any(writes).catch(() => {}) : Promise.resolve();
    await Promise.race([landed, new Promise((r) => (this.leaveTimer = setTimeout(r, maxMs)))]);
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
    const word = this.word(SLOT.heartbeat, 'heartbeat', false);
    if (this.leavingSeen || word === LEAVING_MARK)
      return this.end({
        reason: `partner left the cluster (${reason})`,
        down: false,
        detectionMs: 0,
        hold: false,
      });
    if (word === CLOSING_MARK)
      return this.end({
        reason: `partner closed the session (${reason})`,
        down: false,
        detectionMs: 0,
        hold: true,
      });
    this.end({
      reason,
      down: true,
      detectionMs: Math.round(silentMs ?? performance.now() - this.lastSeen.at),
      hold: true,
    });
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
    for (const l of this.links.values()) {
      l.up = false;
      l.link.close();
    }
    this.links.clear();
    this.hooks.ended(end);
  }
}
