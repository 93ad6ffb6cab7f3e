// How the lab asks apt about packages: the host's own apt, or a private view of another Debian release
// with its own sources list, lists, preferences and cache in the lab's cache, so that the host's apt
// configuration and state are never touched (apt's Dir:: options point every file apt reads or writes
// into that folder; the archive keys are the host's keyring).
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptUpdate } from './deps';
import { LabError, failedLine, run } from './exec';
import { cacheRoot } from './cache';
import { inSetup } from './setup-steps';

/** Debian's mirror, for the private views and the roots made from them. */
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/** One way to ask apt: `options` go before apt-get's and apt-cache's command. */
export interface AptView {
  /** The release it shows ('host' for the host's own apt). */
  readonly suite: string;
  /** apt options (`-o Dir::…=…`) that make apt-get and apt-cache use this view. */
  readonly options: string[];
  /** Fetches the view's package lists (once per process). */
  update(): void;
  /** Each package's candidate version in this view (null where it has none). */
  candidates(pkgs: string[]): Record<string, string | null>;
}

function candidates(options: string[], pkgs: string[]): Record<string, string | null> {
  const out = run('apt-cache', [...options, 'policy', ...pkgs]).stdout;
  const found: Record<string, string | null> = Object.fromEntries(pkgs.map((p) => [p, null]));
  // `pkg:` then its lines, `  Candidate: v` among them.
  for (const m of out.matchAll(/^(\S+):\n(?:[ \t]+.*\n)*?[ \t]+Candidate:[ \t]+(\S+)/gm))
    if (m[1] in found && m[2] !== '(none)') found[m[1]] = m[2];
  return found;
}

/** The host's own apt (what `apt-get install` on this machine would see). */
export const HOST_APT: AptView = {
  suite: 'host',
  options: [],
  update: aptUpdate,
  candidates: (pkgs) => candidates([], pkgs),
};

const updated = new Set<string>();

/** A private view of Debian release `suite` (main), kept in the lab's cache under apt-<suite>/. */
export function privateApt(suite: string): AptView {
  const dir = join(cacheRoot(), `apt-${suite}`);
  const empty = join(dir, 'empty');
  const options = [
    ['Dir::Etc::sourcelist', join(dir, 'sources.list')],
    ['Dir::Etc::sourceparts', empty],
    ['Dir::Etc::preferences', join(empty, 'preferences')],
    ['Dir::Etc::preferencesparts', empty],
    ['Dir::State::Lists', join(dir, 'lists')],
    ['Dir::Cache', join(dir, 'cache')],
  ].flatMap(([k, v]) => ['-o', `${k}=${v}`]);
  const view: AptView = {
    suite,
    options,
    update() {
      if (updated.has(suite)) return;
      inSetup((steps) => {
        steps.plan(1);
        steps.next(`apt-get update (a private view of Debian ${suite})`);
        for (const d of [empty, join(dir, 'lists', 'partial'), join(dir, 'cache', 'archives', 'partial')])
          mkdirSync(d, { recursive: true });
        writeFileSync(join(dir, 'sources.list'), `deb ${DEBIAN_MIRROR} ${suite} main\n`);
        const r = run('apt-get', [...options, 'update', '-qq']);
        if (r.status !== 0)
          throw new LabError('ERR_LAB_APT', `lab: ${failedLine(`apt-get update of Debian ${suite}`, r)}`);
      });
      updated.add(suite);
    },
    candidates(pkgs) {
      const listed =
        existsSync(join(dir, 'lists')) &&
        readdirSync(join(dir, 'lists')).some((f) => f.includes('_Packages'));
      if (!listed) view.update();
      return candidates(options, pkgs);
    },
  };
  return view;
}
