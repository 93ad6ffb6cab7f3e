// Small process helpers for the lab: run a host command and capture its output, or fail in one line.
import { spawn, spawnSync, SpawnSyncOptions } from 'node:child_process';
import { logSetupCommand } from './setup-steps';

/** A lab failure, with a one-line message and a stable code. */
export class LabError extends Error {
  /** ERR_LAB_*, e.g. ERR_LAB_NOT_ROOT, ERR_LAB_TOOL_MISSING, ERR_LAB_EXEC, ERR_LAB_BOOT, ERR_LAB_QMP. */
  readonly code: string;
  /** Makes a LabError named 'LabError' with `code` and `message`. */
  constructor(code: string, message: string) {
    super(message);
    this.name = 'LabError';
    this.code = code;
  }
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunResultLogged extends RunResult {
  /** The set-up log holding this command's whole output, when it ran as part of the lab's set-up. */
  log: string | null;
}

/** Runs a command and captures its output; during the lab's set-up the output also goes to the set-up log. */
export function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): RunResultLogged {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) {
    const e = r.error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new LabError('ERR_LAB_TOOL_MISSING', `lab: '${cmd}' is not installed`);
    throw new LabError('ERR_LAB_EXEC', `lab: ${cmd} failed: ${e.message}`);
  }
  const out = { status: r.status ?? 128, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  return { ...out, log: logSetupCommand([cmd, ...args], out) };
}

/** The one line of a failed command: its stderr's last line, and where its whole output is when logged. */
export function failedLine(what: string, r: RunResultLogged): string {
  const last = (r.stderr || r.stdout).trim().split('\n').pop() ?? '';
  return `${what} exited ${r.status}: ${last}${r.log ? ` (full output in ${r.log})` : ''}`;
}

/** Runs a command that must succeed; its stderr's last line becomes the error. */
export function mustRun(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new LabError('ERR_LAB_EXEC', `lab: ${failedLine(`${cmd} ${args.join(' ')}`, r)}`);
  return r.stdout;
}

/** A command's standard output as bytes (a decompressed file); it must succeed. */
export function mustRunBytes(cmd: string, args: string[]): Buffer {
  const r = spawnSync(cmd, args, { maxBuffer: 256 << 20 });
  if (r.error)
    throw new LabError(
      (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'ERR_LAB_TOOL_MISSING' : 'ERR_LAB_EXEC',
      `lab: ${cmd} failed: ${r.error.message}`,
    );
  if (r.status !== 0)
    throw new LabError(
      'ERR_LAB_EXEC',
      `lab: ${cmd} ${args.join(' ')} exited ${r.status}: ${String(r.stderr).trim().split('\n').pop()}`,
    );
  return r.stdout;
}

export function which(tool: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return r.status === 0;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** What {@link runCommand} saw of a command. */
export interface CommandResult {
  /** Exit status, or null when a signal ended it (the time limit's SIGKILL included). */
  status: number | null;
  /** Everything it wrote to stdout. */
  stdout: string;
  /** Everything it wrote to stderr. */
  stderr: string;
  /** stdout and stderr as they came, interleaved. */
  output: string;
}

/**
 * Runs a command without blocking the event loop (whatever else this process serves, an in-process
 * CCM node's heartbeats for one, goes on) and collects its output; it is killed after `timeoutMs`
 * (default 90 s). A command that cannot start resolves with status null and the reason in stderr.
 */
export function runCommand(
  cmd: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const r: CommandResult = { status: null, stdout: '', stderr: '', output: '' };
    c.stdout.on('data', (d: Buffer) => ((r.stdout += d), (r.output += d)));
    c.stderr.on('data', (d: Buffer) => ((r.stderr += d), (r.output += d)));
    const t = setTimeout(() => c.kill('SIGKILL'), o.timeoutMs ?? 90_000);
    let done = false;
    const finish = (status: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      resolve({ ...r, status });
    };
    c.on('error', (e) => {
      r.stderr += `${cmd}: ${e.message}\n`;
      finish(null);
    });
    c.on('close', finish);
  });
}
