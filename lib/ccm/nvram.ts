// A node's NVRAM region: where its partners' mirrored logs live when they must outlive this node's
// process, its reboot or (on persistent memory) its power loss. One part per partner, in the order of
// the partner list: a page holding the region header (docs/protocol.md) and, at its end, the slot's
// control words, then the ring, so the slot the partner writes is one contiguous range whose ring
// starts on a page. At start the owner reads each header back: a part that is its own for that partner
// and ring size keeps its tail word and ring, which `mirroredLog(partner, { atStart: true })` replays;
// any other part is cleared before the partner may write it.
import { existsSync } from 'node:fs';
import { native } from '../native';
import { ConfigError, resolveConfig, type CcmConfig, type CcmOptions } from './config';
import { MirroredLogError, readMirroredLog, type MirroredLog } from './mirrored-log';
import { ProtocolError } from './wire/errors';
import { LOG_TAIL, NVRAM, SLOT } from './wire/layout';
import { decodeNvramHeader, encodeNvramHeader } from './wire/nvram-header';

/** What opening the region found in one partner's part. */
export interface NvramPart {
  /**
   * The log the part held at start (a replay of copies taken then), or null when it held none. A part
   * refused by its header, or whose tail word is damaged, gives an empty log whose error is
   * ERR_CCM_LOG_DAMAGED: what it held is lost, never silently.
   */
  log: MirroredLog | null;
  /** The partner boot whose log it held (0n: none). */
  generation: bigint;
  /** Why the part's header was refused (it was cleared), or null. */
  refused: ProtocolError | null;
}

export class NvramRegion {
  /** Bytes of one partner's part: the header page, then the ring (rounded up to whole pages). */
  readonly stride: number;
  /** The memory survives power loss (as the status block tells partners). */
  readonly persistent: boolean;
  /** Per partner (in partner-list order): what its part held at start. */
  readonly parts: NvramPart[];
  private readonly memory: Buffer;
  /** The mapping is DAX (MAP_SYNC, or device DAX): no page cache, stores are made durable from the CPU caches. */
  private readonly dax: boolean;

  /**
   * Maps `cfg.nvram.path` and reads back each partner's part. Throws the mapping's system error. With
   * `readOnly` (a dump), nothing is cleared or written.
   */
  constructor(
    private readonly cfg: CcmConfig,
    private readonly readOnly = false,
  ) {
    const nv = cfg.nvram!;
    this.stride = NVRAM.ringOffset + Math.ceil(cfg.logRingBytes / 4096) * 4096;
    const mapped = native.mapFile(nv.path, this.stride * cfg.partners.length, readOnly);
    this.memory = mapped.buffer;
    this.dax = mapped.sync;
    this.persistent = nv.persistent ?? mapped.device;
    this.parts = cfg.partners.map((p, i) => this.open(i, p.nodeId));
  }

  private base(i: number): number {
    return i * this.stride;
  }

  /** Partner `i`'s slot: control words just before the ring, then the ring. */
  slot(i: number): Uint8Array {
    const slot = this.base(i) + NVRAM.slot;
    return this.memory.subarray(slot, slot + SLOT.size + this.cfg.logRingBytes);
  }

  private open(i: number, partner: number): NvramPart {
    const base = this.base(i);
    const o = {
      clusterId: this.cfg.clusterId,
      owner: this.cfg.nodeId,
      partner,
      regionSize: BigInt(this.stride),
      secret: this.cfg.secret,
    };
    let header;
    let refused: ProtocolError | null = null;
    try {
      // A copy: the header is validated apart from memory a partner could reach (it cannot: the slot starts after it).
      header = decodeNvramHeader(this.memory.slice(base, base + NVRAM.size), o);
      // The owner writes the header before any partner may write the slot: a zero header over data is damage.
      if (!header && this.slot(i).some((b) => b !== 0))
        throw new ProtocolError('ERR_CCM_MAGIC', 'nvram', 'the header is zero, but the part holds data');
      if (header && header.ringSize !== BigInt(this.cfg.logRingBytes))
        throw new ProtocolError(
          'ERR_CCM_FIELD',
          'nvram',
          `a ring of ${header.ringSize} bytes, but logRingBytes is ${this.cfg.logRingBytes}`,
        );
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      refused = e;
      header = null;
    }
    const slot = this.slot(i);
    let log: MirroredLog | null = null;
    // Copies (a Buffer's slice() is a view): a partner's next session writes over these bytes, and the log
    // found at start must stay what it was.
    if (header)
      log = readMirroredLog(
        new Uint8Array(slot.subarray(SLOT.tail, SLOT.tail + LOG_TAIL.size)),
        new Uint8Array(slot.subarray(SLOT.size)),
      );
    if (refused)
      log = {
        stream: 0,
        released: 0n,
        records: [],
        error: new MirroredLogError('ERR_CCM_LOG_DAMAGED', `the part was refused: ${refused.message}`, 1n),
      };
    const generation = header?.generation ?? 0n;
    const part = { log: log && (log.stream !== 0 || log.error) ? log : null, generation, refused };
    if (this.readOnly) return part;
    if (!header) this.memory.fill(0, base, base + this.stride);
    // What a refused part held is lost: a tail word no replay accepts says so at every start, until a
    // writer's first tail word replaces it.
    if (refused) this.poisonTail(i);
    this.writeHeader(i, partner, generation);
    return part;
  }

  private poisonTail(i: number): void {
    const tail = this.base(i) + NVRAM.slot + SLOT.tail;
    const word = this.memory.subarray(tail, tail + LOG_TAIL.size);
    word.fill(0);
    word.writeUInt32LE(0xffffffff, LOG_TAIL.stream); // a stream, and no checksum over it
    native.syncMapped(this.memory, tail, LOG_TAIL.size, this.dax);
  }

  /** Records that the ring of partner `i` now belongs to its boot `generation`. */
  setGeneration(i: number, generation: bigint): void {
    if (this.parts[i].generation === generation) return;
    this.parts[i].generation = generation;
    this.writeHeader(i, this.cfg.partners[i].nodeId, generation);
  }

  private writeHeader(i: number, partner: number, generation: bigint): void {
    const base = this.base(i);
    const h = encodeNvramHeader(
      {
        clusterId: this.cfg.clusterId,
        owner: this.cfg.nodeId,
        partner,
        generation,
        ringSize: BigInt(this.cfg.logRingBytes),
        persistent: this.persistent,
      },
      this.cfg.secret,
    );
    this.memory.set(h, base);
    native.syncMapped(this.memory, base, NVRAM.size, this.dax);
  }
}

/**
 * The log of `partner` in the NVRAM region of the node `options` configure, read without starting the
 * node and without writing the region (`rdma-ccm node --dump-log`). A region part refused by its header
 * throws its ProtocolError; a part never written is an empty log.
 */
export function readNvramLog(options: CcmOptions, partner: number): MirroredLog {
  const cfg = resolveConfig(options);
  if (!cfg.nvram) throw new ConfigError('reading a mirrored log needs nvram: { path }');
  if (!existsSync(cfg.nvram.path)) throw new ConfigError(`no NVRAM region at ${cfg.nvram.path}`);
  const i = cfg.partners.findIndex((p) => p.nodeId === partner);
  if (i < 0) throw new ConfigError(`node ${partner} is not a configured partner`);
  const part = new NvramRegion(cfg, true).parts[i];
  if (part.refused) throw part.refused;
  return part.log ?? { stream: 0, released: 0n, records: [], error: null };
}
