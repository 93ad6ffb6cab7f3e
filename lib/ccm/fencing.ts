// After a partner is declared down: fence it, then say a takeover is safe. The fencing hook (a call to
// stonith_admin, a PDU, a BMC) must succeed first; it is retried until it does or the partner comes
// back. In a race the higher node id waits a delay first, so two nodes that lost each other do not
// shoot each other at once. With no hook, only a witness that saw the partner stop makes it safe.
import type { Core } from './core';
import { Backoff } from './backoff';

export class Fencer {
  private running: AbortController | null = null;
  /** The partner boot a takeover is safe for (set once takeover-safe was emitted). */
  safeFor: bigint | null = null;
  /** What made it safe: a fence, or the witness alone (which a partner that resumes can overturn). */
  safeBy: 'fence' | 'witness' | null = null;

  constructor(
    private readonly core: Core,
    private readonly partner: number,
  ) {}

  /** The partner's boot `generation` went down; `confirmed` when the witness saw it stop. */
  start(generation: bigint, confirmed: boolean): void {
    this.cancel();
    const { cfg } = this.core;
    if (!cfg.fence && !confirmed) return;
    const ac = new AbortController();
    this.running = ac;
    void (cfg.fence ? this.run(generation, ac.signal) : this.afterMsgwait(generation, ac.signal));
  }

  /**
   * With no hook, the witness alone: a partner that arms a kernel watchdog says in its sector how long
   * after its last witness heartbeat it is surely reset (msgwait); only then is it taken for dead. A
   * heartbeat that moves meanwhile starts the wait again.
   */
  private async afterMsgwait(generation: bigint, signal: AbortSignal): Promise<void> {
    const w = this.core.witness!;
    const cfg = this.core.cfg.witness;
    const required = !!cfg && 'requirePartnerWatchdog' in cfg && cfg.requirePartnerWatchdog;
    const since = performance.now();
    let told = false;
    for (;;) {
      const now = performance.now();
      const v = w.view(this.partner, now);
      const msgwaitMs = v.sector?.msgwaitMs ?? 0;
      // Required and absent: never safe by the witness (a fence hook would be); said once per partner-down.
      if (required && v.verdict === 'stopped' && msgwaitMs === 0) {
        if (!told)
          this.core.emit({
            type: 'takeover-unsafe',
            partner: this.partner,
            generation: generation.toString(),
            reason: 'its witness sector arms no kernel watchdog (witness.requirePartnerWatchdog)',
          });
        told = true;
        if (!(await wait(w.intervalMs, signal)) || this.core.stopping) return;
        continue;
      }
      // A heartbeat never seen to move was last written before this node watched: msgwait from now on.
      const age = v.heartbeatAgeMs ?? now - since;
      const left = v.verdict === 'stopped' ? msgwaitMs - age : w.intervalMs;
      if (left <= 0) return this.safe(generation, 'witness', msgwaitMs);
      if (!(await wait(Math.min(left, w.intervalMs), signal)) || this.core.stopping) return;
    }
  }

  /** The partner is back (a session), or the node stops: no fencing, and no takeover is safe any more. */
  cancel(): void {
    this.running?.abort();
    this.running = null;
    this.safeFor = null;
    this.safeBy = null;
  }

  private safe(generation: bigint, by: 'fence' | 'witness', msgwaitMs = 0): void {
    this.safeFor = generation;
    this.safeBy = by;
    this.core.emit({
      type: 'takeover-safe',
      partner: this.partner,
      generation: generation.toString(),
      by,
      ...(msgwaitMs > 0 && { msgwaitMs }),
    });
  }

  private async run(generation: bigint, signal: AbortSignal): Promise<void> {
    const { cfg } = this.core;
    const backoff = new Backoff(cfg.backoff);
    let delayMs = cfg.nodeId > this.partner ? cfg.fenceDelayMs : 0;
    for (let attempt = 1; !signal.aborted && !this.core.stopping; attempt++) {
      if (delayMs > 0 && !(await wait(delayMs, signal))) return;
      this.core.emit({ type: 'fencing', partner: this.partner, attempt, delayMs });
      try {
        await cfg.fence!(this.partner);
      } catch (e) {
        if (signal.aborted) return;
        delayMs = backoff.max();
        this.core.emit({
          type: 'fence-failed',
          partner: this.partner,
          attempt,
          error: (e as Error)?.message ?? String(e),
          retryInMs: delayMs,
        });
        continue;
      }
      if (!signal.aborted) this.safe(generation, 'fence');
      return;
    }
  }
}

/** Resolves true after `ms`, false at once if aborted first. */
function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
