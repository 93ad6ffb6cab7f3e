// The cluster connection manager of one node. Started first in a storage node's boot: it exposes its
// status block and mailbox, listens at its predefined address and port, and opens a session to each
// partner with the one-sided handshake, retrying while partners are absent or booting.
import { EventEmitter } from 'node:events';
import { saveCodeCache } from '../code-cache';
import { CcmConfig, CcmOptions, resolveConfig } from './config';
import { Core, EventInput } from './core';
import type { CcmEvent, CcmEventType } from './events';
import { Partner, type PartnerStatus } from './partner';
import type { Registry } from 'prom-client';
import { createMetrics } from './metrics';
import type { CcmObserver } from './observer';
import type { Session } from './session';
import { selfCheck } from './self-check';
import { StatusPublisher } from './status-publisher';
import { DiskWitness, type Witness } from './witness';
import { Watchdog } from './watchdog';
import type { WitnessSector } from './wire/witness-sector';
import { native } from '../native';
import { released } from '../verbs/released';
import type { Endpoint, IncomingRequest, Transport } from './transport';
import { decodeConnect, decodeJoin, encodeReject, requestKind } from './wire/private-data';
import { ProtocolError } from './wire/errors';
import { LOG_TAIL, NODE_STATES, NodeState, RejectReason, SLOT, STATUS } from './wire/layout';
import {
  readMirroredLog,
  type MirroredLog,
  type MirroredLogOptions,
  type MirroredLogReplay,
  type MirroredRecord,
} from './mirrored-log';
import { NvramRegion } from './nvram';
import { codeError } from '../errors';

/** A snapshot of a node and its partners, from {@link ClusterNode.status}; JSON-safe (ids as strings). */
export interface NodeStatus {
  /** This node's id. */
  node: number;
  /** The cluster id, decimal. */
  clusterId: string;
  /** This node's boot generation, decimal. */
  generation: string;
  /** The state this node publishes. */
  state: NodeState;
  /** Where the node is in its life: before `start()`, starting, running, or stopped (also after a failed start). */
  phase: 'new' | 'starting' | 'running' | 'stopped';
  /** This node's address. */
  address: string;
  /** This node's CM port. */
  port: number;
  /** Milliseconds since the `ClusterNode` was made. */
  uptimeMs: number;
  /** A cluster secret is set: every block is authenticated. */
  authenticated: boolean;
  /** The split-brain witness in use ('none': partner-down is decided from the links alone). */
  witness: string;
  /** The partner whose resources this node holds (`takeover()`), or null. */
  takeover: {
    /** Its node id. */
    partner: number;
    /** The boot of it that was taken over, decimal. */
    generation: string;
  } | null;
  /** Partners that hold this node's resources; it waits for their giveback. */
  waitingForGiveback: number[];
  /** Each configured partner, in order of node id. */
  partners: PartnerStatus[];
}

/**
 * The events of a ClusterNode, with their listeners' arguments: `'event'` carries every event, and each
 * type of {@link CcmEvent} is also an event of its own. A listener that throws is reported as
 * `listener-error` and changes nothing else.
 */
export type ClusterNodeEvents = {
  /** Every event. */
  event: [e: CcmEvent];
} & {
  /** The events of one type. */
  [T in CcmEventType]: [e: Extract<CcmEvent, Record<'type', T>>];
};

/**
 * The cluster connection manager of one node: exposes its status block and one mailbox slot per
 * partner, listens at its address and port, and keeps a {@link Session} with each partner, reconnecting
 * as partners come and go. Emits {@link CcmEvent}s. Start it once, stop it once; it cannot be restarted.
 * @example
 * Two nodes in one process, one on each lab address (`examples/hello-ccm.mjs` is the complete program;
 * on real partners each node runs on its own host):
 * ```ts
 * import { ClusterNode } from 'rdma-ccm/ccm';
 * const node = (nodeId: number, address: string, partnerId: number, partnerAddress: string) =>
 *   new ClusterNode({ clusterId: 4242n, nodeId, address, port: 7471, partners: [{ nodeId: partnerId, address: partnerAddress, port: 7471 }], secret: 'a shared secret' });
 * const one = node(1, '10.99.0.1', 2, '10.99.0.2');
 * const two = node(2, '10.99.0.2', 1, '10.99.0.1');
 * one.on('event', (e) => console.log(e.type));    // listening, established, partner-state, ...
 * await Promise.all([one.start(), two.start()]);
 * const [s1, s2] = await Promise.all([one.waitForSession(2), two.waitForSession(1)]);
 * s2.mirror.on('record', (seq, payload) => console.log(seq, payload.toString()));
 * await s1.mirror.append(Buffer.from('log record 1'));   // resolves once node 2's application has it
 * await Promise.all([one.stop(), two.stop()]);
 * ```
 */
export class ClusterNode extends EventEmitter<ClusterNodeEvents> {
  /** The validated configuration, defaults filled in. */
  readonly config: CcmConfig;
  private core: Core | null = null;
  private endpoint: Endpoint | null = null;
  private readonly partners = new Map<number, Partner>();
  private pollTimer: NodeJS.Timeout | null = null;
  private beatTimer: NodeJS.Timeout | null = null;
  private readonly t0 = performance.now();
  private phase: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private codeCacheSaved = false;
  private metricsMade: { registry: Registry; observer: CcmObserver } | null = null;

  /** Validates `options` (throws {@link ConfigError}); nothing is opened until {@link start}. */
  constructor(options: CcmOptions) {
    super();
    this.config = resolveConfig(options);
  }

  /** This node's id. */
  get nodeId(): number {
    return this.config.nodeId;
  }

  /** This node's boot generation. */
  get generation(): bigint {
    return this.config.generation;
  }

  /** The state this node publishes (the initial state until it has started). */
  get state(): NodeState {
    // Read first thing after a stall, it is already the state the stall left.
    this.core?.awake();
    return this.core?.status.state ?? this.config.initialState;
  }

  /**
   * Registers the exposed memory (first of all), listens, and starts probing every partner. Rejects with
   * ERR_CCM_STATE unless the node is new; if opening the endpoint or listening fails, the endpoint is
   * closed and the node is left stopped.
   */
  async start(): Promise<void> {
    if (this.phase !== 'new') throw codeError('ERR_CCM_STATE', `cannot start a node that is ${this.phase}`);
    this.phase = 'starting';
    const cfg = this.config;
    const transport: Transport = cfg.transport ?? (await import('./rdma-transport')).rdmaTransport;
    try {
      const nvram = this.openNvram();
      this.endpoint = await transport({
        addresses: cfg.addresses,
        statusSize: STATUS.size,
        slots: cfg.partners.length,
        slotSize: cfg.slotStride,
        slotMemory: nvram ? (i) => nvram.slot(i) : undefined,
      });
      const status = new StatusPublisher(
        this.endpoint.status,
        {
          clusterId: cfg.clusterId,
          nodeId: cfg.nodeId,
          state: cfg.initialState,
          generation: cfg.generation,
          slotCount: cfg.partners.length,
          persistent: nvram?.persistent ?? false,
          needsPersistent: cfg.durability === 'persisted',
          flush: this.endpoint.flush ?? null,
        },
        cfg.secret,
      );
      const core = new Core(cfg, this.endpoint, status, (e) => this.emitEvent(e));
      core.nvram = nvram;
      nvram?.parts.forEach((p, i) => {
        // A part refused, or a log found damaged: the start-up replay (atStart) has the error too.
        const damage = p.refused ?? p.log?.error;
        if (damage)
          this.emitEvent({
            type: 'protocol-error',
            partner: cfg.partners[i].nodeId,
            block: 'nvram',
            code: damage.code,
            reason: p.refused ? `${damage.message}: the part was cleared` : damage.message,
          });
      });
      core.observer.current = this.metricsMade?.observer ?? null;
      selfCheck(core);
      this.core = core;
      core.witness = await this.openWitness();
      core.watchStalls();
      // A partner that took over while this node was down says so on the witness too: wait for its giveback.
      for (const p of cfg.partners)
        if (core.witness?.view(p.nodeId).sector?.takeover?.nodeId === cfg.nodeId)
          core.takenOver(p.nodeId, true);
      for (const p of cfg.partners) this.partners.set(p.nodeId, new Partner(core, p));
      await this.endpoint.listen(cfg.port, (req) => void this.onRequest(req));
    } catch (e) {
      this.phase = 'stopped';
      await this.core?.witness?.close().catch(() => {});
      this.closeWatchdog();
      await this.endpoint?.close().catch(() => {});
      throw e;
    }
    this.phase = 'running';
    this.emitEvent({
      type: 'listening',
      address: cfg.address,
      port: cfg.port,
      generation: cfg.generation.toString(),
    });
    this.pollTimer = setInterval(() => {
      const now = performance.now();
      this.core?.awake(now);
      for (const p of this.partners.values()) p.poll(now);
    }, cfg.pollMs);
    // The status block's heartbeat: partners that READ it see this node's process alive.
    this.beatTimer = setInterval(() => (this.core?.awake(), this.core?.status.beat()), cfg.heartbeatMs);
    for (const p of this.partners.values()) p.start();
  }

  /** The configured witness, started: the disk is opened (ERR_CCM_WITNESS when it cannot be) and this node's sector written. */
  private async openWitness(): Promise<Witness | null> {
    const cfg = this.config;
    const w = cfg.witness;
    if (!w) return null;
    // Armed before the first round, which writes to it: from here on a stall resets the host.
    const watchdog =
      'description' in w || !w.watchdog ? null : new Watchdog(w.watchdog.path, w.watchdog.timeoutMs);
    this.watchdog = watchdog;
    const witness: Witness =
      'description' in w
        ? w
        : new DiskWitness(
            {
              path: w.path,
              clusterId: cfg.clusterId,
              nodeId: cfg.nodeId,
              generation: cfg.generation,
              nodes: [cfg.nodeId, ...cfg.partners.map((p) => p.nodeId)],
              intervalMs: w.intervalMs,
              timeoutMs: w.timeoutMs,
              secret: cfg.secret,
              alignedBuffer: (n) => native.alignedBuffer(n),
              msgwaitMs: w.watchdog?.msgwaitMs ?? 0,
            },
            {
              refused: (partner, e) =>
                this.emitEvent({
                  type: 'protocol-error',
                  partner,
                  block: 'witness',
                  code: e.code,
                  reason: e.message,
                }),
              ioError: (error) => this.emitEvent({ type: 'witness-error', error }),
              awake: () => this.core?.awake(),
              wrote: () => watchdog?.pet(),
              read: (partner, sector) => this.obeyPill(partner, sector),
            },
          );
    witness.publish(cfg.initialState, null);
    try {
      await witness.start();
    } catch (e) {
      await witness.close().catch(() => {});
      this.closeWatchdog();
      throw codeError('ERR_CCM_WITNESS', `witness ${witness.description}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return witness;
  }

  /** The kernel watchdog this node arms (`witness.watchdog`), or null. */
  private watchdog: Watchdog | null = null;

  /** Disarms the watchdog: the node stops cleanly, which is no stall. */
  private closeWatchdog(): void {
    this.watchdog?.close();
    this.watchdog = null;
  }

  /**
   * The poison pill: a partner's witness sector names a takeover of this boot. With no session to that
   * partner (whose status reads would say the same), the disk is the only way to learn it: this node
   * leaves ACTIVE at once and waits for the giveback.
   */
  private obeyPill(partner: number, sector: WitnessSector): void {
    const core = this.core;
    const t = sector.takeover;
    if (!core || core.stopping || t?.nodeId !== this.config.nodeId || t.generation !== this.config.generation)
      return;
    if (core.heldBy.has(partner) || this.partners.get(partner)?.session) return;
    this.emitEvent({ type: 'poison-pill', partner, generation: t.generation.toString() });
    core.takenOver(partner, true);
  }

  /** Maps the NVRAM region, if the node has one. */
  private openNvram(): NvramRegion | null {
    const nv = this.config.nvram;
    if (!nv) return null;
    try {
      return new NvramRegion(this.config);
    } catch (e) {
      throw codeError('ERR_CCM_NVRAM', `nvram ${nv.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Publishes this node's progress (BOOTING → READY → ACTIVE), which partners read from the status block;
   * case-insensitive. Throws ERR_OUT_OF_RANGE for an unknown state, ERR_CCM_STATE before `start()`.
   */
  setState(state: NodeState | Lowercase<NodeState>): void {
    const s = String(state).toUpperCase() as NodeState;
    if (!NODE_STATES.includes(s))
      throw codeError('ERR_OUT_OF_RANGE', `state must be one of ${NODE_STATES.join(', ')}`);
    if (!this.core) throw codeError('ERR_CCM_STATE', 'node is not started');
    if (s === 'ACTIVE' && this.core.heldBy.size > 0)
      throw codeError(
        'ERR_CCM_WAITING_FOR_GIVEBACK',
        `partner ${[...this.core.heldBy].join(', ')} holds this node's resources: wait for its giveback`,
      );
    if (s === 'ACTIVE' && this.core.witnessLost)
      throw codeError(
        'ERR_CCM_STALLED',
        "this node's witness heartbeat is not reaching the disk: a partner may judge it stopped",
      );
    if (s === 'ACTIVE' && this.core.unsureOf.size > 0)
      throw codeError(
        'ERR_CCM_STALLED',
        `this node stalled: partner ${[...this.core.unsureOf].join(', ')} may hold its resources until it is heard again`,
      );
    const from = this.core.status.state;
    if (from === s) return;
    this.core.status.setState(s);
    this.core.witness?.publish(s, this.core.status.takeover);
    this.emitEvent({ type: 'state', from, to: s });
  }

  /**
   * Partners this node has not heard from since it stalled (`stalled`): until each has shown it does not
   * hold this node's resources (`heard-since-stall`), this node may not go ACTIVE.
   */
  get unheardSinceStall(): number[] {
    return [...(this.core?.unsureOf ?? [])].sort((a, b) => a - b);
  }

  /** Partners that hold this node's resources (they took over while it was down); it may not go ACTIVE until each gives them back. */
  get waitingForGiveback(): number[] {
    return [...(this.core?.heldBy ?? [])].sort((a, b) => a - b);
  }

  /**
   * Takes over the resources of `partner`, once a takeover is safe (after its `takeover-safe` event):
   * records it in this node's status block and on the witness (written through before this resolves),
   * so that the partner, when it boots again, waits for the giveback. Rejects with
   * ERR_CCM_UNKNOWN_PARTNER, ERR_CCM_NOT_SAFE (no takeover-safe for the partner's last boot, or it is
   * back), ERR_CCM_STATE (not running, or already holding another partner's).
   */
  async takeover(partner: number): Promise<void> {
    const { core, p } = this.partnerOf(partner);
    const held = core.status.takeover;
    if (held && held.nodeId !== partner)
      throw codeError('ERR_CCM_STATE', `already holding node ${held.nodeId}'s resources`);
    const generation = p.fencer.safeFor;
    if (generation === null || p.session)
      throw codeError(
        'ERR_CCM_NOT_SAFE',
        `a takeover of node ${partner} is not safe: no takeover-safe for its last boot`,
      );
    // The witness alone made it safe: a partner that was only paused and runs again has its heartbeat moving.
    if (p.fencer.safeBy === 'witness' && core.witness?.view(partner).verdict !== 'stopped')
      throw codeError(
        'ERR_CCM_NOT_SAFE',
        `a takeover of node ${partner} is not safe: its witness heartbeat is no longer stopped`,
      );
    core.status.setTakeover({ nodeId: partner, generation, replayed: p.replayed });
    core.witness?.publish(core.status.state, { nodeId: partner, generation });
    await core.witness?.flush();
    this.emitEvent({ type: 'takeover', partner, generation: generation.toString() });
  }

  /**
   * Gives `partner` its resources back: clears the takeover from the status block and the witness (written
   * through before this resolves); the partner sees it at its next status read and may go ACTIVE.
   * Rejects with ERR_CCM_STATE when no takeover of it is held.
   */
  async giveback(partner: number): Promise<void> {
    const { core } = this.partnerOf(partner);
    if (core.status.takeover?.nodeId !== partner)
      throw codeError('ERR_CCM_STATE', `no takeover of node ${partner} is held`);
    core.status.setTakeover(null);
    core.witness?.publish(core.status.state, null);
    await core.witness?.flush();
    this.emitEvent({ type: 'giveback', partner, direction: 'given' });
  }

  private partnerOf(partner: number): { core: Core; p: Partner } {
    const p = this.partners.get(partner);
    if (!p) throw codeError('ERR_CCM_UNKNOWN_PARTNER', `node ${partner} is not a configured partner`);
    if (!this.core || this.phase !== 'running') throw codeError('ERR_CCM_STATE', 'node is not running');
    return { core: this.core, p };
  }

  /**
   * The node's Prometheus metrics (a prom-client Registry), made and wired on first use: serve it, or
   * merge it into the application's own registry (Registry.merge([app, ccm.metrics])).
   */
  get metrics(): Registry {
    this.metricsMade ??= createMetrics(this);
    if (this.core) this.core.observer.current = this.metricsMade.observer;
    return this.metricsMade.registry;
  }

  /** The node and every partner as it stands: what `rdma-ccm status` shows. */
  status(): NodeStatus {
    const now = performance.now();
    return {
      node: this.config.nodeId,
      clusterId: this.config.clusterId.toString(),
      generation: this.config.generation.toString(),
      state: this.state,
      phase: this.phase,
      address: this.config.address,
      port: this.config.port,
      uptimeMs: Math.round(now - this.t0),
      authenticated: this.config.secret !== undefined,
      witness:
        this.core?.witness?.description ??
        (this.config.witness && 'path' in this.config.witness ? `disk:${this.config.witness.path}` : 'none'),
      takeover: this.core?.status.takeover
        ? {
            partner: this.core.status.takeover.nodeId,
            generation: this.core.status.takeover.generation.toString(),
          }
        : null,
      waitingForGiveback: this.waitingForGiveback,
      partners: [...this.partners.values()].map((p) => p.describe(now)),
    };
  }

  /**
   * The log `partner` mirrored into this node's memory, replayed from a copy taken now (call it once the
   * partner is down, or before its new session writes again: a partner still writing can tear the
   * copy). With `atStart`, the log this node found in its NVRAM region when it started (after its own
   * crash or reboot), whatever sessions wrote since; none without an NVRAM region. Yields each record
   * of the partner's stream in order, once: `{ sequence, payload, durability, acknowledged }`, where
   * `acknowledged` says the partner was told, or may have been, that the record was safe; records
   * after the last acknowledged one follow, marked false. `delivered` records this node's application
   * already received as `'record'` events are left out (not with `atStart`: that was another process).
   * Ends by throwing a `MirroredLogError` (ERR_CCM_LOG_GAP, ERR_CCM_LOG_DAMAGED) after the records
   * before the first acknowledged one that is missing or damaged. `.log` holds the whole replay at
   * once. Throws ERR_CCM_UNKNOWN_PARTNER for a node that is not a partner, ERR_CCM_STATE unless the node
   * is running.
   */
  mirroredLog(partner: number, options: MirroredLogOptions = {}): MirroredLogReplay {
    const p = this.partners.get(partner);
    if (!p) throw codeError('ERR_CCM_UNKNOWN_PARTNER', `node ${partner} is not a configured partner`);
    if (this.phase !== 'running' || !this.core)
      throw codeError('ERR_CCM_STATE', `the node is ${this.phase}: its memory holds no log`);
    const i = this.core.slotOf(partner);
    let log: MirroredLog;
    if (options?.atStart) {
      const found = this.core.nvram?.parts[i].log;
      log = found
        ? { ...found, records: [...found.records] }
        : { stream: 0, released: 0n, records: [], error: null };
    } else {
      const slot = this.core.localSlot(i);
      // Copies first (an NVRAM slot is a Buffer, whose slice() is a view): the partner may write its slot
      // again at any moment.
      log = readMirroredLog(
        new Uint8Array(slot.subarray(SLOT.tail, SLOT.tail + LOG_TAIL.size)),
        new Uint8Array(slot.subarray(SLOT.size)),
      );
      // `delivered` records this node's application already had (as 'record' events) are not offered twice.
      const { from, through } = p.deliveredOf(log.stream);
      log.records = log.records.filter(
        (r) => r.durability !== 'delivered' || r.sequence < from || r.sequence > through,
      );
      // A takeover after this replay tells the partner's next boot how far it went (status block).
      if (log.stream !== 0)
        p.replayed = { stream: log.stream, through: log.records.at(-1)?.sequence ?? log.released };
    }
    async function* replay(): AsyncGenerator<MirroredRecord> {
      yield* log.records;
      if (log.error) throw log.error;
    }
    return Object.assign(replay(), { log });
  }

  /** The established session with node `partner`, or null (none now, or not a partner). */
  session(partner: number): Session | null {
    return this.partners.get(partner)?.session ?? null;
  }

  /** Every established session, in order of partner node id. */
  get sessions(): Session[] {
    return [...this.partners.values()].flatMap((p) => (p.session ? [p.session] : []));
  }

  /**
   * Resolves with the session to `partner` once one is established (at once if it is). Rejects with
   * ERR_CCM_UNKNOWN_PARTNER for a node that is not a partner, ERR_CCM_TIMEOUT after `timeoutMs` (default:
   * no limit), the signal's reason on abort, and ERR_CCM_STOPPED when the node stops first; nothing of the
   * wait is left behind once it settles.
   */
  waitForSession(
    partner: number,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Session> {
    const p = this.partners.get(partner);
    if (!p)
      return Promise.reject(
        codeError('ERR_CCM_UNKNOWN_PARTNER', `node ${partner} is not a configured partner`),
      );
    const { timeoutMs, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Session>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        p.cancelWait(waiter);
      };
      const waiter = {
        resolve: (s: Session) => {
          cleanup();
          resolve(s);
        },
        reject: (e: Error) => {
          cleanup();
          reject(e);
        },
      };
      const onAbort = () => waiter.reject(signal!.reason);
      if (timeoutMs !== undefined)
        timer = setTimeout(
          () =>
            waiter.reject(
              codeError('ERR_CCM_TIMEOUT', `no session with node ${partner} within ${timeoutMs} ms`),
            ),
          timeoutMs,
        );
      signal?.addEventListener('abort', onAbort, { once: true });
      p.whenEstablished(waiter);
    });
  }

  /** Leaves the cluster: LEAVING is published, sessions close, the exposed memory is released. Idempotent. */
  async stop(): Promise<void> {
    if (this.phase !== 'running') return;
    this.phase = 'stopped';
    const core = this.core!;
    if (core.status.state !== 'LEAVING') this.setState('LEAVING');
    core.stopping = true;
    core.watchStalls(true);
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.beatTimer) clearInterval(this.beatTimer);
    try {
      await Promise.all([...this.partners.values()].map((p) => p.stop()));
    } finally {
      // The witness says LEAVING last: a partner reading it knows this node left, not died.
      await core.witness?.flush().catch(() => {});
      await core.witness?.close().catch(() => {});
      this.closeWatchdog();
      await this.endpoint?.close();
      await released(); // its QPs, CQs, regions and CM ids are gone from the device when stop() resolves
    }
    this.emitEvent({ type: 'stopped' });
  }

  /** Same as stop(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * A CM connect request. With a secret its MAC is checked before anything else: a request that does not
   * authenticate is refused (NOT_AUTHENTICATED) before any field of it is believed, and no reject says
   * anything about this node (rejects carry only the caller's own cluster id and the reason).
   */
  private async onRequest(req: IncomingRequest): Promise<void> {
    const core = this.core!;
    const cfg = this.config;
    const reject = (reason: RejectReason, detail: string, partner?: number) => {
      this.emitEvent({ type: 'rejected', partner, reason, detail });
      return req.reject(encodeReject({ clusterId: callerCluster(req.privateData), reason })).catch(() => {});
    };
    if (requestKind(req.privateData) === 'join') return this.onJoin(req, reject);
    let cd;
    try {
      cd = decodeConnect(req.privateData, cfg.clusterId, cfg.secret);
    } catch (e) {
      const pe = e as ProtocolError;
      this.emitEvent({
        type: 'protocol-error',
        block: 'connect',
        code: pe.code,
        reason: `from ${req.remoteAddress}: ${pe.message}`,
      });
      const reason: RejectReason =
        pe.code === 'ERR_CCM_AUTH'
          ? 'NOT_AUTHENTICATED'
          : pe.code === 'ERR_CCM_CLUSTER'
            ? 'WRONG_CLUSTER'
            : pe.code === 'ERR_CCM_VERSION'
              ? 'BAD_VERSION'
              : 'BAD_REQUEST';
      return reject(reason, `from ${req.remoteAddress}: ${pe.message}`);
    }
    if (cd.target !== cfg.nodeId)
      return reject(
        'WRONG_TARGET',
        `node ${cd.nodeId} expected node ${cd.target} at this address`,
        cd.nodeId,
      );
    const partner = this.partners.get(cd.nodeId);
    if (!partner) return reject('UNKNOWN_NODE', `node ${cd.nodeId} is not a configured partner`, cd.nodeId);
    if (core.stopping) return reject('SHUTTING_DOWN', 'node stopping', cd.nodeId);
    await partner.onRequest(req, cd);
  }

  /**
   * A further link of a session. Its MAC is keyed with the link key of the session it names, so it is
   * checked against that session before any other field is believed; a join that is not for a session
   * this node holds is rejected with NO_SESSION whatever else it says.
   */
  private async onJoin(
    req: IncomingRequest,
    reject: (reason: RejectReason, detail: string, partner?: number) => Promise<void>,
  ): Promise<void> {
    let jd;
    try {
      jd = decodeJoin(
        req.privateData,
        this.config.clusterId,
        (id) => this.partners.get(id)?.session?.linkKey ?? null,
      );
    } catch (e) {
      const pe = e as ProtocolError;
      this.emitEvent({
        type: 'protocol-error',
        block: 'join',
        code: pe.code,
        reason: `from ${req.remoteAddress}: ${pe.message}`,
      });
      const reason: RejectReason =
        pe.code === 'ERR_CCM_NO_SESSION'
          ? 'NO_SESSION'
          : pe.code === 'ERR_CCM_CLUSTER'
            ? 'WRONG_CLUSTER'
            : pe.code === 'ERR_CCM_VERSION'
              ? 'BAD_VERSION'
              : 'BAD_REQUEST';
      return reject(reason, `from ${req.remoteAddress}: ${pe.message}`);
    }
    if (this.core!.stopping) return reject('SHUTTING_DOWN', 'node stopping', jd.nodeId);
    await this.partners.get(jd.nodeId)!.onJoin(req, jd);
  }

  /**
   * Emits one event to every listener of 'event' and of its type. A listener that throws is reported
   * (a 'listener-error' event) and changes nothing else: the CCM's own work goes on.
   */
  private emitEvent(e: EventInput): void {
    const event = {
      ...e,
      time: new Date().toISOString(),
      ms: Math.round(performance.now() - this.t0),
      node: this.config.nodeId,
    } as CcmEvent;
    for (const name of ['event', event.type] as const) {
      // rawListeners: a once() listener is removed as it is called.
      for (const listener of this.rawListeners(name)) {
        try {
          (listener as (e: CcmEvent) => void).call(this, event);
        } catch (err) {
          if (event.type !== 'listener-error')
            this.emitEvent({
              type: 'listener-error',
              event: event.type,
              message: (err as Error)?.message ?? String(err),
            });
        }
      }
    }
    if (event.type === 'established' && !this.codeCacheSaved) {
      // By the first session every path of a boot has run once: a code cache (when enabled) keeps what
      // was compiled for the next start. A second later, out of the handshake's way; a failure only
      // means the next start compiles again.
      this.codeCacheSaved = true;
      setTimeout(() => saveCodeCache().catch(() => {}), 1000).unref();
    }
  }
}

/** The cluster id a caller sent (echoed in a reject: it tells the caller nothing new), or 0. */
function callerCluster(pd: Uint8Array): bigint {
  return pd.byteLength >= 16
    ? new DataView(pd.buffer, pd.byteOffset, pd.byteLength).getBigUint64(8, true)
    : 0n;
}
