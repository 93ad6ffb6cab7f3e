// The device context librdmacm uses for a local address. PDs and MRs used with CM queue pairs must
// come from it (librdmacm checks that the PD belongs to the id's context). A bound id is kept per
// device so librdmacm keeps the device (and so the context) referenced for as long as we use it.
import { native, type NativeContext } from '../native';
import { Context, getDevices } from '../verbs';
import { CmId } from './cm-id';
import { cmError } from './errors';
import { channel } from './event-channel';

const byDevice = new Map<string, { context: Context; keep: CmId }>();

/** A CM id bound to `localAddress` (any port), which tells the device and port that own the address. */
function boundId(localAddress: string): CmId {
  if (typeof localAddress !== 'string')
    throw cmError('ERR_INVALID_ARG_TYPE', 'localAddress must be a string');
  const id = new CmId();
  try {
    id.native.bindAddr(localAddress, 0);
  } catch (e) {
    id.destroy();
    throw e;
  }
  return id;
}

/** The verbs Context of the RDMA device that owns `localAddress` (IPv4, IPv6 or GID). */
export async function contextFor(localAddress: string): Promise<Context> {
  const id = boundId(localAddress);
  const n = id.native.context();
  if (!n) {
    id.destroy();
    throw cmError('ERR_CM_NO_DEVICE', `no RDMA device owns ${localAddress}`);
  }
  const name: string = n.name;
  return fromCm(name, n, id);
}

/**
 * The port number, on the device that owns `localAddress`, that the address belongs to: what a queue pair
 * made ahead of its connection (connect/accept with `queuePair`) needs for its move to INIT.
 */
export function portFor(localAddress: string): number {
  const id = boundId(localAddress);
  try {
    const a = id.native.addresses();
    if (!a.device) throw cmError('ERR_CM_NO_DEVICE', `no RDMA device owns ${localAddress}`);
    return a.portNum;
  } finally {
    id.destroy();
  }
}

/** @internal The Context for a native context seen on a CM id (one Context object per device). */
export function fromCm(name: string | null, n: NativeContext | null, keep?: CmId): Context {
  if (name === null || n === null)
    throw cmError('ERR_CM_NO_DEVICE', 'the CM id is not bound to an RDMA device');
  const known = byDevice.get(name);
  if (known) {
    if (keep && keep !== known.keep) keep.destroy();
    return known.context;
  }
  const context = Context.fromNative(n);
  const held = keep ?? new CmId();
  byDevice.set(name, { context, keep: held });
  // A removed device must be let go: the kernel finishes the removal once every id on it is destroyed
  // and librdmacm has closed its context (see releaseRemovedDevices).
  held.own((e) => {
    if (e.event === 'DEVICE_REMOVAL') held.destroy();
  });
  channel().onDeviceRemoval ??= releaseSoon;
  return context;
}

/**
 * Lets go of the contexts of RDMA devices that were removed: each one whose PDs, CQs and other children are
 * all closed is closed here (its Context object reports closed) and librdmacm closes its own, so that the
 * kernel can finish the removal. Runs by itself after a DEVICE_REMOVAL; call it again after closing what
 * you had allocated on a removed device. Returns the names of the devices released.
 */
export function releaseRemovedDevices(): string[] {
  const present = new Set(getDevices().map((d) => d.name));
  const released: string[] = [];
  for (const [name, e] of byDevice) {
    if (present.has(name)) continue;
    try {
      e.context.close();
    } catch {
      continue; // still in use by the caller's objects
    }
    e.keep.destroy();
    byDevice.delete(name);
    released.push(name);
  }
  if (released.length > 0) native.syncCmDevices();
  return released;
}

/** After a DEVICE_REMOVAL: release now, and again shortly (the last ids on the device may close later). */
function releaseSoon(): void {
  releaseRemovedDevices();
  for (const ms of [100, 500, 2000]) setTimeout(() => void releaseRemovedDevices(), ms).unref();
}
