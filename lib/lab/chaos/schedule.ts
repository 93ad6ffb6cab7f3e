// The nemesis's schedule of a chaos run, a pure function of its seed: the same seed gives the same steps,
// faults, targets and durations, so that a run that found a defect can be replayed. A step is one fault,
// or two that overlap; after each step the cluster gets a quiet gap to heal (sessions back, giveback).
import { LabError } from '../exec';
import type { FaultKind } from './history';

/** What the nemesis does in one fault. */
export type NemesisAction =
  | 'kill'
  | 'nvram-corrupt'
  | 'pause-short'
  | 'pause-long'
  | 'link-cut'
  | 'links-cut'
  | 'link-flap'
  | 'loss'
  | 'delay'
  | 'power-off'
  | 'witness-slow'
  | 'witness-hang'
  | 'fence-fail';

/**
 * How the NVRAM region of a node whose CCM is down is damaged: a byte of its tail word, of its header, or
 * of its first record still needed flipped; or its header zeroed.
 */
export type NvramDamage = 'tail' | 'header' | 'header-zero' | 'record';
const NVRAM_DAMAGE: NvramDamage[] = ['tail', 'header', 'header-zero', 'record'];

/** One fault of a step. */
export interface ScheduledFault {
  /** What is done. */
  action: NemesisAction;
  /** The history's fault kind it is recorded as. */
  fault: FaultKind;
  /** The node it hits (1 or 2). */
  target: number;
  /** The link, for a fault of one link. */
  link?: number;
  /** From the step's start (ms). */
  startMs: number;
  /** How long the fault lasts (ms): the pause, the cut, the time before the process or guest is started again. */
  durationMs: number;
  /** The netem spec of a loss or delay (`loss 20%`, `delay 40ms 10ms`). */
  netem?: string;
  /** A slow witness: the I/O operations per second the target's path to the disk is throttled to. */
  iops?: number;
  /** What an NVRAM corruption damages. */
  damage?: NvramDamage;
  /** A fence that fails: how many of the target's fence requests fail before one goes through. */
  failures?: number;
}

/** One step: its faults, then a quiet gap. */
export interface ScheduleStep {
  /** From the run's start, when nothing is late (ms). */
  atMs: number;
  /** One fault, or two that overlap. */
  faults: ScheduledFault[];
  /** Time to heal after the step's last fault ends (ms). */
  quietMs: number;
}

/** The thresholds a schedule is made for. */
export interface ScheduleOptions {
  /** The nodes' partner-down threshold (ms): a short pause stays below it, a long one passes it. */
  partnerDownMs: number;
  /** Leave out faults that boot a guest again (they take a minute or more of an emulated guest). */
  noPowerOff?: boolean;
}

/** A small seeded PRNG (mulberry32): the same seed, the same numbers, on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed as given on the command line: a decimal integer from 0 to 2^32-1. Throws ERR_CHAOS_SEED. */
export function parseSeed(text: string): number {
  const n = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(n <= 0xffffffff))
    throw new LabError('ERR_CHAOS_SEED', `seed must be an integer 0 … 4294967295: ${text}`);
  return n;
}

// How often each action is drawn: the cheap, quick ones most.
const WEIGHTS: [NemesisAction, number][] = [
  ['kill', 3],
  ['nvram-corrupt', 1],
  ['pause-short', 2],
  ['pause-long', 3],
  ['link-cut', 2],
  ['links-cut', 2],
  ['link-flap', 1],
  ['loss', 1],
  ['delay', 1],
  ['power-off', 1],
  ['witness-slow', 1],
  ['witness-hang', 1],
];
// What may overlap a first fault: cheap faults that stop nobody for long. A witness hung under every
// link cut is the case where the partner judges by the disk alone.
const OVERLAPPING: NemesisAction[] = ['link-cut', 'loss', 'delay', 'pause-short', 'witness-hang'];
const KIND: Record<NemesisAction, FaultKind> = {
  kill: 'kill',
  'nvram-corrupt': 'nvram-corrupt',
  'pause-short': 'pause',
  'pause-long': 'pause',
  'link-cut': 'link-cut',
  'links-cut': 'link-cut',
  'link-flap': 'link-cut',
  loss: 'loss',
  delay: 'delay',
  'power-off': 'power-off',
  'witness-slow': 'witness-slow',
  'witness-hang': 'witness-unreadable',
  'fence-fail': 'fence-fail',
};
/** The node that fences its partner (node 1, through the host); node 2 relies on the witness alone. */
export const FENCING_NODE = 1;
// Faults after which node 2 is judged down, and node 1 fences it.
const TAKES_DOWN: NemesisAction[] = ['kill', 'nvram-corrupt', 'pause-long', 'power-off'];

function fault(
  action: NemesisAction,
  rnd: () => number,
  o: ScheduleOptions,
  startMs: number,
): ScheduledFault {
  const between = (lo: number, hi: number) => Math.round(lo + (hi - lo) * rnd());
  const target = rnd() < 0.5 ? 1 : 2;
  const link = rnd() < 0.5 ? 0 : 1;
  const base = { action, fault: KIND[action], target, startMs };
  switch (action) {
    case 'kill':
      return { ...base, durationMs: between(1000, 6000) };
    case 'nvram-corrupt':
      return {
        ...base,
        durationMs: between(1000, 6000),
        damage: NVRAM_DAMAGE[between(0, NVRAM_DAMAGE.length - 1)],
      };
    case 'pause-short':
      return { ...base, durationMs: between(0.2 * o.partnerDownMs, 0.6 * o.partnerDownMs) };
    case 'pause-long':
      return { ...base, durationMs: between(1.5 * o.partnerDownMs, 4 * o.partnerDownMs) };
    case 'link-cut':
      return { ...base, link, durationMs: between(2000, 12000) };
    case 'links-cut':
      return { ...base, durationMs: between(2000, 12000) };
    case 'link-flap':
      return { ...base, link, durationMs: between(6000, 12000) };
    case 'loss':
      return { ...base, link, durationMs: between(3000, 12000), netem: `loss ${between(5, 40)}%` };
    case 'delay':
      return {
        ...base,
        link,
        durationMs: between(3000, 12000),
        netem: `delay ${between(5, 80)}ms ${between(0, 20)}ms`,
      };
    case 'power-off':
      return { ...base, durationMs: between(1000, 5000) };
    case 'witness-slow':
      return { ...base, durationMs: between(3000, 12000), iops: between(2, 8) };
    case 'witness-hang':
      return { ...base, durationMs: between(2000, 12000) };
    case 'fence-fail':
      // Armed for the step's first 20 s: the fence runs once the partner is judged down.
      return { ...base, target: FENCING_NODE, durationMs: 20_000, failures: between(1, 3) };
  }
}

/** Roughly how long a fault keeps the step busy, to fill the run's minutes (a boot of a guest: a minute). */
const busyMs = (f: ScheduledFault) =>
  f.action === 'fence-fail' ? 0 : f.startMs + f.durationMs + (f.action === 'power-off' ? 60_000 : 0);

/** The steps of a run of `minutes` from `seed`. */
export function makeSchedule(seed: number, minutes: number, o: ScheduleOptions): ScheduleStep[] {
  if (!(minutes > 0)) throw new LabError('ERR_CHAOS_MINUTES', `minutes must be positive: ${minutes}`);
  const rnd = prng(seed);
  const weights = WEIGHTS.filter(([a]) => !(o.noPowerOff && a === 'power-off'));
  const total = weights.reduce((n, [, w]) => n + w, 0);
  const draw = (from: [NemesisAction, number][], sum: number) => {
    let x = rnd() * sum;
    for (const [a, w] of from) if ((x -= w) < 0) return a;
    return from[from.length - 1][0];
  };
  const steps: ScheduleStep[] = [];
  const endMs = minutes * 60_000;
  for (let at = 0; ; ) {
    const first = fault(draw(weights, total), rnd, o, 0);
    const faults = [first];
    if (rnd() < 0.3) {
      const second = draw(
        OVERLAPPING.map((a) => [a, 1]),
        OVERLAPPING.length,
      );
      const f = fault(second, rnd, o, Math.round(rnd() * Math.min(first.durationMs, 5000)));
      // A guest powered off has no links nor processes to fault: the second fault hits the other node.
      if (first.action === 'power-off') f.target = 3 - first.target;
      faults.push(f);
    } else if (TAKES_DOWN.includes(first.action) && first.target !== FENCING_NODE && rnd() < 0.5)
      // The fence of the node taken down fails a few times before it goes through.
      faults.push(fault('fence-fail', rnd, o, 0));
    const quietMs = Math.round(10_000 + rnd() * 10_000);
    const busy = Math.max(...faults.map(busyMs)) + quietMs;
    if (at + busy > endMs && steps.length > 0) break;
    steps.push({ atMs: at, faults, quietMs });
    at += busy;
  }
  return steps;
}
