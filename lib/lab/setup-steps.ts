// The steps of the lab's first-time set-up (apt installs, the guest kernel's download and initramfs),
// shown as they come with the shared progress display: `lab set-up: [k/n] step`, and a status line on
// a terminal. Nothing is shown when everything is installed and cached. What the steps' commands print
// (apt, dpkg, debootstrap, node-gyp) goes to the set-up log in the lab's cache, named when a step fails.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Progress } from '../progress';
import { cacheRoot } from './cache';

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

/** The set-up log: `setup.log` in the lab's cache. */
export function setupLogPath(): string {
  return join(cacheRoot(), 'setup.log');
}

/**
 * Once a set-up step has begun, notes a command and what it printed in the set-up log and returns the
 * log's path; null otherwise (the checks of a lab that has everything cached leave no trace).
 */
export function logSetupCommand(
  command: string[],
  output: { stdout: string; stderr: string; status: number },
): string | null {
  if (!shown) return null;
  const path = setupLogPath();
  try {
    mkdirSync(cacheRoot(), { recursive: true });
    appendFileSync(
      path,
      `\n$ ${command.join(' ')}    # ${new Date().toISOString()}, exit ${output.status}\n${output.stdout}${output.stderr}`,
    );
  } catch {
    return null; // an unwritable cache fails the step itself soon enough; the log is only a help
  }
  return path;
}

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
