// Work requests: what qp.postSend(), qp.postRecv() and srq.postRecv() take, and their conversion to
// what the addon reads (opcode and flags as numbers, native objects), with the objects each request
// keeps in flight until it completes. The addon checks every field; here names become numbers.
import { codeError } from '../errors';
import type { NativeRecvWr, NativeSendWr, NativeSge } from '../native';
import { OpcodeName, SendFlags } from './access';
import type { AddressHandle } from './ah';
import { MemoryRegion, Sge, sgeOf } from './mr';
import type { MemoryWindow } from './mw';

/**
 * A send work request (ibv_send_wr) for qp.postSend() / qp.prepareSend(). UD QPs only SEND; UC QPs
 * cannot READ or use atomics (ERR_UNSUPPORTED); an unknown opcode fails with ERR_UNKNOWN_OPCODE.
 */
export interface SendWr {
  /** Caller's id, below 2^63 (ids at or above are the library's own); ERR_OUT_OF_RANGE otherwise. */
  wrId: bigint;
  /** What to do. */
  opcode: OpcodeName;
  /** Local data: up to 64 entries, in regions of the QP's protection domain. */
  sgl?: Sge[];
  /** Generate a completion (an unsignaled request is retired with the next signaled one). */
  signaled?: boolean;
  /** Copy the data into the request (total at most the QP's maxInlineData, else ERR_OUT_OF_RANGE). */
  inline?: boolean;
  /** Start only once earlier READs and atomics have completed. */
  fence?: boolean;
  /** Set the solicited event bit. */
  solicited?: boolean;
  /** SEND_WITH_IMM / RDMA_WRITE_WITH_IMM (required there): 32 bits of immediate data, host byte order. */
  imm?: number;
  /** RDMA and atomics: the partner's address (its MemoryRegion.addr plus an offset; 8-byte aligned for atomics). */
  remoteAddr?: bigint;
  /** RDMA and atomics: the partner's rkey for that memory. */
  rkey?: number;
  /** Atomics: the value to compare (CMP_AND_SWP) or to add (FETCH_AND_ADD). */
  compareAdd?: bigint;
  /** ATOMIC_CMP_AND_SWP: the value written when the compare matches. */
  swap?: bigint;
  /** UD: where the message goes. */
  ah?: AddressHandle;
  /** UD: the destination QP number (required). */
  remoteQpn?: number;
  /** UD: the destination QP's Q_Key (required). */
  remoteQkey?: number;
  /** BIND_MW (type 2 windows): the window and what it exposes. */
  mw?: MemoryWindow;
  /** BIND_MW: the range and access the window grants (length above 0). */
  bind?: WindowBind;
  /** LOCAL_INV / SEND_WITH_INV: the window rkey to revoke. */
  invalidateRkey?: number;
  /** ATOMIC_WRITE: the 8 bytes placed at remoteAddr (8-byte aligned), as this host stores the bigint. */
  value?: bigint;
  /** FLUSH: where earlier writes are placed, and how much of the partner's memory (at remoteAddr, rkey). */
  flush?: FlushTarget;
}

/**
 * What a FLUSH work request makes durable at the partner (the IBTA memory placement extensions): the
 * partner's region must allow it (Access.FLUSH_GLOBAL / FLUSH_PERSISTENT), as must the partner's QP.
 */
export interface FlushTarget {
  /** 'global': visible to every reader of the memory; 'persistent': also survives power loss. */
  placement: 'global' | 'persistent';
  /** 'range' (default): `length` bytes from remoteAddr; 'region': the whole region of the rkey. */
  selectivity?: 'range' | 'region';
  /** Bytes from remoteAddr (required for a range). */
  length?: number;
}

/** What a memory window exposes: a range of a region registered with Access.MW_BIND. */
export interface WindowBind {
  /** The region, of the window's protection domain (else ERR_WRONG_PD). */
  mr: MemoryRegion;
  /** Byte offset in the region (default 0). */
  offset?: number;
  /** Bytes exposed; 0 unbinds a type 1 window. */
  length: number;
  /** Access.REMOTE_READ | REMOTE_WRITE | REMOTE_ATOMIC. */
  access: number;
}

/** A receive work request (ibv_recv_wr) for qp.postRecv() / srq.postRecv(). */
export interface RecvWr {
  /** Caller's id, below 2^63 (ids at or above are the library's own); ERR_OUT_OF_RANGE otherwise. */
  wrId: bigint;
  /** Where the message lands: up to 64 entries (none for a receive that only takes a WRITE_WITH_IMM). */
  sgl?: Sge[];
}

/** The library's receive `wrId` into `local` (or none, for WRITE_WITH_IMM doorbells). */
export function recvWr(o: { local?: Sge } | undefined, wrId: bigint): RecvWr {
  return { wrId, sgl: o?.local ? [o.local] : [] };
}

/**
 * `w` as the library's request `wrId`, built field by field: every request of the promise API then has one
 * shape (each field present, in one order), so each read of it hits V8's inline caches; a spread
 * gives every request a shape of its own.
 */
export function libraryWr(
  w: Omit<SendWr, 'wrId' | 'signaled'> | null | undefined,
  signaled: boolean,
  wrId: bigint,
): SendWr {
  const o = w ?? NO_FIELDS;
  return {
    wrId,
    opcode: o.opcode,
    sgl: o.sgl,
    signaled,
    inline: o.inline,
    fence: o.fence,
    solicited: o.solicited,
    imm: o.imm,
    remoteAddr: o.remoteAddr,
    rkey: o.rkey,
    compareAdd: o.compareAdd,
    swap: o.swap,
    ah: o.ah,
    remoteQpn: o.remoteQpn,
    remoteQkey: o.remoteQkey,
    mw: o.mw,
    bind: o.bind,
    invalidateRkey: o.invalidateRkey,
    value: o.value,
    flush: o.flush,
  };
}

// What a missing request reads as (the addon then refuses its opcode, as it does any other).
const NO_FIELDS = {} as Omit<SendWr, 'wrId' | 'signaled'>;

/** Objects a work request uses, kept open (and their memory pinned) until it completes. */
export interface Held {
  inflight: number;
}

/** A send WR as the native layer takes it, with the objects it holds. */
export function toNative(w: SendWr): { wr: NativeSendWr; held: Held[] } {
  const { sgl, regions } = nativeSgl(w.sgl);
  // The regions, then the address handle, window or bound region the request also holds.
  const held: Held[] = regions;
  const wr: NativeSendWr = {
    wrId: w.wrId,
    opcode: w.opcode,
    flags: flagsOf(w),
    sgl,
    imm: w.imm,
    remoteAddr: w.remoteAddr,
    rkey: w.rkey,
    compareAdd: w.compareAdd,
    swap: w.swap,
    invalidateRkey: w.invalidateRkey,
    remoteQpn: w.remoteQpn,
    remoteQkey: w.remoteQkey,
    value: w.value,
    flush: w.flush,
    ah: undefined,
    mw: undefined,
    bind: undefined,
  };
  if (w.ah) {
    wr.ah = w.ah.native;
    held.push(w.ah);
  }
  if (w.mw) {
    wr.mw = w.mw.native;
    held.push(w.mw);
  }
  if (w.bind) {
    if (!(w.bind.mr instanceof MemoryRegion))
      throw codeError('ERR_INVALID_ARG_TYPE', 'bind.mr must be a MemoryRegion');
    wr.bind = { ...w.bind, mr: w.bind.mr.native };
    held.push(w.bind.mr);
  }
  return { wr, held };
}

function flagsOf(w: { signaled?: boolean; inline?: boolean; fence?: boolean; solicited?: boolean }): number {
  return (
    (w.signaled ? SendFlags.SIGNALED : 0) |
    (w.inline ? SendFlags.INLINE : 0) |
    (w.fence ? SendFlags.FENCE : 0) |
    (w.solicited ? SendFlags.SOLICITED : 0)
  );
}

/** A receive WR as the native layer takes it, with the regions it holds (for QPs and SRQs alike). */
export function toNativeRecv(w: RecvWr): { wr: NativeRecvWr; held: MemoryRegion[] } {
  const { sgl, regions } = nativeSgl(w.sgl);
  return { wr: { wrId: w.wrId, sgl }, held: regions };
}

/** A gather or scatter list as the addon reads it, and the regions it holds; one pass, as it runs for every request posted. */
function nativeSgl(list: Sge[] = []): { sgl: NativeSge[]; regions: MemoryRegion[] } {
  const regions: MemoryRegion[] = [];
  const sgl: NativeSge[] = [];
  for (let i = 0; i < list.length; i++) {
    const x = sgeOf(list[i], i);
    regions.push(x.mr);
    sgl.push({ mr: x.mr.native, offset: x.offset, length: x.length });
  }
  return { sgl, regions };
}
