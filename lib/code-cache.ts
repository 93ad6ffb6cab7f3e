// A V8 code cache for this package's own modules. A process that has just started runs every function
// for the first time, and compiling them is a large share of that cost (under emulation, of a CCM's
// first accept and echo). With RDMA_CCM_CODE_CACHE=<dir> (or enableCodeCache(dir) from 'rdma-ccm/code-cache'
// before the package's other entry points load) the package's files are compiled with the code V8 made for
// them in an earlier run, and saveCodeCache() stores what this run compiled: a CCM node saves it once its
// first session is up. A cache that does not fit (another Node.js, other V8 flags, a damaged file) is
// rejected by V8 and the file is compiled from source as usual.
//
// Where Node.js has its own compile cache (module.enableCompileCache, 22.1+) the directory is Node's: it
// covers every module loaded after it, and Node writes it at exit (or on saveCodeCache, from 22.10). Older
// Node.js compiles the package's own files here, through the CommonJS loader's Module.prototype._compile.
//
// The directory holds code this process will run: it must be writable only by the daemon's own user
// (it is created with mode 0700).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import Module from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { Script } from 'node:vm';
import { codeError } from './errors';
import {
  enableNodeCompileCache,
  hasNodeCompileCache,
  type CompileCacheModule,
  type NodeCompileCache,
} from './node-compile-cache';

interface Compiled {
  script: Script;
  file: string;
  savedBytes: number;
}

/** What the cache did in this process. */
export interface CodeCacheStats {
  /** The cache directory (absolute path), or null when the cache is not enabled. */
  dir: string | null;
  /**
   * Whose cache it is: `node`, Node.js's own compile cache (22.1+), which reports no counts (they stay
   * 0); `package`, this module's, on older Node.js; null when the cache is not enabled.
   */
  mechanism: 'node' | 'package' | null;
  /** The package's files compiled through the cache in this process. */
  modules: number;
  /** Of those, the ones compiled with code from the cache. */
  accepted: number;
  /** Of those, the ones whose cached code V8 refused (compiled from source instead). */
  rejected: number;
}

// Node's CommonJS loader, as far as this module uses it (stable since Node 0.x, not in its typings).
interface LoaderModule {
  exports: unknown;
  require(id: string): unknown;
  _compile(content: string, filename: string): unknown;
}
interface Loader {
  prototype: LoaderModule;
  wrap(source: string): string;
  _resolveFilename(
    request: string,
    parent: LoaderModule,
    isMain: boolean,
    options?: { paths?: string[] },
  ): string;
  _resolveLookupPaths(request: string, parent: LoaderModule): string[] | null;
  _extensions: unknown;
  _cache: unknown;
}

const PACKAGE_DIST = __dirname + sep;
const STATE = Symbol.for('rdma-ccm.code-cache');
type State = {
  dir: string;
  /** Node's own compile cache, where Node has one; else the package compiles its files here. */
  node: NodeCompileCache | null;
  compiled: Compiled[];
  accepted: number;
  rejected: number;
};
const g = globalThis as typeof globalThis & { [STATE]?: State };

/** Where a file's cached code lives: keyed by the Node.js version, architecture, path and content. */
function cacheFile(dir: string, filename: string, content: string): string {
  const key = createHash('sha256')
    .update(`${process.version}\0${process.arch}\0${filename}\0`)
    .update(content)
    .digest('hex')
    .slice(0, 40);
  return join(dir, `${key}.v8`);
}

/**
 * mkdir -p, one level at a time: Node's own recursive mkdir retries forever where mkdir keeps failing
 * with ENOENT under an existing parent (as in /proc).
 */
function makeDir(dir: string): void {
  const parent = dirname(dir);
  if (parent !== dir) {
    try {
      statSync(parent);
    } catch {
      makeDir(parent);
    }
  }
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  if (!statSync(dir).isDirectory()) throw codeError('ENOTDIR', `${dir} is not a directory`);
}

function requireFor(mod: LoaderModule, loader: Loader): NodeJS.Require {
  const req = ((id: string) => mod.require(id)) as NodeJS.Require;
  req.resolve = Object.assign(
    (request: string, options?: { paths?: string[] }) =>
      loader._resolveFilename(request, mod, false, options),
    {
      paths: (request: string) => loader._resolveLookupPaths(request, mod),
    },
  );
  req.main = require.main;
  req.extensions = loader._extensions as NodeJS.RequireExtensions;
  req.cache = loader._cache as NodeJS.Dict<NodeModule>;
  return req;
}

/**
 * Compiles this package's files from here on with cached code from `dir` (made on first use). Files
 * loaded before the call are not affected; a second call with another directory throws.
 */
export function enableCodeCache(dir: string): void {
  const abs = resolve(dir);
  const state = g[STATE];
  if (state) {
    if (state.dir !== abs)
      throw codeError('ERR_CODE_CACHE_ENABLED', `the code cache is already in ${state.dir}`);
    return;
  }
  makeDir(abs);
  const nodeModule = Module as unknown as CompileCacheModule;
  if (hasNodeCompileCache(nodeModule)) {
    g[STATE] = {
      dir: abs,
      node: enableNodeCompileCache(nodeModule, abs),
      compiled: [],
      accepted: 0,
      rejected: 0,
    };
    return;
  }
  const s: State = { dir: abs, node: null, compiled: [], accepted: 0, rejected: 0 };
  g[STATE] = s;
  const loader = Module as unknown as Loader;
  const original = loader.prototype._compile;
  loader.prototype._compile = function (this: LoaderModule, content: string, filename: string): unknown {
    // A hashbang line is valid only at the very start of a script, not inside the module wrapper.
    if (!filename.startsWith(PACKAGE_DIST) || !filename.endsWith('.js') || content.startsWith('#!'))
      return original.call(this, content, filename);
    const file = cacheFile(s.dir, filename, content);
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(file);
    } catch {
      cachedData = undefined;
    }
    const script = new Script(loader.wrap(content), { filename, cachedData });
    if (cachedData) {
      if (script.cachedDataRejected) s.rejected++;
      else s.accepted++;
    }
    s.compiled.push({
      script,
      file,
      savedBytes: cachedData && !script.cachedDataRejected ? cachedData.length : 0,
    });
    const fn = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return fn.call(this.exports, this.exports, requireFor(this, loader), this, filename, dirname(filename));
  };
}

/**
 * Writes the code V8 has compiled so far for the package's files (those that grew since they were
 * read or last saved). Resolves to the number of files written; without a cache, or with Node.js's
 * own (which writes at exit, and here too from Node.js 22.10), to 0.
 */
export async function saveCodeCache(): Promise<number> {
  const s = g[STATE];
  if (!s) return 0;
  if (s.node) {
    // Node says nothing of what it wrote.
    s.node.flush();
    return 0;
  }
  makeDir(s.dir);
  let written = 0;
  for (const c of s.compiled) {
    const data = c.script.createCachedData();
    if (data.length <= c.savedBytes) continue;
    const tmp = `${c.file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, data, { mode: 0o600 });
      await rename(tmp, c.file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    c.savedBytes = data.length;
    written++;
  }
  return written;
}

/** What the code cache has done in this process so far; `dir` null and zero counts when it is not enabled. */
export function codeCacheStats(): CodeCacheStats {
  const s = g[STATE];
  return {
    dir: s ? (s.node?.dir ?? s.dir) : null,
    mechanism: s ? (s.node ? 'node' : 'package') : null,
    modules: s?.compiled.length ?? 0,
    accepted: s?.accepted ?? 0,
    rejected: s?.rejected ?? 0,
  };
}

if (process.env.RDMA_CCM_CODE_CACHE) {
  try {
    enableCodeCache(process.env.RDMA_CCM_CODE_CACHE);
  } catch (e) {
    // A cache is only ever a speed-up: without a usable directory the package loads as it always does.
    process.emitWarning(`RDMA_CCM_CODE_CACHE: ${(e as Error).message}; running without a code cache`, {
      code: 'RDMA_CCM_CODE_CACHE',
    });
  }
}
