// The chaos run's history and its checker, for the runner that writes `.lab/chaos/<seed>/history.jsonl`.
import { readFileSync } from 'node:fs';
import { check, INVARIANTS, type CheckOptions, type CheckResult, type Invariant } from './checker';
import { HistoryError, parseHistory, type Entry, type FaultLine } from './history';

export * from './history';
export * from './checker';
export * from './schedule';

/** The result of {@link checkHistoryFile}: the check's, the run's seed, and a printable report. */
export interface HistoryReport extends CheckResult {
  /** The run's seed (null: the history has no run line). */
  seed: string | null;
  /** The last fault lines of the run (at most 5). */
  lastFaults: Entry[];
  /** The report to print: each violation with its records, the seed, the last faults, the figures. */
  text: string;
}

const line = (e: Entry) => {
  const { line: n, at, ...rest } = e;
  return `  line ${n} @${at} ms: ${JSON.stringify(rest)}`;
};

/**
 * Reads a history file, checks it (against every invariant, or the ones given), and renders the report.
 * Throws a HistoryError (code ERR_CHAOS_HISTORY).
 */
export function checkHistoryFile(
  path: string,
  options: CheckOptions = {},
  invariants: readonly Invariant[] = INVARIANTS,
): HistoryReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new HistoryError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const entries = parseHistory(text);
  const result = check(entries, options, invariants);
  const run = entries.find((e) => e.kind === 'run');
  const seed = run?.kind === 'run' ? run.seed : null;
  const lastFaults = entries.filter((e): e is Entry & FaultLine => e.kind === 'fault').slice(-5);
  const { stats } = result;
  const out = [`chaos history ${path}: seed ${seed ?? '(none)'}, ${result.violations.length} violation(s)`];
  for (const v of result.violations) out.push(`${v.invariant}: ${v.reason}`, ...v.records.map(line));
  if (result.violations.length) out.push('last faults:', ...lastFaults.map(line));
  const levels = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  out.push(
    `appends: ${levels(stats.appends)}; resolved: ${levels(stats.resolved)}; rejected ${stats.rejected}`,
    `records checked: ${stats.recordsChecked}`,
    `faults: ${levels(Object.fromEntries(Object.entries(stats.faults).filter(([, n]) => n > 0))) || 'none'}`,
    `detection: ${stats.detection.count} (p50 ${stats.detection.p50Ms ?? '-'} ms, max ${stats.detection.maxMs ?? '-'} ms)`,
  );
  return { ...result, seed, lastFaults, text: out.join('\n') };
}
