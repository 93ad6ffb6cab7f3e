// What every part of a running CCM shares: its configuration, exposed memory and event sink.
import type { CcmConfig, ResolvedPartner } from './config';
import type { CcmEvent } from './events';
import type { StatusPublisher } from './status-publisher';
import type { Endpoint } from './transport';
import type { Witness } from './witness';
import { ObserverSlot } from './observer';
import type { RegionCoords } from './wire/mailbox';
import { SLOT } from './wire/layout';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type EventInput = DistributiveOmit<CcmEvent, 'time' | 'ms' | 'node'>;

export class Core {
  constructor(
    readonly cfg: CcmConfig,
    readonly endpoint: Endpoint,
    readonly status: StatusPublisher,
    readonly emit: (e: EventInput) => void,
  ) {}

  stopping = false;
  /** The split-brain witness, when one is configured. */
  witness: Witness | null = null;
  /** Partners that hold this node's resources (they took over while it was down): it waits for their giveback. */
  readonly heldBy = new Set<number>();

  /** Partner `partner` says it holds this node's resources (`held`), or no longer does (a giveback). */
  takenOver(partner: number, held: boolean): void {
    if (held === this.heldBy.has(partner)) return;
    if (held) {
      this.heldBy.add(partner);
      this.emit({ type: 'waiting-for-giveback', partner });
    } else {
      this.heldBy.delete(partner);
      this.emit({ type: 'giveback', partner, direction: 'received' });
    }
  }
  /** Where sessions report what they measure (the node's metrics set `current`). */
  readonly observer = new ObserverSlot();

  /** Each partner's slot in this node's mailbox: its index in the partner list (sorted by node id). */
  slotOf(partner: ResolvedPartner | number): number {
    const id = typeof partner === 'number' ? partner : partner.nodeId;
    return this.cfg.partners.findIndex((p) => p.nodeId === id);
  }

  /** Our memory for one partner's slot: control words, then the ring it writes. */
  localSlot(slot: number): Uint8Array {
    return this.endpoint.slot(slot);
  }

  /** Clears a partner's slot control words before a new handshake, so nothing stale is trusted. */
  resetSlot(slot: number): void {
    this.localSlot(slot).fill(0, 0, SLOT.size);
  }

  /** Where partner `slot` finds our status block and its slot, through its own connections only. */
  regions(slot: number, link = 0): RegionCoords {
    return this.endpoint.regions(slot, link);
  }

  /** Links a session with `partner` can have: as many as both nodes have addresses. */
  linkCount(partner: ResolvedPartner): number {
    return Math.min(this.cfg.addresses.length, partner.addresses.length);
  }
}

/** A random 64-bit nonce. */
export function nonce(): bigint {
  const b = new BigUint64Array(1);
  globalThis.crypto.getRandomValues(b);
  return b[0] === 0n ? 1n : b[0];
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
