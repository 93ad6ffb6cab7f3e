// Capped exponential backoff with jitter for probing a partner that is absent or still booting.
/** Retry timing of the connect loop to each partner: `minMs · 2^n` capped at `maxMs`, less up to `jitter` of it. */
export interface BackoffOptions {
  /** First retry delay (ms; default 50). */
  minMs: number;
  /** Largest delay; also the wait after a TIE_BREAK or DUPLICATE reject (ms; default 2000). */
  maxMs: number;
  /** Fraction of each delay that is randomised (0 … 1; default 0.2), so partners never retry in lockstep. */
  jitter: number;
}

/** The defaults: 50 ms doubling up to 2000 ms, 20 % jitter. */
export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 50, maxMs: 2000, jitter: 0.2 };

/** The delay sequence of one partner's connect loop. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

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

  /** Starts again from `minMs` (after a session is established or ends). */
  reset(): void {
    this.attempt = 0;
  }
}
