// The steps of the lab's first-time set-up (apt installs, the guest kernel's download and initramfs),
// shown as they come with the shared progress display: `lab set-up: [k/n] step`, and a status line on
// a terminal. Nothing is shown when everything is installed and cached.
import { Progress } from '../progress';

/** What set-up code reports to: steps it is about to take, then each step as it begins. */
export interface SetupSteps {
  /** `n` more steps are coming. */
  plan(n: number): void;
  /** The next step begins. */
  next(step: string): void;
}

let shown: Progress | null = null;
let planned = 0;
let depth = 0;

const steps: SetupSteps = {
  plan(n) {
    if (shown) shown.plan(n);
    else planned += n;
  },
  next(step) {
    shown ??= new Progress({ title: 'lab set-up', total: Math.max(planned, 1) });
    shown.next(step);
  },
};

/** Runs `fn` as (part of) the set-up; the display ends when the outermost call returns or throws. */
export function inSetup<T>(fn: (steps: SetupSteps) => T): T {
  depth++;
  try {
    return fn(steps);
  } finally {
    if (--depth === 0) {
      shown?.done();
      shown = null;
      planned = 0;
    }
  }
}
