// Everything this node knows and does about one partner: the connect loop with backoff, incoming
// requests and the tie-break between them, and the session once one is established.
//
// Tie-break (docs/protocol.md): when both nodes connect at once, the connection initiated by the
// lower node id wins. A node with the lower id rejects the higher one's request with TIE_BREAK while
// its own attempt is under way; a node with the higher id abandons its own attempt and accepts.
import type { ResolvedPartner } from './config';
import type { Core } from './core';
import { nonce, sleep } from './core';
import type { HandshakeStep, Role } from './events';
import { codeOf } from './handshake-error';
import { initiate } from './initiator';
import { Responder, ResponderResult } from './responder';
import { Session, SessionEnd } from './session';
import { MirrorStream } from './mirror-stream';
import type { IncomingRequest, Link } from './transport';
import { Backoff } from './backoff';
import type { ConnectData } from './wire/private-data';
import {
  decodeReject,
  encodeAccept,
  encodeJoinAccept,
  encodeReject,
  type JoinData,
} from './wire/private-data';
import { Fencer } from './fencing';
import { LinkJoiner } from './link-joiner';
import { SessionLink } from './session-link';
import type { WitnessVerdict } from './witness';
import { SLOT, type RejectReason, type NodeState } from './wire/layout';
import type { Replayed, StatusBlock } from './wire/status-block';
import type { RegionCoords } from './wire/mailbox';
import { sessionEpoch } from './wire/auth';
import { abortError, codeError } from '../errors';

/** This node's side of one partner: connect loop, incoming requests, tie-break, and the session. */
export class Partner {
  session: Session | null = null;
  /** Connects the session's further links (this node as the session's initiator). */
  private joiner: LinkJoiner | null = null;
  /** The witness watch after every link went down (judge()). */
  private judging: NodeJS.Timeout | null = null;
  /** Fences the partner once it is down, and says when a takeover is safe. */
  readonly fencer: Fencer;
  private responder: Responder | null = null;
  private accepting = false;
  private outgoing: AbortController | null = null;
  private lastGeneration: bigint | null = null;
  private readonly backoff: Backoff;
  private wake: (() => void) | null = null;
  private attempts = 0;
  /** The partner's own connect request arrived while our attempt was under way: it is up. */
  private heardFrom = false;
  private running = false;
  private readonly waiters = new Set<SessionWaiter>();
  /**
   * The freshest connect request accepted from this partner (generation, then attempt): with a secret, a
   * request no fresher than it is a replay and is refused before it can close or replace anything.
   */
  private lastRequest: { generation: bigint; attempt: number } | null = null;
  /** Log mirroring state that outlives a session: numbering, and appends held across a failed one. */
  private readonly stream: MirrorStream;

  constructor(
    private readonly core: Core,
    readonly config: ResolvedPartner,
  ) {
    this.backoff = new Backoff(core.cfg.backoff);
    this.stream = new MirrorStream(core.cfg.mirrorHoldMs);
    this.fencer = new Fencer(core, config.nodeId);
  }

  get id(): number {
    return this.config.nodeId;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  /** Wakes the connect loop early (a session ended, or the partner asked us to connect). */
  kick(): void {
    this.wake?.();
  }

  /** What this node knows of the partner now, for `rdma-ccm status` and operators' tools. */
  describe(now = performance.now()): PartnerStatus {
    const s = this.session;
    const base = {
      address: this.config.address,
      addresses: this.config.addresses,
      port: this.config.port,
      attempts: this.attempts,
      lastGeneration: this.lastGeneration?.toString() ?? null,
      heldRecords: this.stream.heldCount,
      witness: this.witnessStatus(now),
    };
    // The state right after the id: `{"partner":2,"state":"ESTABLISHED"` is what a shell script reads.
    if (!s)
      return {
        partner: this.id,
        state: this.responder || this.accepting ? 'ACCEPTING' : this.outgoing ? 'CONNECTING' : 'WAITING',
        ...base,
        session: null,
      };
    return {
      partner: this.id,
      state: 'ESTABLISHED',
      ...base,
      session: {
        role: s.role,
        partnerGeneration: s.partnerGeneration.toString(),
        partnerState: s.partnerState,
        establishedAt: new Date(s.establishedAt).toISOString(),
        heartbeatAgeMs: Math.round(s.heartbeatAgeMs(now)),
        links: Array.from({ length: s.linkCount }, (_, k) => {
          const l = s.upLinks.find((x) => x.index === k);
          return {
            link: k,
            localAddress: this.core.cfg.addresses[k],
            remoteAddress: this.config.addresses[k],
            state: l ? (s.carrier === k ? ('carrier' as const) : ('up' as const)) : ('down' as const),
            heartbeatAgeMs: l ? Math.round(Math.max(0, now - l.lastSeenAt)) : null,
            ...(!l && this.joiner?.lastError.get(k) ? { lastError: this.joiner.lastError.get(k) } : {}),
          };
        }),
        mirror: {
          pending: s.mirror.pending,
          sent: s.mirror.acknowledged.toString(),
          received: s.mirror.received.toString(),
          duplicates: s.mirror.duplicates.toString(),
        },
      },
    };
  }

  private witnessStatus(now: number): PartnerStatus['witness'] {
    const w = this.core.witness;
    if (!w) return null;
    const v = w.view(this.id, now);
    return {
      verdict: v.verdict,
      heartbeatAgeMs: v.heartbeatAgeMs === null ? null : Math.round(v.heartbeatAgeMs),
      generation: v.sector?.generation.toString() ?? null,
      state: v.sector?.state ?? null,
    };
  }

  /** Settles `w` with the session once there is one (at once if there is), or rejects it when the node stops. */
  whenEstablished(w: SessionWaiter): void {
    if (this.session) w.resolve(this.session);
    else if (this.core.stopping) w.reject(stoppedError());
    else this.waiters.add(w);
  }

  cancelWait(w: SessionWaiter): void {
    this.waiters.delete(w);
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        self.core.awake();
        clearTimeout(t);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  private busy(): boolean {
    return this.session !== null || this.responder !== null || this.accepting;
  }

  private async loop(): Promise<void> {
    // The lower id's connection wins a tie-break anyway: a node starting next to a running partner with
    // a lower id gives that partner's probe time to arrive before it tries itself — one minimum backoff
    // (the partner's probe interval) and as long again for the probe's connect to reach it — so the two
    // attempts do not compete for the starting node's time (a request that arrives meanwhile is answered
    // at once, and its handshake runs while this node makes no attempt of its own).
    if (this.core.cfg.nodeId > this.id) await this.idle(2 * this.core.cfg.backoff.minMs);
    while (!this.core.stopping) {
      if (this.busy()) {
        await this.idle(this.core.cfg.backoff.maxMs);
        continue;
      }
      const ac = new AbortController();
      this.outgoing = ac;
      const attempt = ++this.attempts;
      this.heardFrom = false;
      this.core.emit({ type: 'attempt', partner: this.id, attempt });
      let step: HandshakeStep = 'connect';
      const started = performance.now();
      try {
        // The handshake runs on the first link that comes up: each attempt tries the next link in turn.
        const linkIndex = (attempt - 1) % this.core.linkCount(this.config);
        const r = await initiate(this.core, this.config, attempt, linkIndex, ac.signal, (s, detail) => {
          step = s;
          this.core.emit({ type: 'step', partner: this.id, role: 'initiator', step: s, detail });
        });
        this.outgoing = null;
        if (this.core.stopping || this.busy()) {
          r.link.close();
          continue;
        }
        this.backoff.reset();
        this.establish(
          'initiator',
          r.link,
          linkIndex,
          r.accept.generation,
          r.status,
          r.accept.regions,
          sessionEpoch(this.core.cfg.secret, r.nonce, r.accept.responderNonce),
          performance.now() - started,
        );
      } catch (e) {
        if (this.outgoing === ac) this.outgoing = null;
        if (this.core.stopping) break;
        let code = codeOf(e);
        let retryInMs = this.backoff.next();
        let reason = (e as Error).message;
        if (code === 'ERR_CM_REJECTED') {
          const rej = safeReject((e as { privateData?: Uint8Array }).privateData);
          if (rej) {
            code = `REJECTED_${rej.reason}`;
            reason = `partner rejected the connection: ${rej.reason}`;
            // The partner connects to us itself (or holds a session): wait long, but wake on news.
            if (rej.reason === 'TIE_BREAK' || rej.reason === 'DUPLICATE') retryInMs = this.backoff.max();
          } else reason = 'connection refused (nothing listening at the partner port yet)';
        }
        // Our attempt started before the partner was up and lost the race with its request, which we
        // turned away (TIE_BREAK): it is listening now, so try again at once.
        if (this.heardFrom && !code.startsWith('REJECTED_')) retryInMs = 0;
        // The backoff is the interval between the starts of attempts (a probe every minMs while the
        // partner is away), so the time this attempt took counts towards it.
        retryInMs = Math.max(0, Math.round(retryInMs - (performance.now() - started)));
        this.core.emit({
          type: 'attempt-failed',
          partner: this.id,
          role: 'initiator',
          step,
          code,
          reason,
          retryInMs,
        });
        await this.idle(retryInMs);
      }
    }
  }

  /** Decides on a CM connect request from this partner (its MAC already verified, with a secret): rejects or accepts. */
  async onRequest(req: IncomingRequest, cd: ConnectData): Promise<void> {
    const reason = this.fresh(cd) ? this.decide(cd) : 'STALE_REQUEST';
    if (reason) {
      this.core.emit({
        type: 'rejected',
        partner: this.id,
        reason,
        detail: `connect request from node ${cd.nodeId} generation ${cd.generation} attempt ${cd.attempt}`,
      });
      if (reason === 'TIE_BREAK') {
        this.heardFrom = true;
        this.kick(); // our own attempt wins: make sure it is running now
      }
      await req.reject(encodeReject({ clusterId: this.core.cfg.clusterId, reason })).catch(() => {});
      return;
    }
    const cfg = this.core.cfg;
    const slot = this.core.slotOf(this.config);
    this.core.resetSlot(slot);
    this.core.status.setEcho(slot, null);
    this.accepting = true;
    this.core.emit({
      type: 'step',
      partner: this.id,
      role: 'responder',
      step: 'accept',
      detail: `generation ${cd.generation}`,
    });
    const started = performance.now();
    const responderNonce = nonce();
    let link: Link;
    try {
      link = await req.accept(
        encodeAccept(
          {
            clusterId: cfg.clusterId,
            nodeId: cfg.nodeId,
            generation: cfg.generation,
            responderNonce,
            regions: this.core.regions(slot, req.link),
          },
          cd,
          cfg.secret,
        ),
        slot,
      );
    } catch (e) {
      this.accepting = false;
      this.core.emit({
        type: 'attempt-failed',
        partner: this.id,
        role: 'responder',
        step: 'accept',
        code: codeOf(e),
        reason: (e as Error).message,
      });
      this.kick();
      return;
    } finally {
      this.accepting = false;
    }
    if (this.core.stopping || this.session) {
      link.close();
      return;
    }
    this.responder = new Responder(this.core, this.config, cd, responderNonce, link, (r: ResponderResult) => {
      this.responder = null;
      if (!r.ok) {
        this.core.emit({
          type: 'attempt-failed',
          partner: this.id,
          role: 'responder',
          step: r.step,
          code: r.code,
          reason: r.reason,
        });
        this.kick();
        return;
      }
      this.establish(
        'responder',
        link,
        req.link,
        r.hello.generation,
        r.status,
        r.hello.regions,
        sessionEpoch(cfg.secret, r.hello.nonce, responderNonce),
        performance.now() - started,
      );
    });
  }

  /**
   * With a secret, each (generation, attempt) of the partner is taken once and only rising: a replayed
   * request, even one whose MAC verifies, is refused before it can close, replace or learn anything.
   */
  private fresh(cd: ConnectData): boolean {
    if (!this.core.cfg.secret) return true;
    const last = this.lastRequest;
    if (
      last &&
      (cd.generation < last.generation || (cd.generation === last.generation && cd.attempt <= last.attempt))
    )
      return false;
    this.lastRequest = { generation: cd.generation, attempt: cd.attempt };
    return true;
  }

  private decide(cd: ConnectData): RejectReason | null {
    if (this.core.stopping) return 'SHUTTING_DOWN';
    const lower = this.core.cfg.nodeId < cd.nodeId;
    if (this.session) {
      if (this.session.partnerGeneration !== cd.generation) {
        this.session.close('partner rebooted (it connected with a new generation)', true);
        return null;
      }
      // Same boot of the partner: it lost its view of the session. The lower id is authoritative.
      if (lower) return 'DUPLICATE';
      this.session.close('partner reconnected', true);
      return null;
    }
    if (this.accepting) return 'DUPLICATE';
    if (this.responder) {
      if (this.responder.request.generation === cd.generation) return 'DUPLICATE';
      this.responder.fail('ERR_CCM_REPLACED', 'replaced by a newer connect request from the partner');
    }
    if (this.outgoing) {
      if (lower) return 'TIE_BREAK';
      this.outgoing.abort(abortError('abandoned for the partner’s own connection (tie-break)'));
      this.outgoing = null;
    }
    return null;
  }

  /** How far this node last replayed the partner's mirrored log (`mirroredLog()`), for a takeover to record. */
  replayed: Replayed | null = null;

  /** The last record of the partner's stream `stream` delivered to this node's application (0n: none). */
  deliveredOf(stream: number): { from: bigint; through: bigint } {
    return this.stream.deliveredOf(stream);
  }

  private establish(
    role: Role,
    link: Link,
    linkIndex: number,
    partnerGeneration: bigint,
    partnerStatus: StatusBlock,
    regions: RegionCoords,
    epoch: bigint,
    handshakeMs: number,
  ): void {
    const cfg = this.core.cfg;
    const partnerState = partnerStatus.state;
    if (this.lastGeneration !== null && this.lastGeneration !== partnerGeneration)
      this.core.emit({
        type: 'partner-rebooted',
        partner: this.id,
        oldGeneration: this.lastGeneration.toString(),
        newGeneration: partnerGeneration.toString(),
      });
    const slot = this.core.slotOf(this.config);
    // A new boot of the partner writes a new log: the previous boot's (replayed at its takeover, if ever) is gone.
    const writer = this.lastGeneration ?? this.core.nvram?.parts[slot].generation ?? 0n;
    if (writer !== 0n && writer !== partnerGeneration) this.core.clearLog(slot);
    this.core.nvram?.setGeneration(slot, partnerGeneration);
    this.lastGeneration = partnerGeneration;
    const held = this.stream.resume(partnerGeneration, regions.slotLen - SLOT.size);
    const linkDowns = new Map<number, string>();
    if (this.judging) clearTimeout(this.judging);
    this.judging = null;
    this.fencer.cancel();
    const session: Session = new Session(
      {
        partner: this.id,
        role,
        link: new SessionLink(
          linkIndex,
          link,
          cfg.addresses[linkIndex],
          this.config.addresses[linkIndex],
          regions,
        ),
        linkCount: this.core.linkCount(this.config),
        clusterId: cfg.clusterId,
        epoch,
        partnerGeneration,
        partnerState,
        localSlot: this.core.localSlot(slot),
        heartbeatMs: cfg.heartbeatMs,
        partnerDownMs: cfg.partnerDownMs,
        linkDownMs: cfg.linkDownMs,
        statusPollMs: cfg.statusPollMs,
        secret: cfg.secret,
        stream: this.stream,
        observer: this.core.observer,
        held,
        mirror: {
          durability: cfg.durability,
          partnerPersistent: partnerStatus.persistent === true,
          partnerFlush: partnerStatus.flush ?? null,
        },
      },
      {
        stateChanged: (from, to) => {
          this.core.emit({ type: 'partner-state', partner: this.id, from, to });
          this.checkClaim(to);
        },
        takeoverSeen: (t, postedAt) => {
          const mine = t?.nodeId === cfg.nodeId;
          this.core.takenOver(this.id, mine, t?.replayed ?? null);
          // A session that outlived a stall of this node's (both paused together): a read posted after the
          // stall shows what the partner holds now, as a new session's handshake would.
          if (!mine && postedAt > this.core.stalledAt) this.core.heardSinceStall(this.id, 'status-read');
        },
        refused: (block, code, reason) =>
          this.core.emit({ type: 'protocol-error', partner: this.id, block, code, reason }),
        linkUp: (l) => {
          linkDowns.delete(l.index);
          this.core.emit({
            type: 'link-up',
            partner: this.id,
            link: l.index,
            localAddress: l.localAddress,
            remoteAddress: l.remoteAddress,
            linksUp: session.upLinks.length,
          });
        },
        linkDown: (l, reason, detectionMs) => {
          linkDowns.set(l.index, reason);
          this.core.emit({
            type: 'link-down',
            partner: this.id,
            link: l.index,
            localAddress: l.localAddress,
            remoteAddress: l.remoteAddress,
            reason,
            detectionMs,
            linksUp: session.upLinks.length,
          });
          this.joiner?.wake(l.index);
        },
        ended: (end: SessionEnd) => this.ended(session, end, linkDowns),
        awake: () => this.core.awake(),
      },
    );
    this.session = session;
    // A partner that holds this node's resources (it took over while this node was down) says so in
    // the status block this handshake read: this node waits for its giveback. Read after a stall of this
    // node's, it is what lets it go ACTIVE again.
    this.checkClaim(partnerState);
    this.core.takenOver(
      this.id,
      partnerStatus.takeover?.nodeId === cfg.nodeId,
      partnerStatus.takeover?.replayed ?? null,
    );
    this.core.heardSinceStall(this.id, 'session');
    this.core.emit({
      type: 'established',
      partner: this.id,
      role,
      partnerGeneration: partnerGeneration.toString(),
      partnerState,
      handshakeMs: Math.round(handshakeMs),
    });
    session.start();
    // The session's initiator connects its other links, and again each one that fails.
    if (role === 'initiator' && session.linkCount > 1) {
      this.joiner = new LinkJoiner(this.core, this.config, session);
      this.joiner.start();
    }
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w.resolve(session);
  }

  /**
   * A further link of the session from the partner (its initiator), its join already verified with the
   * session's link key (node.ts): taken once per attempt, rising, on the listener of its own link.
   */
  async onJoin(req: IncomingRequest, jd: JoinData): Promise<void> {
    const s = this.session;
    const cfg = this.core.cfg;
    const reason: RejectReason | null = !s
      ? 'NO_SESSION'
      : jd.link !== req.link || jd.link >= s.linkCount || s.role !== 'responder'
        ? 'BAD_REQUEST'
        : jd.attempt <= s.lastJoinAttempt
          ? 'STALE_REQUEST'
          : null;
    if (reason || !s) {
      this.core.emit({
        type: 'rejected',
        partner: this.id,
        reason: reason ?? 'NO_SESSION',
        detail: `link ${jd.link} join from node ${jd.nodeId} attempt ${jd.attempt}`,
      });
      await req
        .reject(encodeReject({ clusterId: cfg.clusterId, reason: reason ?? 'NO_SESSION' }))
        .catch(() => {});
      return;
    }
    s.lastJoinAttempt = jd.attempt;
    const slot = this.core.slotOf(this.config);
    const mine = this.core.regions(slot, jd.link);
    let link: Link;
    try {
      link = await req.accept(
        encodeJoinAccept(
          {
            clusterId: cfg.clusterId,
            nodeId: cfg.nodeId,
            link: jd.link,
            statusRkey: mine.statusRkey,
            slotRkey: mine.slotRkey,
          },
          jd,
          s.linkKey,
        ),
        slot,
      );
    } catch {
      return; // the joining side tries again
    }
    if (s.closed || this.session !== s) {
      link.close();
      return;
    }
    s.addLink(
      new SessionLink(jd.link, link, cfg.addresses[jd.link], this.config.addresses[jd.link], {
        ...s.partnerRegions,
        statusRkey: jd.statusRkey,
        slotRkey: jd.slotRkey,
      }),
    );
  }

  private ended(session: Session, end: SessionEnd, linkDowns: Map<number, string>): void {
    if (this.session === session) this.session = null;
    this.joiner?.close();
    this.joiner = null;
    this.core.status.setEcho(this.core.slotOf(this.config), null);
    if (end.down) {
      const links = [...linkDowns]
        .map(([link, reason]) => ({ link, reason }))
        .sort((a, b) => a.link - b.link);
      if (this.core.witness) this.judge(end, links, session.partnerGeneration);
      else {
        this.core.emit({
          type: 'partner-down',
          partner: this.id,
          reason: end.reason,
          detectionMs: end.detectionMs,
          links,
          witness: 'none',
        });
        this.fencer.start(session.partnerGeneration, false);
      }
    }
    this.core.emit({ type: 'session-closed', partner: this.id, reason: end.reason });
    this.backoff.reset();
    this.kick();
  }

  /**
   * Every link is down: the witness tells a dead partner from a cut interconnect. The partner is down
   * only once its witness heartbeat has not moved for the witness's timeout; if it is known to have been
   * written after the links went down (an advance read after that may have been written before: see
   * WitnessView.writtenAfter), the partner runs and the interconnect is cut (`interconnect-down`); a witness this node
   * cannot read decides nothing (`interconnect-down`, witness 'unavailable', after one timeout). After an
   * interconnect-down the watch goes on: a witness heartbeat that stops later is a `partner-down`. A new
   * session ends the watch.
   */
  private judge(end: SessionEnd, links: { link: number; reason: string }[], generation: bigint): void {
    const w = this.core.witness!;
    const since = performance.now();
    const interval = Math.max(20, w.intervalMs / 2);
    const timeout = w.timeoutMs;
    let cut = false;
    const step = () => {
      this.judging = null;
      if (this.session || this.core.stopping) return;
      const now = performance.now();
      const v = w.view(this.id, now);
      if (v.verdict === 'stopped') {
        this.core.emit({
          type: 'partner-down',
          partner: this.id,
          reason: end.reason,
          detectionMs: Math.round(end.detectionMs + (now - since)),
          links,
          witness: 'stopped',
        });
        this.fencer.start(generation, true);
        return;
      }
      const advancedSince = v.verdict === 'alive' && v.writtenAfter !== null && v.writtenAfter >= since;
      if (!cut && (advancedSince || (v.verdict === 'unavailable' && now - since > timeout))) {
        cut = true;
        this.core.emit({
          type: 'interconnect-down',
          partner: this.id,
          reason: end.reason,
          decisionMs: Math.round(now - since),
          links,
          witness: v.verdict === 'alive' ? 'alive' : 'unavailable',
        });
      }
      this.judging = setTimeout(step, interval);
    };
    step();
  }

  /**
   * A partner whose resources this node holds must not act: one that says it is ACTIVE (it came back from
   * a stall and did not learn of the takeover, or ignores it) is a protocol error, never a normal state.
   */
  private checkClaim(state: NodeState): void {
    const held = this.core.status.takeover;
    if (state !== 'ACTIVE' || held?.nodeId !== this.id) return;
    this.core.emit({
      type: 'protocol-error',
      partner: this.id,
      block: 'status',
      code: 'ERR_CCM_TAKEN_OVER_ACTIVE',
      reason: `node ${this.id} says it is ACTIVE while this node holds its resources (taken over from its generation ${held.generation})`,
    });
  }

  /** One scan of the mailbox: the responder's handshake and the session's heartbeat monitor. */
  poll(now: number): void {
    this.responder?.poll(now);
    this.session?.check(now);
  }

  async stop(): Promise<void> {
    if (this.judging) clearTimeout(this.judging);
    this.judging = null;
    this.fencer.cancel();
    this.outgoing?.abort(abortError('node stopping'));
    this.responder?.fail('ERR_CCM_STOPPING', 'node stopping');
    await this.session?.leave();
    this.stream.giveUp('ERR_CCM_SESSION_CLOSED', 'session closed: node stopping');
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w.reject(stoppedError());
    this.kick();
    await sleep(0);
  }
}

/** What a node knows of one partner now, in {@link NodeStatus.partners}; JSON-safe (big numbers as strings). */
export interface PartnerStatus {
  /** The partner's node id. */
  partner: number;
  /** The partner's configured address (of link 0). */
  address: string;
  /** The partner's configured address of each link. */
  addresses: string[];
  /** The partner's configured CM port. */
  port: number;
  /** ESTABLISHED (a session), CONNECTING (our attempt under way), ACCEPTING (its request under way), WAITING (backing off). */
  state: 'ESTABLISHED' | 'CONNECTING' | 'ACCEPTING' | 'WAITING';
  /** Connection attempts this node has made to the partner so far. */
  attempts: number;
  /** The partner's boot generation of the last session, if there was one. */
  lastGeneration: string | null;
  /** Appends of a failed session waiting for the next one with the same partner boot. */
  heldRecords: number;
  /** What the witness says of the partner (null: no witness). */
  witness: null | {
    /** alive, stopped or unavailable (see {@link WitnessVerdict}). */
    verdict: WitnessVerdict;
    /** Milliseconds since its witness heartbeat last moved (null: not seen moving). */
    heartbeatAgeMs: number | null;
    /** The boot generation in its last valid sector, decimal. */
    generation: string | null;
    /** The state in its last valid sector. */
    state: NodeState | null;
  };
  /** The established session, or null. */
  session: null | {
    /** This node's side of the handshake that made the session. */
    role: Role;
    /** The partner's boot generation, decimal. */
    partnerGeneration: string;
    /** The partner's state, as last read from its status block. */
    partnerState: NodeState;
    /** When the session was established, ISO 8601. */
    establishedAt: string;
    /** Milliseconds since the partner last showed life (heartbeat on any link, record or ack). */
    heartbeatAgeMs: number;
    /** Each link of the session: 'carrier' carries the mirror and status reads, 'up' stands by, 'down' is being joined again. */
    links: {
      /** The link's index. */
      link: number;
      /** This node's address of the link. */
      localAddress: string;
      /** The partner's address of the link. */
      remoteAddress: string;
      /** carrier, up or down. */
      state: 'carrier' | 'up' | 'down';
      /** Milliseconds since the partner's heartbeat for this link last moved (null while down). */
      heartbeatAgeMs: number | null;
      /** Why the last join of a down link failed (on the joining side). */
      lastError?: string;
    }[];
    /** The session's log mirror counters. */
    mirror: {
      /** Appends not yet acknowledged (in flight or waiting for ring space). */
      pending: number;
      /** The last sequence number the partner acknowledged on this session (0: none), decimal. */
      sent: string;
      /** Records delivered here from the partner on this session, decimal. */
      received: string;
      /** Records the partner sent again that this node already had, decimal. */
      duplicates: string;
    };
  };
}

export interface SessionWaiter {
  resolve(s: Session): void;
  reject(e: Error): void;
}

function stoppedError(): Error {
  return codeError('ERR_CCM_STOPPED', 'node stopped before a session was established');
}

function safeReject(pd: Uint8Array | undefined) {
  try {
    return decodeReject(pd);
  } catch {
    return null;
  }
}
