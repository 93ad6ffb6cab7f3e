// What sessions measure for whoever watches the node (its metrics). The calls sit on hot paths (every
// heartbeat move, every append and ack), so the node forwards them only when something watches.
import type { Durability } from './wire/layout';

export interface CcmObserver {
  /** The partner's heartbeat counter moved, `ms` after it last moved. */
  heartbeatGap(partner: number, ms: number): void;
  /** An append of `bytes` of payload was accepted for mirroring, to go as far as `durability`. */
  appended(partner: number, bytes: number, durability: Durability): void;
  /** A record appended with `durability` became that safe `latencyMs` after it was appended. */
  acknowledged(partner: number, latencyMs: number, durability: Durability): void;
}

/** Forwards to the observer set at the moment of each call (none: nothing happens). */
export class ObserverSlot implements CcmObserver {
  current: CcmObserver | null = null;

  heartbeatGap(partner: number, ms: number): void {
    this.current?.heartbeatGap(partner, ms);
  }

  appended(partner: number, bytes: number, durability: Durability): void {
    this.current?.appended(partner, bytes, durability);
  }

  acknowledged(partner: number, latencyMs: number, durability: Durability): void {
    this.current?.acknowledged(partner, latencyMs, durability);
  }
}
