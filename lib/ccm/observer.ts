// What sessions measure for whoever watches the node (its metrics). The calls sit on hot paths (every
// heartbeat move, every append and ack), so the node forwards them only when something watches.
export interface CcmObserver {
  /** The partner's heartbeat counter moved, `ms` after it last moved. */
  heartbeatGap(partner: number, ms: number): void;
  /** An append of `bytes` of payload was accepted for mirroring. */
  appended(partner: number, bytes: number): void;
  /** The partner acknowledged a record `latencyMs` after it was appended. */
  acknowledged(partner: number, latencyMs: number): void;
}

/** Forwards to the observer set at the moment of each call (none: nothing happens). */
export class ObserverSlot implements CcmObserver {
  current: CcmObserver | null = null;

  heartbeatGap(partner: number, ms: number): void {
    this.current?.heartbeatGap(partner, ms);
  }

  appended(partner: number, bytes: number): void {
    this.current?.appended(partner, bytes);
  }

  acknowledged(partner: number, latencyMs: number): void {
    this.current?.acknowledged(partner, latencyMs);
  }
}
