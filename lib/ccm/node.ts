// The cluster connection manager of one node. Started first in a storage node's boot: it exposes its
// status block and mailbox, listens at its predefined address and port, and opens a session to each
// partner with the one-sided handshake, retrying while partners are absent or booting.
import { EventEmitter } from 'node:events';
import { saveCodeCache } from '../code-cache';
import { CcmConfig, CcmOptions, resolveConfig } from './config';
import { Core, EventInput } from './core';
import type { CcmEvent, CcmEventType } from './events';
import { Partner } from './partner';
import type { Session } from './session';
import { selfCheck } from './self-check';
import { StatusPublisher } from './status-publisher';
import type { Endpoint, IncomingRequest, Transport } from './transport';
import { decodeConnect, encodeReject } from './wire/private-data';
import { ProtocolError } from './wire/errors';
import { NODE_STATES, NodeState, RejectReason, STATUS } from './wire/layout';

export interface ClusterNode {
  on(event: 'event', listener: (e: CcmEvent) => void): this;
  on<T extends CcmEventType>(event: T, listener: (e: Extract<CcmEvent, { type: T }>) => void): this;
  once<T extends CcmEventType>(event: T, listener: (e: Extract<CcmEvent, { type: T }>) => void): this;
}

export class ClusterNode extends EventEmitter {
  readonly config: CcmConfig;
  private core: Core | null = null;
  private endpoint: Endpoint | null = null;
  private readonly partners = new Map<number, Partner>();
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly t0 = performance.now();
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private codeCacheSaved = false;

  constructor(options: CcmOptions) {
    super();
    this.config = resolveConfig(options);
  }

  get nodeId(): number {
    return this.config.nodeId;
  }

  get generation(): bigint {
    return this.config.generation;
  }

  get state(): NodeState {
    return this.core?.status.state ?? this.config.initialState;
  }

  /** Registers the exposed memory (first of all), listens, and starts probing every partner. */
  async start(): Promise<void> {
    if (this.phase !== 'new') throw Object.assign(new Error(`cannot start a node that is ${this.phase}`), { code: 'ERR_CCM_STATE' });
    this.phase = 'starting';
    const cfg = this.config;
    const transport: Transport = cfg.transport ?? (await import('./rdma-transport')).rdmaTransport;
    try {
      this.endpoint = await transport({ address: cfg.address, statusSize: STATUS.size, mailboxSize: cfg.partners.length * cfg.slotStride });
      const status = new StatusPublisher(
        this.endpoint.status,
        { clusterId: cfg.clusterId, nodeId: cfg.nodeId, state: cfg.initialState, generation: cfg.generation, slotCount: cfg.partners.length },
        cfg.secret,
      );
      const core = new Core(cfg, this.endpoint, status, (e) => this.emitEvent(e));
      selfCheck(core);
      this.core = core;
      for (const p of cfg.partners) this.partners.set(p.nodeId, new Partner(core, p));
      await this.endpoint.listen(cfg.port, (req) => void this.onRequest(req));
    } catch (e) {
      this.phase = 'stopped';
      await this.endpoint?.close().catch(() => {});
      throw e;
    }
    this.phase = 'running';
    this.emitEvent({ type: 'listening', address: cfg.address, port: cfg.port, generation: cfg.generation.toString() });
    this.pollTimer = setInterval(() => {
      const now = performance.now();
      for (const p of this.partners.values()) p.poll(now);
    }, cfg.pollMs);
    for (const p of this.partners.values()) p.start();
  }

  /** Publishes this node's progress (BOOTING → READY → ACTIVE), which partners read from the status block. */
  setState(state: NodeState | Lowercase<NodeState>): void {
    const s = String(state).toUpperCase() as NodeState;
    if (!NODE_STATES.includes(s)) throw Object.assign(new RangeError(`state must be one of ${NODE_STATES.join(', ')}`), { code: 'ERR_OUT_OF_RANGE' });
    if (!this.core) throw Object.assign(new Error('node is not started'), { code: 'ERR_CCM_STATE' });
    const from = this.core.status.state;
    if (from === s) return;
    this.core.status.setState(s);
    this.emitEvent({ type: 'state', from, to: s });
  }

  session(partner: number): Session | null {
    return this.partners.get(partner)?.session ?? null;
  }

  get sessions(): Session[] {
    return [...this.partners.values()].flatMap((p) => (p.session ? [p.session] : []));
  }

  /** Resolves with the session to `partner` once one is established (at once if it is). */
  waitForSession(partner: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Session> {
    const p = this.partners.get(partner);
    if (!p) return Promise.reject(Object.assign(new Error(`node ${partner} is not a configured partner`), { code: 'ERR_CCM_UNKNOWN_PARTNER' }));
    const waits: Promise<Session>[] = [p.whenEstablished()];
    if (options.timeoutMs !== undefined)
      waits.push(new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error(`no session with node ${partner} within ${options.timeoutMs} ms`), { code: 'ERR_CCM_TIMEOUT' })), options.timeoutMs).unref()));
    if (options.signal) waits.push(new Promise((_, reject) => options.signal!.addEventListener('abort', () => reject(options.signal!.reason), { once: true })));
    return Promise.race(waits);
  }

  /** Leaves the cluster: LEAVING is published, sessions close, the exposed memory is released. Idempotent. */
  async stop(): Promise<void> {
    if (this.phase !== 'running') return;
    this.phase = 'stopped';
    const core = this.core!;
    if (core.status.state !== 'LEAVING') this.setState('LEAVING');
    core.stopping = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    await Promise.all([...this.partners.values()].map((p) => p.stop()));
    await this.endpoint?.close();
    this.emitEvent({ type: 'stopped' });
  }

  private async onRequest(req: IncomingRequest): Promise<void> {
    const core = this.core!;
    const cfg = this.config;
    const reject = (reason: RejectReason, detail: string, partner?: number) => {
      this.emitEvent({ type: 'rejected', partner, reason, detail });
      return req.reject(encodeReject({ clusterId: cfg.clusterId, nodeId: cfg.nodeId, generation: cfg.generation, reason })).catch(() => {});
    };
    let cd;
    try {
      cd = decodeConnect(req.privateData, cfg.clusterId);
    } catch (e) {
      const pe = e as ProtocolError;
      this.emitEvent({ type: 'protocol-error', block: 'connect', code: pe.code, reason: pe.message });
      const reason: RejectReason = pe.code === 'ERR_CCM_CLUSTER' ? 'WRONG_CLUSTER' : pe.code === 'ERR_CCM_VERSION' ? 'BAD_VERSION' : 'BAD_REQUEST';
      return reject(reason, `from ${req.remoteAddress}: ${pe.message}`);
    }
    if (cd.target !== cfg.nodeId) return reject('WRONG_TARGET', `node ${cd.nodeId} expected node ${cd.target} at this address`, cd.nodeId);
    const partner = this.partners.get(cd.nodeId);
    if (!partner) return reject('UNKNOWN_NODE', `node ${cd.nodeId} is not a configured partner`, cd.nodeId);
    if (core.stopping) return reject('SHUTTING_DOWN', 'node stopping', cd.nodeId);
    await partner.onRequest(req, cd);
  }

  private emitEvent(e: EventInput): void {
    const event = { ...e, time: new Date().toISOString(), ms: Math.round(performance.now() - this.t0), node: this.config.nodeId } as CcmEvent;
    this.emit('event', event);
    this.emit(event.type, event);
    if (event.type === 'established' && !this.codeCacheSaved) {
      // By the first session every path of a boot has run once: a code cache (when enabled) keeps what
      // was compiled for the next start. A second later, out of the handshake's way; a failure only
      // means the next start compiles again.
      this.codeCacheSaved = true;
      setTimeout(() => saveCodeCache().catch(() => {}), 1000).unref();
    }
  }
}
