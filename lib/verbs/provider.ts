// A device the kernel has but libibverbs does not list has no user-space provider (rxe's is in Debian's
// ibverbs-providers): ibv_get_device_list() skips it with a warning on stderr, and opening it fails.
import { readdirSync } from 'node:fs';
import { RDMA_PACKAGES } from '../addon-loader';
import { codeError, type RdmaError } from '../errors';

/** The RDMA devices the kernel has (/sys/class/infiniband), whether or not a provider drives them. */
export function kernelDevices(): string[] {
  try {
    return readdirSync('/sys/class/infiniband');
  } catch {
    return [];
  }
}

/** ERR_RDMA_PROVIDER_MISSING for the kernel's device `name`, which libibverbs cannot open. */
export function providerMissing(name: string): RdmaError {
  return codeError(
    'ERR_RDMA_PROVIDER_MISSING',
    `rdma-ccm: RDMA device ${name} has no user-space provider: ${RDMA_PACKAGES}`,
  );
}
