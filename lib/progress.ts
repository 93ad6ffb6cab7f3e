// Progress of a command made of steps (the tests, the benchmarks, the lab's first-time set-up). Every
// step gets one line, `title: [k/n] step`, and one when it ends with its time. On a terminal a status
// line also stays at the bottom of the screen (the way apt draws its progress bar) with the step and
// the elapsed times. A worker thread redraws it every second: the steps mostly run synchronous child
// processes, which block the main thread but not the worker, and the worker writes to the terminal's
// fd itself. Children that show their own progress see RDMA_CCM_PROGRESS set and stay line-based.
import { writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { Worker } from 'node:worker_threads';

const NESTED = 'RDMA_CCM_PROGRESS';

/** 42s, 4m07s, 1h02m. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

// The worker: keeps the last state the main thread sent and draws it on the bottom row every second.
const DRAWER = `
const { parentPort, workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const fmt = ${formatDuration.toString()};
let state = null;
// 0 idle, 1 drawing, 2 stopped: the main thread stops the drawing before it clears the row.
const lock = new Int32Array(workerData.lock);
function draw() {
  if (!state || Atomics.compareExchange(lock, 0, 0, 1) !== 0) return;
  const now = Date.now();
  const text = state.title + ': [' + state.index + '/' + state.total + '] ' + state.step + ' · ' + fmt(now - state.stepStart) + ' · total ' + fmt(now - state.start);
  try { writeSync(workerData.fd, '\\x1b7\\x1b[' + state.rows + ';1H\\x1b[2K' + text.slice(0, state.columns - 1) + '\\x1b8'); } catch {}
  Atomics.store(lock, 0, 0);
}
parentPort.on('message', (m) => { state = m; draw(); });
setInterval(draw, 1000);
`;

export interface ProgressOptions {
  /** Names the command in every line, e.g. `test` or `lab set-up`. */
  title: string;
  /** How many steps there will be. */
  total: number;
  /** Where to write; stderr unless told. */
  fd?: number;
}

export class Progress {
  readonly title: string;
  /** Steps expected in all; {@link plan} adds to it when more work shows up on the way. */
  total: number;
  private readonly fd: number;
  private readonly start = Date.now();
  private index = 0;
  private step: string | null = null;
  // The step's line as it began: its end line repeats it, even when plan() has grown the total since.
  private label = '';
  private stepStart = 0;
  private worker: Worker | null = null;
  private readonly lock = new Int32Array(new SharedArrayBuffer(4));
  private rows = 0;
  private readonly restore = () => this.release();
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.release();
    process.kill(process.pid, sig);
  };

  constructor(opts: ProgressOptions) {
    this.title = opts.title;
    this.total = opts.total;
    this.fd = opts.fd ?? 2;
    const columns = process.stderr.columns ?? 0;
    this.rows = process.stderr.rows ?? 0;
    const live =
      isatty(this.fd) &&
      !process.env.CI &&
      process.env.TERM !== 'dumb' &&
      !process.env[NESTED] &&
      this.rows > 2 &&
      columns > 20;
    if (!live) return;
    process.env[NESTED] = '1';
    // Make room, keep the last row out of the scrolling region, go back into it.
    this.write(`\n\x1b7\x1b[1;${this.rows - 1}r\x1b8\x1b[1A`);
    this.worker = new Worker(DRAWER, { eval: true, workerData: { fd: this.fd, lock: this.lock.buffer } });
    this.worker.unref();
    process.once('exit', this.restore);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  /** True when a status line is drawn (a terminal, not CI, no outer progress). */
  get live(): boolean {
    return this.worker !== null;
  }

  /** Adds `steps` to the total, for work found to be needed only on the way (the lab's kernel after its packages). */
  plan(steps: number): void {
    this.total += steps;
  }

  /** Ends the current step, if any, and begins the next one. */
  next(step: string): void {
    this.finishStep();
    this.index++;
    this.step = step;
    this.stepStart = Date.now();
    this.label = `${this.title}: [${this.index}/${this.total}] ${step}`;
    this.write(`${this.label}\n`);
    this.worker?.postMessage({
      title: this.title,
      index: this.index,
      total: this.total,
      step,
      stepStart: this.stepStart,
      start: this.start,
      rows: this.rows,
      columns: process.stderr.columns ?? 80,
    });
  }

  /** Ends the last step and removes the status line. */
  done(): void {
    this.finishStep();
    this.release();
  }

  private finishStep(): void {
    if (this.step === null) return;
    this.write(
      `${this.label}: ${formatDuration(Date.now() - this.stepStart)} (total ${formatDuration(Date.now() - this.start)})\n`,
    );
    this.step = null;
  }

  private release(): void {
    if (!this.worker) return;
    while (Atomics.compareExchange(this.lock, 0, 0, 2) !== 0) Atomics.wait(this.lock, 0, 1, 5);
    void this.worker.terminate();
    this.worker = null;
    delete process.env[NESTED];
    // The whole screen scrolls again; clear the status row.
    this.write(`\x1b7\x1b[r\x1b[${this.rows};1H\x1b[2K\x1b8`);
    process.off('exit', this.restore);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private write(s: string): void {
    try {
      writeSync(this.fd, s);
    } catch {
      // A closed terminal must not fail the command.
    }
  }
}
