// MemoryRegion: registered memory that work requests read and write, locally (lkey) or remotely (rkey).
import { codeError } from '../errors';
import { native } from '../native';
import type { ProtectionDomain } from './pd';

export interface Sge {
  mr: MemoryRegion;
  /** Byte offset in the region (default 0). */
  offset?: number;
  /** Bytes (default: the rest of the region). */
  length?: number;
}

export class MemoryRegion {
  /** @internal */
  readonly native: any;
  readonly pd: ProtectionDomain;
  readonly addr: bigint;
  readonly length: number;
  readonly lkey: number;
  readonly rkey: number;
  readonly access: number;
  private view: Buffer | null = null;
  /** @internal Work requests posted with this region and not yet completed. */
  inflight = 0;

  /** Prefer pd.registerMemory() / pd.allocMemory(). */
  constructor(pd: ProtectionDomain, memory: ArrayBuffer | ArrayBufferView | number, access: number) {
    this.native = new native.MemoryRegion(pd.native, memory, access);
    this.pd = pd;
    this.access = access;
    const info = this.native.info();
    this.addr = info.addr;
    this.length = info.length;
    this.lkey = info.lkey;
    this.rkey = info.rkey;
  }

  get closed(): boolean {
    return this.native.closed;
  }

  /** The registered bytes, zero-copy. */
  get buffer(): Buffer {
    if (this.view) return this.view;
    const m = this.native.buffer();
    if (Buffer.isBuffer(m)) this.view = m;
    else if (m instanceof ArrayBuffer) this.view = Buffer.from(m, 0, this.length);
    else this.view = Buffer.from(m.buffer, m.byteOffset, this.length);
    return this.view!;
  }

  /** Deregisters. Fails with ERR_BUSY while a work request using the region is in flight. Idempotent. */
  close(): void {
    if (this.closed) return;
    if (this.inflight > 0) throw codeError('ERR_BUSY', `MemoryRegion is used by ${this.inflight} work requests in flight`);
    this.native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Normalises and bounds-checks an SGE in JS (the native side checks again). */
export function sgeOf(s: Sge, name = 'sge'): { mr: MemoryRegion; offset: number; length: number } {
  if (!s || !(s.mr instanceof MemoryRegion)) throw codeError('ERR_INVALID_ARG_TYPE', `${name}.mr must be a MemoryRegion`, 'TypeError');
  const offset = s.offset ?? 0;
  const length = s.length ?? s.mr.length - offset;
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > s.mr.length)
    throw codeError('ERR_OUT_OF_RANGE', `${name}: [${offset}, +${length}) is outside the region of ${s.mr.length} bytes`, 'RangeError');
  return { mr: s.mr, offset, length };
}
