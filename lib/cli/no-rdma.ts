// What a command says on a host where RDMA cannot work (no device, or no rdma_cm in its kernel): one
// line with what to do, instead of a bare ENODEV from librdmacm.
import { getDevices } from '../verbs';
import { kernelDevices, providerMissing } from '../verbs/provider';

const IN_THE_LAB = 'or run the command in the lab (rdma-ccm lab -- <command>)';

/** The line for a host with no RDMA device (or none a provider drives), or null when there is one. */
export function missingRdma(): string | null {
  if (getDevices().length > 0) return null;
  const unlisted = kernelDevices();
  if (unlisted.length > 0) return providerMissing(unlisted[0]).message.replace(/^rdma-ccm: /, '');
  return `no RDMA device on this host: load rdma_rxe and add a device (modprobe rdma_rxe && rdma link add rxe0 type rxe netdev <netdev>), ${IN_THE_LAB}`;
}

/** The line for an error that means this host cannot do RDMA connection management, or null. */
export function explainRdmaError(e: unknown): string | null {
  const err = e as { code?: string; message?: string } | null;
  if (err?.code !== 'ENODEV' || !/rdma_create_event_channel/.test(err.message ?? '')) return null;
  return missingRdma() ?? `no RDMA connection manager in this kernel: modprobe rdma_ucm, ${IN_THE_LAB}`;
}
