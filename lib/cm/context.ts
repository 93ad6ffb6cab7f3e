// The device context librdmacm uses for a local address. PDs and MRs used with CM queue pairs must
// come from it (librdmacm checks that the PD belongs to the id's context). A bound id is kept per
// device so librdmacm keeps the device (and so the context) referenced for as long as we use it.
import { Context } from '../verbs';
import { CmId } from './cm-id';
import { cmError } from './errors';

const byDevice = new Map<string, { context: Context; keep: CmId }>();

/** The verbs Context of the RDMA device that owns `localAddress` (IPv4, IPv6 or GID). */
export async function contextFor(localAddress: string): Promise<Context> {
  if (typeof localAddress !== 'string') throw cmError('ERR_INVALID_ARG_TYPE', 'localAddress must be a string');
  const id = new CmId();
  try {
    id.native.bindAddr(localAddress, 0);
  } catch (e) {
    id.destroy();
    throw e;
  }
  const n = id.native.context();
  if (!n) {
    id.destroy();
    throw cmError('ERR_CM_NO_DEVICE', `no RDMA device owns ${localAddress}`);
  }
  const name: string = n.name;
  return fromCm(name, n, id);
}

/** @internal The Context for a native context seen on a CM id (one Context object per device). */
export function fromCm(name: string, n: unknown, keep?: CmId): Context {
  const known = byDevice.get(name);
  if (known) {
    if (keep && keep !== known.keep) keep.destroy();
    return known.context;
  }
  const context = Context.fromNative(n);
  byDevice.set(name, { context, keep: keep ?? new CmId() });
  return context;
}
