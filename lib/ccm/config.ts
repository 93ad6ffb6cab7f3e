// CCM configuration: validated once, up front, so a bad config fails with one clear line.
import { BackoffOptions, DEFAULT_BACKOFF } from './backoff';
import type { Transport } from './transport';
import type { Witness } from './witness';
import {
  DURABILITY,
  MAX_LINKS,
  MAX_SLOTS,
  NODE_STATES,
  NodeState,
  SLOT,
  type Durability,
} from './wire/layout';
import { didYouMean } from '../nearest-name';

/** One partner of this node: where its CCM listens. */
export interface PartnerConfig {
  /** The partner's node id (integer from 1 to 2^32-1, not this node's own). */
  nodeId: number;
  /**
   * The partner's predefined address (IPv4, IPv6 or RoCE GID), or one per link: link k joins this node's
   * k-th address to the partner's k-th, and the session has as many links as both have addresses.
   */
  address: string | string[];
  /** The partner's CM port (1 … 65535), the same on each of its addresses. */
  port: number;
}

/** A partner as the validated configuration holds it. */
export interface ResolvedPartner {
  /** The partner's node id. */
  nodeId: number;
  /** The partner's first address (link 0). */
  address: string;
  /** The partner's address of each link, link 0 first. */
  addresses: string[];
  /** The partner's CM port. */
  port: number;
}

/**
 * Options of a {@link ClusterNode}, checked by {@link resolveConfig}. Durations are milliseconds: positive,
 * at most 3 600 000.
 */
export interface CcmOptions {
  /** The cluster's id, the same on every node (integer from 1 to 2^64-1; a string is parsed by `BigInt`). */
  clusterId: bigint | number | string;
  /** This node's id, unique in the cluster (integer from 1 to 2^32-1). */
  nodeId: number;
  /**
   * This node's own address (it selects the RDMA device), or one per link, each on the device of that
   * link (up to 8): the node listens on each, and link k of a session runs from its k-th address.
   */
  address: string | string[];
  /** This node's CM port (1 … 65535). */
  port: number;
  /** The partners, 1 to 8, each once; each gets a slot in this node's memory, in order of node id. */
  partners: PartnerConfig[];
  /**
   * Shared cluster secret (at least 8 bytes; a string is UTF-8 encoded): every block then carries an
   * HMAC-SHA256 and connect requests must be fresh. Without it nothing is authenticated.
   */
  secret?: string | Uint8Array;
  /**
   * Boot generation; defaults to one derived from the clock, new at every start. One given here must
   * rise from one start of the node to the next: with a secret, partners take each (generation,
   * attempt) of a node once and only rising, so a node that starts again with an old generation is
   * refused (STALE_REQUEST) until they restart.
   */
  generation?: bigint;
  /** Period of the heartbeat written to each partner and to the status block (ms; default 100). */
  heartbeatMs?: number;
  /** Partner-down is declared after this long without a heartbeat on every link (ms; default 10 × heartbeatMs, at least 2 × heartbeatMs). */
  partnerDownMs?: number;
  /** A link is declared down after this long without its own heartbeat (ms; default partnerDownMs, from 2 × heartbeatMs to partnerDownMs). */
  linkDownMs?: number;
  /** How often the partner's status block is re-read for its state (ms; default 5 × heartbeatMs). */
  statusPollMs?: number;
  /** Retry timing of the connect loop; merged over the defaults (50 ms to 2000 ms, jitter 0.2). */
  backoff?: Partial<BackoffOptions>;
  /** Bound on each attempt's CM connect; the responder's whole handshake gets this plus 2 × echoTimeoutMs (ms; default 10 000). */
  connectTimeoutMs?: number;
  /** Bound on step 3, waiting for the partner to echo our hello (ms; default 5000). */
  echoTimeoutMs?: number;
  /** Bytes of log ring each partner may write into this node's mailbox slot (multiple of 8, 4096 … 2^30; default 1 MiB). */
  logRingBytes?: number;
  /** How often the mailbox is scanned for hellos, commits and heartbeats (ms; default heartbeatMs / 4, clamped to 1 … 10). */
  pollMs?: number;
  /**
   * When a session fails, how long its unacknowledged appends wait for a new session with the same
   * boot of the partner, which then receives each exactly once (ms; default 30 000; 0 rejects them at once).
   */
  mirrorHoldMs?: number;
  /** The state published at start (default BOOTING); change it later with `setState()`. */
  initialState?: NodeState;
  /**
   * How far an `append()` that names no durability goes before it resolves (default `delivered`):
   * `delivered` (the partner's application has it), `placed` (one-sided, in the partner's memory) or
   * `persisted` (in the partner's persistent memory). With `persisted`, a partner whose log regions are
   * not persistent memory is refused at the handshake (ERR_CCM_NOT_PERSISTENT).
   */
  durability?: Durability;
  /**
   * Where this node keeps its partners' mirrored logs: a DAX device (`/dev/dax*`), a file on a DAX
   * filesystem, or a plain file (for development: not power-safe). Each partner's slot lives in it, behind
   * a header, so that after this node's crash or reboot `mirroredLog(partner)` finds what was placed there.
   */
  nvram?: NvramOptions;
  /**
   * A witness against split brain. `{ path }`: a disk (block device or file) every partner reaches, with
   * one 4096-byte slot per node, written every `intervalMs` (default 500) and a partner taken as stopped
   * when its heartbeat there has not moved for `timeoutMs` (default the larger of partnerDownMs and 4 ×
   * intervalMs). With a witness, a partner whose links all went down is declared down only once its disk
   * heartbeat stopped too; while it still advances the event is `interconnect-down`. Or any object that
   * implements {@link Witness}.
   */
  witness?: WitnessOptions | Witness;
  /**
   * Fences a partner declared down before `takeover-safe` is emitted (a call to Pacemaker's
   * `stonith_admin`, a PDU, a BMC): resolve once the partner is off, reject if it could not be. It is
   * retried (`fence-failed` each time) until it succeeds or the partner comes back. In a race the node
   * with the higher id waits `fenceDelayMs` first, so two nodes cut off from each other do not fence each
   * other at once.
   */
  fence?: (partner: number) => Promise<void> | void;
  /** How long the node with the higher id waits before it fences (ms; default 5000). */
  fenceDelayMs?: number;
  /** The network the node uses; default the RDMA transport (librdmacm and verbs). For tests. */
  transport?: Transport;
}

/** Where the mirrored logs live (docs/protocol.md, NVRAM region). */
export interface NvramOptions {
  /** A DAX character device, a file on a DAX filesystem, or a plain file; a file is created (or grown) to the size needed. */
  path: string;
  /**
   * Whether the memory survives power loss, as the status block tells partners (their `persisted`
   * appends need it). Default: true for a DAX device (`/dev/dax*`) only. Set it for memory you know is
   * persistent (battery-backed, an emulated NVDIMM), never for a plain file on a disk.
   */
  persistent?: boolean;
}

/** A disk witness: where, and its timing (ms). */
export interface WitnessOptions {
  /** The block device or file both partners reach. */
  path: string;
  /** How often this node writes its sector and reads the others' (ms; default 500). */
  intervalMs?: number;
  /** A partner whose sector's heartbeat has not moved for this long is stopped (ms; default max(partnerDownMs, 4 × intervalMs)). */
  timeoutMs?: number;
  /**
   * A kernel watchdog to arm (`/dev/watchdog`: a hardware one, or the `softdog` module), as SBD does: the
   * node writes to it only after a witness round wrote its sector, so a node that stalls is reset by the
   * kernel, and a partner waits `msgwaitMs` after its last witness heartbeat before it calls a takeover
   * by the witness alone safe. A clean stop disarms it; a process that dies leaves it to reset the host.
   */
  watchdog?: string;
  /** The watchdog's timeout (ms, whole seconds; default 5000): the device's own must be the same. */
  watchdogTimeoutMs?: number;
  /** How long after this node's last witness heartbeat its partners may take it for reset (ms; default and least 2 × watchdogTimeoutMs). */
  msgwaitMs?: number;
  /**
   * With no fencing hook, a takeover is safe by the witness alone only of a partner whose sector says it
   * arms a kernel watchdog (a msgwait): a partner without one could stall and come back acting, so its
   * partner-down says `takeover-unsafe` instead (default false).
   */
  requirePartnerWatchdog?: boolean;
}

/** A disk witness with its timing filled in, and its watchdog if one is armed. */
export interface WitnessConfig {
  /** The block device or file. */
  path: string;
  /** How often this node writes its sector and reads the others' (ms). */
  intervalMs: number;
  /** A partner whose heartbeat has not moved for this long is stopped (ms). */
  timeoutMs: number;
  /** The kernel watchdog this node arms, or null for none. */
  watchdog: {
    /** The watchdog device. */
    path: string;
    /** Its timeout (ms). */
    timeoutMs: number;
    /** How long after this node's last witness heartbeat partners may take it for reset (ms). */
    msgwaitMs: number;
  } | null;
  /** Only a partner that arms a watchdog may be taken over by the witness alone. */
  requirePartnerWatchdog: boolean;
}

/** A validated configuration with every default filled in (see {@link CcmOptions} for each field). */
export interface CcmConfig {
  /** The cluster's id. */
  clusterId: bigint;
  /** This node's id. */
  nodeId: number;
  /** This node's first address (link 0). */
  address: string;
  /** This node's address of each link, link 0 first. */
  addresses: string[];
  /** This node's CM port. */
  port: number;
  /** The partners, sorted by node id: a partner's index here is its slot index. */
  partners: ResolvedPartner[];
  /** The cluster secret's bytes, if one is set. */
  secret?: Uint8Array;
  /** This node's boot generation. */
  generation: bigint;
  /** Heartbeat period (ms). */
  heartbeatMs: number;
  /** Silence on every link after which a partner is declared down (ms). */
  partnerDownMs: number;
  /** Silence on one link after which it is declared down (ms). */
  linkDownMs: number;
  /** Period of the partner status-block reads (ms). */
  statusPollMs: number;
  /** Retry timing of the connect loop. */
  backoff: BackoffOptions;
  /** Bound on each CM connect (ms). */
  connectTimeoutMs: number;
  /** Bound on waiting for the echo of a hello (ms). */
  echoTimeoutMs: number;
  /** Log ring bytes of each partner's slot. */
  logRingBytes: number;
  /** Bytes of each partner's slot: 512 bytes of control words, then the log ring. */
  slotStride: number;
  /** Mailbox scan period (ms). */
  pollMs: number;
  /** How long unacknowledged appends of a failed session are held (ms; 0: not held). */
  mirrorHoldMs: number;
  /** The state published at start. */
  initialState: NodeState;
  /** The durability of an append that names none. */
  durability: Durability;
  /** Where the mirrored logs live, if not in ordinary memory. */
  nvram?: NvramOptions;
  /** The witness: a disk with its timing filled in, one given as an object, or none. */
  witness?: WitnessConfig | Witness;
  /** The fencing hook, if any. */
  fence?: (partner: number) => Promise<void> | void;
  /** The higher id's wait before it fences (ms). */
  fenceDelayMs: number;
  /** The transport given in the options; unset means the RDMA transport. */
  transport?: Transport;
}

/** An invalid {@link CcmOptions} field; the message names the field and what it must be. */
export class ConfigError extends Error {
  /** Always `'ERR_CCM_CONFIG'`. */
  readonly code = 'ERR_CCM_CONFIG';
  /**
   * The field the message is about, as the message names it (`heartbeatMs`, `partners[1].port`,
   * `witness.intervalMs`), when it is about one field.
   */
  readonly key?: string;
  constructor(message: string, key?: string) {
    super(message);
    this.name = 'ConfigError';
    if (key !== undefined) this.key = key;
  }
}

/** The keys of each object in {@link CcmOptions}: any other key is refused, as a typo would silently drop a setting. */
const KNOWN_KEYS = {
  options: [
    'clusterId',
    'nodeId',
    'address',
    'port',
    'partners',
    'secret',
    'generation',
    'heartbeatMs',
    'partnerDownMs',
    'linkDownMs',
    'statusPollMs',
    'backoff',
    'connectTimeoutMs',
    'echoTimeoutMs',
    'logRingBytes',
    'pollMs',
    'mirrorHoldMs',
    'initialState',
    'durability',
    'nvram',
    'witness',
    'fence',
    'fenceDelayMs',
    'transport',
  ],
  partner: ['nodeId', 'address', 'port'],
  backoff: ['minMs', 'maxMs', 'jitter'],
  nvram: ['path', 'persistent'],
  witness: [
    'path',
    'intervalMs',
    'timeoutMs',
    'watchdog',
    'watchdogTimeoutMs',
    'msgwaitMs',
    'requirePartnerWatchdog',
  ],
} as const satisfies Record<string, readonly string[]>;

/** Options that are code, not data: a JSON configuration file cannot hold them. */
const CODE_KEYS: readonly string[] = ['fence', 'transport', 'generation'];

function knownKeys(o: unknown, known: readonly string[], where: string): void {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return;
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue;
    const path = where ? `${where}.${k}` : k;
    throw new ConfigError(`unknown key "${path}"${didYouMean(k, known)}`, path);
  }
}

/**
 * Refuses any key {@link CcmOptions} does not have, at any depth, naming the nearest known one:
 * `unknown key "witnes" (did you mean "witness"?)`. With `json`, also the options a JSON file cannot
 * express (`fence`, `transport`, `generation`: a bigint). {@link resolveConfig} calls it; a command that
 * reads a configuration file calls it on the file's object.
 */
export function checkOptionKeys(o: unknown, { json = false }: { json?: boolean } = {}): void {
  knownKeys(o, json ? KNOWN_KEYS.options.filter((k) => !CODE_KEYS.includes(k)) : KNOWN_KEYS.options, '');
  if (typeof o !== 'object' || o === null) return;
  const opts = o as Record<string, unknown>;
  if (Array.isArray(opts.partners))
    opts.partners.forEach((p, i) => knownKeys(p, KNOWN_KEYS.partner, `partners[${i}]`));
  knownKeys(opts.backoff, KNOWN_KEYS.backoff, 'backoff');
  knownKeys(opts.nvram, KNOWN_KEYS.nvram, 'nvram');
  // A Witness object (start, view, …) is the application's own: only { path, … } is checked.
  const w = opts.witness as { start?: unknown } | undefined;
  if (typeof w?.start !== 'function') knownKeys(w, KNOWN_KEYS.witness, 'witness');
}

function u32(v: unknown, name: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0xffffffff)
    throw new ConfigError(`${name} must be an integer from ${min} to 4294967295, got ${String(v)}`, name);
  return v;
}

function ms(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 3_600_000)
    throw new ConfigError(`${name} must be a positive number of milliseconds, got ${String(v)}`, name);
  return v;
}

function address(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64)
    throw new ConfigError(`${name} must be an IPv4, IPv6 or GID address string, got ${String(v)}`, name);
  return v;
}

function addresses(v: unknown, name: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || list.length > MAX_LINKS)
    throw new ConfigError(`${name} must be an address or a list of 1 to ${MAX_LINKS} addresses`, name);
  const out = list.map((a, i) => address(a, Array.isArray(v) ? `${name}[${i}]` : name));
  if (new Set(out).size !== out.length) throw new ConfigError(`${name} lists an address twice`, name);
  return out;
}

function port(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535)
    throw new ConfigError(`${name} must be a port from 1 to 65535, got ${String(v)}`, name);
  return v;
}

function fenceHook(f: unknown): CcmConfig['fence'] {
  if (f === undefined) return undefined;
  if (typeof f !== 'function')
    throw new ConfigError('fence must be a function (partner) => Promise<void>', 'fence');
  return f as CcmConfig['fence'];
}

function witnessConfig(w: CcmOptions['witness'], partnerDownMs: number): CcmConfig['witness'] {
  if (w === undefined) return undefined;
  if (typeof w !== 'object' || w === null)
    throw new ConfigError('witness must be { path } or a Witness', 'witness');
  if (typeof (w as Witness).start === 'function' && typeof (w as Witness).view === 'function')
    return w as Witness;
  const o = w as WitnessOptions;
  if (typeof o.path !== 'string' || o.path.length === 0)
    throw new ConfigError('witness.path must be the path of a block device or file', 'witness.path');
  const intervalMs = ms(o.intervalMs, 'witness.intervalMs', 500);
  const timeoutMs = ms(o.timeoutMs, 'witness.timeoutMs', Math.max(partnerDownMs, 4 * intervalMs));
  if (timeoutMs < 2 * intervalMs)
    throw new ConfigError('witness.timeoutMs must be at least twice witness.intervalMs', 'witness.timeoutMs');
  if (o.requirePartnerWatchdog !== undefined && typeof o.requirePartnerWatchdog !== 'boolean')
    throw new ConfigError(
      'witness.requirePartnerWatchdog must be true or false',
      'witness.requirePartnerWatchdog',
    );
  return {
    path: o.path,
    intervalMs,
    timeoutMs,
    watchdog: watchdogConfig(o, intervalMs),
    requirePartnerWatchdog: o.requirePartnerWatchdog === true,
  };
}

function watchdogConfig(o: WitnessOptions, intervalMs: number): WitnessConfig['watchdog'] {
  if (o.watchdog === undefined) {
    for (const k of ['watchdogTimeoutMs', 'msgwaitMs'] as const)
      if (o[k] !== undefined) throw new ConfigError(`witness.${k} needs witness.watchdog`, `witness.${k}`);
    return null;
  }
  if (typeof o.watchdog !== 'string' || o.watchdog.length === 0)
    throw new ConfigError('witness.watchdog must be the path of a watchdog device', 'witness.watchdog');
  const timeoutMs = ms(o.watchdogTimeoutMs, 'witness.watchdogTimeoutMs', 5000);
  if (timeoutMs % 1000 !== 0 || timeoutMs < 2 * intervalMs)
    throw new ConfigError(
      'witness.watchdogTimeoutMs must be whole seconds and at least twice witness.intervalMs',
      'witness.watchdogTimeoutMs',
    );
  const msgwaitMs = ms(o.msgwaitMs, 'witness.msgwaitMs', 2 * timeoutMs);
  if (msgwaitMs < 2 * timeoutMs)
    throw new ConfigError(
      'witness.msgwaitMs must be at least twice witness.watchdogTimeoutMs',
      'witness.msgwaitMs',
    );
  return { path: o.watchdog, timeoutMs, msgwaitMs };
}

function nvramConfig(n: CcmOptions['nvram']): NvramOptions | undefined {
  if (n === undefined) return undefined;
  if (typeof n !== 'object' || n === null || typeof n.path !== 'string' || n.path.length === 0)
    throw new ConfigError('nvram.path must name a DAX device or a file', 'nvram.path');
  if (n.persistent !== undefined && typeof n.persistent !== 'boolean')
    throw new ConfigError('nvram.persistent must be a boolean', 'nvram.persistent');
  return { path: n.path, persistent: n.persistent };
}

/** A new boot generation: milliseconds since the epoch × 1024 plus 10 random bits, so it rises from one boot to the next while the clock does. */
export function newGeneration(): bigint {
  // Milliseconds since the epoch times 1024 plus randomness: strictly new at each boot of a node.
  return (BigInt(Date.now()) << 10n) | BigInt(Math.floor(Math.random() * 1024));
}

/**
 * Validates `o` and fills in the defaults. Throws {@link ConfigError} (code ERR_CCM_CONFIG) on the first
 * invalid field. The `ClusterNode` constructor calls it.
 */
export function resolveConfig(o: CcmOptions): CcmConfig {
  if (typeof o !== 'object' || o === null) throw new ConfigError('options must be an object');
  checkOptionKeys(o);
  let clusterId: bigint;
  try {
    clusterId = BigInt(o.clusterId as bigint);
  } catch {
    throw new ConfigError(`clusterId must be an integer, got ${String(o.clusterId)}`, 'clusterId');
  }
  if (clusterId <= 0n || clusterId > 0xffffffffffffffffn)
    throw new ConfigError(`clusterId must be from 1 to 2^64-1, got ${clusterId}`, 'clusterId');
  const nodeId = u32(o.nodeId, 'nodeId', 1);
  if (!Array.isArray(o.partners) || o.partners.length === 0)
    throw new ConfigError('partners must list at least one partner', 'partners');
  if (o.partners.length > MAX_SLOTS)
    throw new ConfigError(`partners must list at most ${MAX_SLOTS} partners`, 'partners');
  const seen = new Set<number>();
  const partners = o.partners.map((p, i) => {
    const id = u32(p?.nodeId, `partners[${i}].nodeId`, 1);
    if (id === nodeId) throw new ConfigError(`partners[${i}] has this node's own id ${id}`, `partners[${i}]`);
    if (seen.has(id))
      throw new ConfigError(`partners[${i}] lists partner ${id} a second time`, `partners[${i}]`);
    seen.add(id);
    const list = addresses(p.address, `partners[${i}].address`);
    return { nodeId: id, address: list[0], addresses: list, port: port(p.port, `partners[${i}].port`) };
  });
  const secret =
    o.secret === undefined
      ? undefined
      : typeof o.secret === 'string'
        ? new TextEncoder().encode(o.secret)
        : o.secret;
  if (secret !== undefined && (!(secret instanceof Uint8Array) || secret.byteLength < 8))
    throw new ConfigError('secret must be at least 8 bytes', 'secret');
  const heartbeatMs = ms(o.heartbeatMs, 'heartbeatMs', 100);
  const partnerDownMs = ms(o.partnerDownMs, 'partnerDownMs', 10 * heartbeatMs);
  if (partnerDownMs < 2 * heartbeatMs)
    throw new ConfigError('partnerDownMs must be at least twice heartbeatMs', 'partnerDownMs');
  const linkDownMs = ms(o.linkDownMs, 'linkDownMs', partnerDownMs);
  if (linkDownMs < 2 * heartbeatMs || linkDownMs > partnerDownMs)
    throw new ConfigError('linkDownMs must be from twice heartbeatMs to partnerDownMs', 'linkDownMs');
  const own = addresses(o.address, 'address');
  const logRingBytes = o.logRingBytes ?? 1 << 20;
  if (
    !Number.isInteger(logRingBytes) ||
    logRingBytes < 4096 ||
    logRingBytes > 1 << 30 ||
    logRingBytes % 8 !== 0
  )
    throw new ConfigError(
      `logRingBytes must be a multiple of 8 from 4096 to 2^30, got ${String(logRingBytes)}`,
      'logRingBytes',
    );
  const state = o.initialState ?? 'BOOTING';
  if (!NODE_STATES.includes(state))
    throw new ConfigError(
      `initialState must be one of ${NODE_STATES.join(', ')}, got ${String(state)}`,
      'initialState',
    );
  if (o.generation !== undefined && (typeof o.generation !== 'bigint' || o.generation <= 0n))
    throw new ConfigError('generation must be a positive bigint', 'generation');
  const durability = o.durability ?? 'delivered';
  if (!DURABILITY.includes(durability))
    throw new ConfigError(
      `durability must be one of ${DURABILITY.join(', ')}, got ${String(durability)}`,
      'durability',
    );
  return {
    clusterId,
    nodeId,
    address: own[0],
    addresses: own,
    port: port(o.port, 'port'),
    partners: partners.sort((a, b) => a.nodeId - b.nodeId),
    secret,
    generation: o.generation ?? newGeneration(),
    heartbeatMs,
    partnerDownMs,
    linkDownMs,
    statusPollMs: ms(o.statusPollMs, 'statusPollMs', 5 * heartbeatMs),
    backoff: { ...DEFAULT_BACKOFF, ...o.backoff },
    connectTimeoutMs: ms(o.connectTimeoutMs, 'connectTimeoutMs', 10_000),
    echoTimeoutMs: ms(o.echoTimeoutMs, 'echoTimeoutMs', 5000),
    logRingBytes,
    slotStride: SLOT.size + logRingBytes,
    pollMs: ms(o.pollMs, 'pollMs', Math.max(1, Math.min(10, heartbeatMs / 4))),
    mirrorHoldMs: o.mirrorHoldMs === 0 ? 0 : ms(o.mirrorHoldMs, 'mirrorHoldMs', 30_000),
    initialState: state,
    durability,
    nvram: nvramConfig(o.nvram),
    witness: witnessConfig(o.witness, partnerDownMs),
    fence: fenceHook(o.fence),
    fenceDelayMs: o.fenceDelayMs === 0 ? 0 : ms(o.fenceDelayMs, 'fenceDelayMs', 5000),
    transport: o.transport,
  };
}
