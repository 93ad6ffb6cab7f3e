// Node's own compile cache (module.enableCompileCache, Node 22.1+), found by feature detection: where the
// running Node has it, the package's code cache is Node's; elsewhere lib/code-cache.ts compiles the
// package's files itself. Node 20's typings lack the API, so it is described here.
import { codeError } from './errors';

interface EnableResult {
  status: number;
  message?: string;
  directory?: string;
}

/** What node:module offers of its compile cache, as far as this package uses it. */
export interface CompileCacheModule {
  enableCompileCache?: (dir: string) => EnableResult;
  /** Node 22.10+: writes what was compiled so far (earlier versions write at exit only). */
  flushCompileCache?: () => void;
  constants?: { compileCacheStatus?: Record<'ENABLED' | 'ALREADY_ENABLED' | 'FAILED' | 'DISABLED', number> };
}

/** Node's compile cache, enabled in a directory. */
export interface NodeCompileCache {
  /** The directory Node uses: `dir`, or the one NODE_COMPILE_CACHE chose first. */
  dir: string;
  /** Writes what was compiled so far, where this Node can (it always writes at exit). */
  flush(): void;
}

/** Whether the running Node has its own compile cache. */
export function hasNodeCompileCache(mod: CompileCacheModule): boolean {
  return typeof mod.enableCompileCache === 'function' && mod.constants?.compileCacheStatus !== undefined;
}

/**
 * Enables Node's compile cache in `dir`; throws (ERR_CODE_CACHE_FAILED) when Node cannot or is told not
 * to (NODE_DISABLE_COMPILE_CACHE). Only for a Node that {@link hasNodeCompileCache}.
 */
export function enableNodeCompileCache(mod: CompileCacheModule, dir: string): NodeCompileCache {
  const status = mod.constants!.compileCacheStatus!;
  const r = mod.enableCompileCache!(dir);
  if (r.status !== status.ENABLED && r.status !== status.ALREADY_ENABLED)
    throw codeError(
      'ERR_CODE_CACHE_FAILED',
      r.status === status.DISABLED
        ? 'NODE_DISABLE_COMPILE_CACHE is set'
        : `Node's compile cache cannot use ${dir}: ${r.message ?? 'no reason given'}`,
    );
  return { dir: r.directory ?? dir, flush: () => mod.flushCompileCache?.() };
}
