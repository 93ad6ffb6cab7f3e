// MemoryRegion: registered memory that work requests read and write, locally (lkey) or remotely (rkey).
import { codeError } from '../errors';
import { native, type NativeMr } from '../native';
import type { ProtectionDomain } from './pd';

/** A scatter/gather entry: a byte range of a memory region that a work request reads or writes. */
export interface Sge {
  /** The region; it must belong to the queue pair's protection domain (else ERR_WRONG_PD). */
  mr: MemoryRegion;
  /** Byte offset in the region (default 0). */
  offset?: number;
  /** Bytes (default: the rest of the region). */
  length?: number;
}

/**
 * Registered memory (ibv_reg_mr(3)) that work requests read and write, locally (lkey) or, with the
 * partner holding addr and rkey, remotely. Keeps its memory and its protection domain alive.
 * @example
 * ```ts
 * import { Access, Context } from 'rdma-ccm/verbs';
 * const pd = new Context('rxe0').allocPd();
 * const mr = pd.allocMemory(4096, Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ);
 * mr.buffer.write('hello');                       // the registered bytes, as a Buffer
 * // what a partner needs to READ or WRITE it:
 * const exposed = { addr: mr.addr, rkey: mr.rkey };
 * // or register memory you already have
 * const own = pd.registerMemory(new Uint8Array(8192), Access.LOCAL_WRITE);
 * ```
 */
export class MemoryRegion {
  /** @internal */
  readonly native: NativeMr;
  /** The protection domain the region is registered in. */
  readonly pd: ProtectionDomain;
  /** Virtual address of the first byte: what a partner passes as `remoteAddr`. */
  readonly addr: bigint;
  /** Size in bytes. */
  readonly length: number;
  /** Local key, for this side's scatter/gather entries. */
  readonly lkey: number;
  /** Remote key, for partners' RDMA and atomic operations on the region. */
  readonly rkey: number;
  /** The Access flags the region was registered with. */
  readonly access: number;
  /**
   * The region's number, what a fast-path descriptor names it by (Desc.MR). A closed region's number
   * is given to a later region.
   */
  readonly id: number;
  private view: Buffer | null = null;
  /** @internal Work requests posted with this region and not yet completed. */
  inflight = 0;
  /** @internal close() has run (the only way a reachable region closes). */
  _closed = false;

  /** @internal Made by pd.registerMemory() / pd.allocMemory(). */
  constructor(pd: ProtectionDomain, memory: ArrayBuffer | ArrayBufferView | number, access: number) {
    this.native = new native.MemoryRegion(pd.native, memory, access);
    this.pd = pd;
    this.access = access;
    const info = this.native.info();
    this.addr = info.addr;
    this.length = info.length;
    this.lkey = info.lkey;
    this.rkey = info.rkey;
    this.id = info.id;
  }

  /** True once close() has run. */
  get closed(): boolean {
    return this.native.closed;
  }

  /** The registered bytes, zero-copy. Read for the first time after close(), throws ERR_CLOSED. */
  get buffer(): Buffer {
    if (this.view) return this.view;
    const m = this.native.buffer();
    if (Buffer.isBuffer(m)) this.view = m;
    else if (m instanceof ArrayBuffer) this.view = Buffer.from(m, 0, this.length);
    else this.view = Buffer.from(m.buffer, m.byteOffset, this.length);
    return this.view!;
  }

  /** Deregisters (ibv_dereg_mr(3)). Fails with ERR_BUSY while a work request using the region is in flight. Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.inflight > 0)
      throw codeError('ERR_BUSY', `MemoryRegion is used by ${this.inflight} work requests in flight`);
    this.native.close();
    this._closed = true;
  }

  /** Same as close(). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** An SGE with its defaults filled in (the rest of the region from offset 0); the addon checks its bounds. */
export function sgeOf(s: Sge, index: number): { mr: MemoryRegion; offset: number; length: number } {
  if (!s || !(s.mr instanceof MemoryRegion))
    throw codeError('ERR_INVALID_ARG_TYPE', `sgl[${index}].mr must be a MemoryRegion`);
  const offset = s.offset ?? 0;
  return { mr: s.mr, offset, length: s.length ?? s.mr.length - offset };
}
