// A stall of this process (a paused VM, SIGSTOP, a long garbage collection, a disk that hung it), seen at
// the first callback after it. After a stall, libuv may run I/O callbacks (CM events, completions) before
// any timer, so every entry from the event loop into this package calls awake() first: each batch of CM
// events and of completions, and the CCM's own timers. Whoever must act on a stall before anything else
// runs (an ACTIVE CCM node leaves ACTIVE) watches for it; a watcher keeps the clock fresh with frequent
// timers of its own, so that idle time is not taken for a stall.

/** What watches for stalls: told at every entry, before anything else runs, how long since the last. */
export interface StallWatcher {
  awake(now: number, gapMs: number): void;
}

const watchers = new Set<StallWatcher>();
let awakeAt = 0;

/** Notes that the process runs now, and tells each watcher how long it did not (before anything else runs). */
export function awake(at?: number): void {
  if (watchers.size === 0) return; // before the clock is read: this runs for every batch of completions
  const now = at ?? performance.now();
  const gap = now - awakeAt;
  awakeAt = now;
  for (const w of watchers) w.awake(now, gap);
}

/** Tells `w` of every stall from now on; returns the function that stops it. */
export function watchStalls(w: StallWatcher): () => void {
  if (watchers.size === 0) awakeAt = performance.now();
  watchers.add(w);
  return () => void watchers.delete(w);
}
