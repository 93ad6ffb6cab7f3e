// Capped exponential backoff with jitter for probing a partner that is absent or still booting.
export interface BackoffOptions {
  /** First retry delay (ms). */
  minMs: number;
  /** Largest delay (ms). */
  maxMs: number;
  /** Fraction of each delay that is randomised (0 … 1), so partners never retry in lockstep. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 50, maxMs: 2000, jitter: 0.2 };

export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions, private readonly random: () => number = Math.random) {}

  /** Delay before the next attempt; each call doubles the base up to the cap. */
  next(): number {
    const base = Math.min(this.opts.maxMs, this.opts.minMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(base * (1 - this.opts.jitter * this.random()));
  }

  /** The longest delay, for a partner that asked us to wait for its own connection. */
  max(): number {
    return Math.round(this.opts.maxMs * (1 - this.opts.jitter * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}
