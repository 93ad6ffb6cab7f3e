// CCM configuration: validated once, up front, so a bad config fails with one clear line.
import { BackoffOptions, DEFAULT_BACKOFF } from './backoff';
import type { Transport } from './transport';
import { MAX_SLOTS, NODE_STATES, NodeState, SLOT } from './wire/layout';

export interface PartnerConfig {
  nodeId: number;
  /** The partner's predefined address: IPv4, IPv6 or RoCE GID. */
  address: string;
  port: number;
}

export interface CcmOptions {
  clusterId: bigint | number | string;
  nodeId: number;
  /** This node's own address (selects the RDMA device) and CM port. */
  address: string;
  port: number;
  partners: PartnerConfig[];
  /** Shared cluster secret: hellos, echoes and commits then carry an HMAC. */
  secret?: string | Uint8Array;
  /**
   * Boot generation; defaults to one derived from the clock, new at every start. One given here must
   * rise from one start of the node to the next: with a secret, partners take each (generation,
   * attempt) of a node once and only rising, so a node that starts again with an old generation is
   * refused (STALE_REQUEST) until they restart.
   */
  generation?: bigint;
  heartbeatMs?: number;
  /** Partner-down is declared after this long without a heartbeat. */
  partnerDownMs?: number;
  /** How often the partner's status block is re-read for its state (ms). */
  statusPollMs?: number;
  backoff?: Partial<BackoffOptions>;
  connectTimeoutMs?: number;
  /** Bound on step 3, waiting for the partner to echo our hello (ms). */
  echoTimeoutMs?: number;
  /** Bytes of log ring each partner may write into this node's mailbox slot. */
  logRingBytes?: number;
  /** How often the mailbox is scanned for hellos, commits and heartbeats (ms). */
  pollMs?: number;
  /**
   * When a session fails, how long its unacknowledged appends wait for a new session with the same
   * boot of the partner, which then receives each exactly once (ms; 0 rejects them at once).
   */
  mirrorHoldMs?: number;
  initialState?: NodeState;
  transport?: Transport;
}

export interface CcmConfig {
  clusterId: bigint;
  nodeId: number;
  address: string;
  port: number;
  partners: PartnerConfig[];
  secret?: Uint8Array;
  generation: bigint;
  heartbeatMs: number;
  partnerDownMs: number;
  statusPollMs: number;
  backoff: BackoffOptions;
  connectTimeoutMs: number;
  echoTimeoutMs: number;
  logRingBytes: number;
  slotStride: number;
  pollMs: number;
  mirrorHoldMs: number;
  initialState: NodeState;
  transport?: Transport;
}

export class ConfigError extends Error {
  readonly code = 'ERR_CCM_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function u32(v: unknown, name: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0xffffffff) throw new ConfigError(`${name} must be an integer from ${min} to 4294967295, got ${String(v)}`);
  return v;
}

function ms(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 3_600_000) throw new ConfigError(`${name} must be a positive number of milliseconds, got ${String(v)}`);
  return v;
}

function address(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) throw new ConfigError(`${name} must be an IPv4, IPv6 or GID address string`);
  return v;
}

function port(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw new ConfigError(`${name} must be a port from 1 to 65535, got ${String(v)}`);
  return v;
}

export function newGeneration(): bigint {
  // Milliseconds since the epoch times 1024 plus randomness: strictly new at each boot of a node.
  return (BigInt(Date.now()) << 10n) | BigInt(Math.floor(Math.random() * 1024));
}

export function resolveConfig(o: CcmOptions): CcmConfig {
  if (typeof o !== 'object' || o === null) throw new ConfigError('options must be an object');
  let clusterId: bigint;
  try {
    clusterId = BigInt(o.clusterId as bigint);
  } catch {
    throw new ConfigError(`clusterId must be an integer, got ${String(o.clusterId)}`);
  }
  if (clusterId <= 0n || clusterId > 0xffffffffffffffffn) throw new ConfigError('clusterId must be from 1 to 2^64-1');
  const nodeId = u32(o.nodeId, 'nodeId', 1);
  if (!Array.isArray(o.partners) || o.partners.length === 0) throw new ConfigError('partners must list at least one partner');
  if (o.partners.length > MAX_SLOTS) throw new ConfigError(`at most ${MAX_SLOTS} partners`);
  const seen = new Set<number>();
  const partners = o.partners.map((p, i) => {
    const id = u32(p?.nodeId, `partners[${i}].nodeId`, 1);
    if (id === nodeId) throw new ConfigError(`partners[${i}] has this node's own id ${id}`);
    if (seen.has(id)) throw new ConfigError(`partner ${id} is listed twice`);
    seen.add(id);
    return { nodeId: id, address: address(p.address, `partners[${i}].address`), port: port(p.port, `partners[${i}].port`) };
  });
  const secret = o.secret === undefined ? undefined : typeof o.secret === 'string' ? new TextEncoder().encode(o.secret) : o.secret;
  if (secret !== undefined && (!(secret instanceof Uint8Array) || secret.byteLength < 8)) throw new ConfigError('secret must be at least 8 bytes');
  const heartbeatMs = ms(o.heartbeatMs, 'heartbeatMs', 100);
  const partnerDownMs = ms(o.partnerDownMs, 'partnerDownMs', 10 * heartbeatMs);
  if (partnerDownMs < 2 * heartbeatMs) throw new ConfigError('partnerDownMs must be at least twice heartbeatMs');
  const logRingBytes = o.logRingBytes ?? 1 << 20;
  if (!Number.isInteger(logRingBytes) || logRingBytes < 4096 || logRingBytes > 1 << 30 || logRingBytes % 8 !== 0) throw new ConfigError('logRingBytes must be a multiple of 8 from 4096 to 2^30');
  const state = o.initialState ?? 'BOOTING';
  if (!NODE_STATES.includes(state)) throw new ConfigError(`initialState must be one of ${NODE_STATES.join(', ')}`);
  if (o.generation !== undefined && (typeof o.generation !== 'bigint' || o.generation <= 0n)) throw new ConfigError('generation must be a positive bigint');
  return {
    clusterId,
    nodeId,
    address: address(o.address, 'address'),
    port: port(o.port, 'port'),
    partners: partners.sort((a, b) => a.nodeId - b.nodeId),
    secret,
    generation: o.generation ?? newGeneration(),
    heartbeatMs,
    partnerDownMs,
    statusPollMs: ms(o.statusPollMs, 'statusPollMs', 5 * heartbeatMs),
    backoff: { ...DEFAULT_BACKOFF, ...o.backoff },
    connectTimeoutMs: ms(o.connectTimeoutMs, 'connectTimeoutMs', 10_000),
    echoTimeoutMs: ms(o.echoTimeoutMs, 'echoTimeoutMs', 5000),
    logRingBytes,
    slotStride: SLOT.size + logRingBytes,
    pollMs: ms(o.pollMs, 'pollMs', Math.max(1, Math.min(10, heartbeatMs / 4))),
    mirrorHoldMs: o.mirrorHoldMs === 0 ? 0 : ms(o.mirrorHoldMs, 'mirrorHoldMs', 30_000),
    initialState: state,
    transport: o.transport,
  };
}
