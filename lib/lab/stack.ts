// Lab stacks: the Debian release a guest runs, kernel and user space together. By default a guest boots
// the kernel the host's apt offers and shares the host's own root; a named stack boots that release's
// kernel and a root made for it (stack-root.ts), with the addon built against its rdma-core.
import { privateApt } from './apt-view';
import { ensureKernel, type LabKernel } from './kernel';
import { ensureStackAddon } from './stack-addon';
import { ensureRoot } from './stack-root';

/** The named stacks: Debian 12 (kernel 6.1, rdma-core 44) and Debian 13 (kernel 6.12, rdma-core 56). */
export const LAB_STACKS = ['bookworm', 'trixie'] as const;
/** A named stack: a Debian release's codename. */
export type LabStack = (typeof LAB_STACKS)[number];

/** What a guest of a named stack boots and runs. */
export interface StackImage {
  /** The stack's name. */
  stack: LabStack;
  /** The release's guest kernel and initramfs. */
  kernel: LabKernel;
  /** Host folder the guest mounts as its root. */
  root: string;
  /** The addon built in the root, as the guest sees its path (RDMA_CCM_ADDON). */
  addon: string;
  /** Versions of the root's keyed packages (rdma-core, perftest, …) and of Node.js. */
  versions: Record<string, string>;
}

/** Returns the stack's kernel, root and addon, each from the lab's cache or made first. Throws LabError. */
export function ensureStack(stack: LabStack, log: (s: string) => void): StackImage {
  const apt = privateApt(stack);
  const kernel = ensureKernel(log, apt);
  const root = ensureRoot(apt);
  const addon = ensureStackAddon(root);
  return { stack, kernel, root: root.dir, addon, versions: root.versions };
}
