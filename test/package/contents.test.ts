// What `npm pack` ships, from its --dry-run --json listing: the licence and the documents, the prebuild
// when one is built, source maps only with their sources, nothing of the repository's own tests and
// benchmarks, and a file for every relative link in the README.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { relativeLinks } from '../support/markdown-links';

const root = resolve(__dirname, '..', '..');
let shipped: Set<string>;

beforeAll(() => {
  // --ignore-scripts: list the tree as it is (the pack test makes the prebuild through prepack).
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
  });
  shipped = new Set((JSON.parse(out) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
}, 60_000);

describe('packed file list', () => {
  it('has the licence, README, changelog and package.json', () => {
    for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json'])
      expect(shipped.has(f), f).toBe(true);
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} rdma-ccm contributors\n/,
    );
  });

  it('has the prebuild when one is built', () => {
    const prebuild = `prebuilds/${process.platform}-${process.arch}/node.napi.node`;
    expect(shipped.has(prebuild)).toBe(existsSync(join(root, prebuild)));
  });

  it('has what a build from source needs', () => {
    for (const f of [
      'binding.gyp',
      'install/install.js',
      'install/check-headers.js',
      'install/features.js',
      'native/addon.cc',
    ])
      expect(shipped.has(f), f).toBe(true);
  });

  it('ships no source map without its sources', () => {
    for (const map of [...shipped].filter((f) => f.endsWith('.map'))) {
      const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] };
      for (const s of sources)
        expect(shipped.has(normalize(join(dirname(map), s))), `${map} → ${s}`).toBe(true);
    }
  });

  it("ships none of the repository's own tests, benchmarks, scripts or generated API pages", () => {
    const repoOnly = [...shipped].filter((f) => /^(test|bench|scripts|\.ci|docs\/api|\.lab|build)\//.test(f));
    expect(repoOnly).toEqual([]);
  });

  it('has a file for every relative link in README.md', () => {
    const missing = relativeLinks(readFileSync(join(root, 'README.md'), 'utf8')).filter(
      (target) =>
        !shipped.has(target) && ![...shipped].some((f) => f.startsWith(`${target.replace(/\/$/, '')}/`)),
    );
    expect(missing, 'README links to files the package does not ship').toEqual([]);
  });
});
