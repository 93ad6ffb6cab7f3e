// Everything this node knows and does about one partner: the connect loop with backoff, incoming
// requests and the tie-break between them, and the session once one is established.
//
// Tie-break (docs/protocol.md): when both nodes connect at once, the connection initiated by the
// lower node id wins. A node with the lower id rejects the higher one's request with TIE_BREAK while
// its own attempt is under way; a node with the higher id abandons its own attempt and accepts.
import type { PartnerConfig } from './config';
import type { Core } from './core';
import { sleep } from './core';
import type { HandshakeStep, Role } from './events';
import { codeOf } from './handshake-error';
import { initiate } from './initiator';
import { Responder, ResponderResult } from './responder';
import { Session, SessionEnd } from './session';
import { MirrorStream } from './mirror-stream';
import type { IncomingRequest, Link } from './transport';
import { Backoff } from './backoff';
import type { ConnectData } from './wire/private-data';
import { decodeReject, encodeAccept, encodeReject } from './wire/private-data';
import type { RejectReason, NodeState } from './wire/layout';
import type { RegionCoords } from './wire/mailbox';

export class Partner {
  session: Session | null = null;
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
  private readonly waiters = new Set<(s: Session) => void>();
  /** Log mirroring state that outlives a session: numbering, and appends held across a failed one. */
  private readonly stream: MirrorStream;

  constructor(private readonly core: Core, readonly config: PartnerConfig) {
    this.backoff = new Backoff(core.cfg.backoff);
    this.stream = new MirrorStream(core.cfg.mirrorHoldMs);
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

  whenEstablished(): Promise<Session> {
    if (this.session) return Promise.resolve(this.session);
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
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
        const r = await initiate(this.core, this.config, ac.signal, (s, detail) => {
          step = s;
          this.core.emit({ type: 'step', partner: this.id, role: 'initiator', step: s, detail });
        });
        this.outgoing = null;
        if (this.core.stopping || this.busy()) {
          r.link.close();
          continue;
        }
        this.backoff.reset();
        this.establish('initiator', r.link, r.accept.generation, r.status.state, r.accept.regions, r.accept.slot, r.accept.slotStride, performance.now() - started);
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
        this.core.emit({ type: 'attempt-failed', partner: this.id, role: 'initiator', step, code, reason, retryInMs });
        await this.idle(retryInMs);
      }
    }
  }

  /** Decides on a CM connect request from this partner; returns a reject reason or accepts. */
  async onRequest(req: IncomingRequest, cd: ConnectData): Promise<void> {
    const reason = this.decide(cd);
    if (reason) {
      this.core.emit({ type: 'rejected', partner: this.id, reason, detail: `connect request from node ${cd.nodeId} generation ${cd.generation}` });
      if (reason === 'TIE_BREAK') {
        this.heardFrom = true;
        this.kick(); // our own attempt wins: make sure it is running now
      }
      await req.reject(encodeReject({ clusterId: this.core.cfg.clusterId, nodeId: this.core.cfg.nodeId, generation: this.core.cfg.generation, reason })).catch(() => {});
      return;
    }
    const slot = this.core.slotOf(this.config);
    this.core.resetSlot(slot);
    this.core.status.setEcho(slot, null);
    this.accepting = true;
    this.core.emit({ type: 'step', partner: this.id, role: 'responder', step: 'accept', detail: `generation ${cd.generation}` });
    const started = performance.now();
    let link: Link;
    try {
      link = await req.accept(
        encodeAccept({ clusterId: this.core.cfg.clusterId, nodeId: this.core.cfg.nodeId, generation: this.core.cfg.generation, regions: this.core.regions(), slot, slotStride: this.core.cfg.slotStride }),
      );
    } catch (e) {
      this.accepting = false;
      this.core.emit({ type: 'attempt-failed', partner: this.id, role: 'responder', step: 'accept', code: codeOf(e), reason: (e as Error).message });
      this.kick();
      return;
    } finally {
      this.accepting = false;
    }
    if (this.core.stopping || this.session) {
      link.close();
      return;
    }
    this.responder = new Responder(this.core, this.config, cd, link, (r: ResponderResult) => {
      this.responder = null;
      if (!r.ok) {
        this.core.emit({ type: 'attempt-failed', partner: this.id, role: 'responder', step: r.step, code: r.code, reason: r.reason });
        this.kick();
        return;
      }
      this.establish('responder', link, r.hello.generation, r.status.state, r.hello.regions, r.hello.slot, r.hello.slotStride, performance.now() - started);
    });
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
      this.outgoing.abort(Object.assign(new Error('abandoned for the partner’s own connection (tie-break)'), { name: 'AbortError', code: 'ABORT_ERR' }));
      this.outgoing = null;
    }
    return null;
  }

  private establish(role: Role, link: Link, partnerGeneration: bigint, partnerState: NodeState, regions: RegionCoords, remoteSlot: number, remoteStride: number, handshakeMs: number): void {
    const cfg = this.core.cfg;
    if (this.lastGeneration !== null && this.lastGeneration !== partnerGeneration)
      this.core.emit({ type: 'partner-rebooted', partner: this.id, oldGeneration: this.lastGeneration.toString(), newGeneration: partnerGeneration.toString() });
    this.lastGeneration = partnerGeneration;
    const slot = this.core.slotOf(this.config);
    const held = this.stream.resume(partnerGeneration);
    const session = new Session(
      {
        partner: this.id,
        role,
        link,
        clusterId: cfg.clusterId,
        generation: cfg.generation,
        partnerGeneration,
        partnerState,
        partnerRegions: regions,
        remoteSlot,
        remoteStride,
        localSlot: this.core.localSlot(slot),
        heartbeatMs: cfg.heartbeatMs,
        partnerDownMs: cfg.partnerDownMs,
        statusPollMs: cfg.statusPollMs,
        secret: cfg.secret,
        stream: this.stream,
        held,
      },
      (from, to) => this.core.emit({ type: 'partner-state', partner: this.id, from, to }),
      (end: SessionEnd) => this.ended(session, end),
    );
    this.session = session;
    this.core.emit({ type: 'established', partner: this.id, role, partnerGeneration: partnerGeneration.toString(), partnerState, handshakeMs: Math.round(handshakeMs) });
    session.start();
    for (const w of this.waiters) w(session);
    this.waiters.clear();
  }

  private ended(session: Session, end: SessionEnd): void {
    if (this.session === session) this.session = null;
    this.core.status.setEcho(this.core.slotOf(this.config), null);
    if (end.down) this.core.emit({ type: 'partner-down', partner: this.id, reason: end.reason, detectionMs: end.detectionMs });
    this.core.emit({ type: 'session-closed', partner: this.id, reason: end.reason });
    this.backoff.reset();
    this.kick();
  }

  /** One scan of the mailbox: the responder's handshake and the session's heartbeat monitor. */
  poll(now: number): void {
    this.responder?.poll(now);
    this.session?.check(now);
  }

  async stop(): Promise<void> {
    this.outgoing?.abort(Object.assign(new Error('node stopping'), { name: 'AbortError', code: 'ABORT_ERR' }));
    this.responder?.fail('ERR_CCM_STOPPING', 'node stopping');
    await this.session?.leave();
    this.stream.giveUp('ERR_CCM_SESSION_CLOSED', 'session closed: node stopping');
    this.kick();
    await sleep(0);
  }
}

function safeReject(pd: Uint8Array | undefined) {
  try {
    return decodeReject(pd);
  } catch {
    return null;
  }
}
