// The one command-line reader behind every subcommand: a table of its flags (name, type, short letter) and
// its usage, read with node:util's parseArgs. --help prints the usage on stdout (exit 0); an unknown flag
// (with the nearest known one), a flag without its value, a bad integer or a stray argument prints one line
// and the usage on stderr (exit 2). Nothing here loads the addon, so all of that works without rdma-core.
import { parseArgs } from 'node:util';
import { didYouMean } from '../nearest-name';
import { UsageError } from './usage-error';

/** One flag: a switch, a string, or a non-negative integer (up to `max`). */
export interface FlagSpec {
  type: 'boolean' | 'string' | 'integer';
  /** A one-letter alias (`-s`). */
  short?: string;
  /** For an integer: the largest value accepted. */
  max?: number;
  /** For a string: the only values accepted. */
  choices?: readonly string[];
}

/** A subcommand's command line: its flags and its usage text. */
export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  /** The words errors begin with: `rdma-ccm status`. */
  name: string;
  usage: string;
  flags: F;
  /**
   * What may follow the flags: `none` (default); `partner`, one node id; `rest`, a command: the first
   * argument that is not a flag (or what follows `--`) ends the flags, and it and all after are `rest`.
   */
  operands?: 'none' | 'partner' | 'rest';
}

type ValueOf<S extends FlagSpec> = S['type'] extends 'boolean'
  ? true
  : S['type'] extends 'integer'
    ? number
    : string;

/** A command line as read: each flag given (in order), the last value of each, and the operands. */
export interface CommandLine<F extends Record<string, FlagSpec>> {
  help: boolean;
  given: { flag: keyof F & string; value: string | number | true }[];
  values: { [K in keyof F]?: ValueOf<F[K]> };
  operands: string[];
  /** With `operands: 'rest'`: whether `--` ended the flags. */
  terminated: boolean;
}

const HELP: FlagSpec = { type: 'boolean', short: 'h' };

/** A subcommand's table, with its flags' types kept exact for {@link CommandLine.values}. */
export const defineCommand = <const F extends Record<string, FlagSpec>>(spec: CommandSpec<F>) => spec;

/** `v` as a non-negative integer, for a flag's value; a UsageError naming the flag otherwise. */
function integerFlag(raw: string, v: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(v) || Number(v) > max)
    throw new UsageError(
      `${raw} needs a non-negative integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${v}`,
    );
  return Number(v);
}

/** Reads `args` against `spec`; throws a UsageError naming the flag or argument at fault. */
export function readCommandLine<F extends Record<string, FlagSpec>>(
  spec: CommandSpec<F>,
  args: string[],
): CommandLine<F> {
  const flags: Record<string, FlagSpec> = { help: HELP, ...spec.flags };
  const options = Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [
      name,
      {
        type: f.type === 'boolean' ? ('boolean' as const) : ('string' as const),
        ...(f.short && { short: f.short }),
      },
    ]),
  );
  const shorts = new Map(Object.entries(flags).flatMap(([name, f]) => (f.short ? [[f.short, name]] : [])));
  // A flag (or `--`) where a value should be: `--control --json` means a forgotten path, not a path named --json.
  const isFlag = (v: string) =>
    v === '--' ||
    (/^--[a-z]/.test(v) ? v.slice(2).split('=')[0] in flags : /^-[a-zA-Z]$/.test(v) && shorts.has(v[1]));
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const line: CommandLine<F> = { help: false, given: [], values: {}, operands: [], terminated: false };
  const known = Object.keys(flags);
  for (const t of tokens) {
    if (t.kind === 'option-terminator' || t.kind === 'positional') {
      if (spec.operands === 'rest') {
        line.terminated = t.kind === 'option-terminator';
        line.operands = args.slice(t.index + (line.terminated ? 1 : 0));
        break;
      }
      if (t.kind === 'option-terminator') continue;
      if (spec.operands === 'partner' && line.operands.length === 0) {
        if (!/^[1-9][0-9]{0,9}$/.test(t.value))
          throw new UsageError(`the partner is a node id, got ${t.value}`);
        line.operands.push(t.value);
        continue;
      }
      throw new UsageError(`unexpected argument ${t.value}`);
    }
    const name = t.name; // a known short letter arrives under its flag's name
    const f = flags[name];
    if (!f)
      throw new UsageError(
        `unknown option ${t.rawName}${t.rawName.startsWith('--') ? didYouMean(t.name, known, (n) => `--${n}`) : ''}`,
      );
    let value: string | number | true = true;
    if (f.type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value, got ${t.value}`);
    } else {
      if (t.value === undefined || (!t.inlineValue && isFlag(t.value)))
        throw new UsageError(`${t.rawName} needs a value`);
      if (f.choices && !f.choices.includes(t.value))
        throw new UsageError(`${t.rawName} must be ${f.choices.join(' or ')}, got ${t.value}`);
      value = f.type === 'integer' ? integerFlag(t.rawName, t.value, f.max) : t.value;
    }
    if (name === 'help') line.help = true;
    else {
      line.given.push({ flag: name, value });
      (line.values as Record<string, unknown>)[name] = value;
    }
  }
  if (spec.operands === 'partner' && line.operands.length === 0 && !line.help)
    throw new UsageError('which partner? (a node id)');
  return line;
}

/**
 * Runs a subcommand: reads its command line, prints the usage for --help, and runs `run` with what it
 * read. A UsageError, from the reading or from `run`, prints one line and the usage on stderr: exit 2.
 */
export async function runCommand<F extends Record<string, FlagSpec>>(
  spec: CommandSpec<F>,
  args: string[],
  run: (line: CommandLine<F>) => Promise<number> | number,
): Promise<number> {
  try {
    const line = readCommandLine(spec, args);
    if (line.help) {
      process.stdout.write(spec.usage);
      return 0;
    }
    return await run(line);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${spec.name}: ${e.message}\n${spec.usage}`);
    return 2;
  }
}
