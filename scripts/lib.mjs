// Shared helpers for the project's own scripts (setup, build, test, demo, bench). Node builtins only:
// these run on a fresh machine before `npm install`.
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function log(msg) {
  process.stderr.write(`${msg}\n`);
}

/** Runs a command with inherited stdio; exits this process with one line when it fails. */
export function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) {
    log(`${cmd}: ${r.error.code === 'ENOENT' ? 'not installed' : r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0 && !opts.allowFail) {
    log(`${[cmd, ...args].join(' ')} exited ${r.status}`);
    process.exit(r.status ?? 1);
  }
  return r.status ?? 1;
}

/** Where the set-up and build keep the output of apt, dpkg, npm and node-gyp. */
export const setupLog = join(root, '.lab', 'setup.log');

/**
 * Runs a set-up or build command with its output in the set-up log instead of on the terminal (apt,
 * dpkg and node-gyp print pages a newcomer need not read). When it fails, what it printed is shown with
 * the log's path, and this process exits.
 */
export function logged(cmd, args, opts = {}) {
  mkdirSync(dirname(setupLog), { recursive: true });
  appendFileSync(setupLog, `\n$ ${[cmd, ...args].join(' ')}    # ${new Date().toISOString()}\n`);
  const from = statSync(setupLog).size;
  const fd = openSync(setupLog, 'a');
  let r;
  try {
    r = spawnSync(cmd, args, { cwd: root, ...opts, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (r.error) {
    log(`${cmd}: ${r.error.code === 'ENOENT' ? 'not installed' : r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    const out = readFileSync(setupLog).subarray(from).toString().trimEnd().split('\n');
    process.stderr.write(`${out.slice(-60).join('\n')}\n`);
    log(
      `${[cmd, ...args].join(' ')} exited ${r.status}${out.length > 60 ? ` (its last 60 lines above)` : ''}; full output in ${setupLog}`,
    );
    process.exit(r.status ?? 1);
  }
}

export function has(tool) {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** node-gyp wants Node's headers; use the ones installed beside this node instead of downloading them. */
export function gypEnv() {
  const prefix = resolve(dirname(process.execPath), '..');
  const env = { ...process.env };
  if (!env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h')))
    env.npm_config_nodedir = prefix;
  return env;
}

export function newer(a, b) {
  try {
    return statSync(a).mtimeMs > statSync(b).mtimeMs;
  } catch {
    return true;
  }
}

function newestMtime(dir) {
  let t = 0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return t;
}

/** True when `file` exists and is newer than every TypeScript source (lib/, tsconfig.json). */
export function newerThanTsSources(file) {
  if (!existsSync(file)) return false;
  return (
    statSync(file).mtimeMs >
    Math.max(newestMtime(join(root, 'lib')), statSync(join(root, 'tsconfig.json')).mtimeMs)
  );
}

/** True when `file` exists and is newer than every source of the native addon (native/, binding.gyp). */
export function newerThanAddonSources(file) {
  if (!existsSync(file)) return false;
  return (
    statSync(file).mtimeMs >
    Math.max(newestMtime(join(root, 'native')), statSync(join(root, 'binding.gyp')).mtimeMs)
  );
}
