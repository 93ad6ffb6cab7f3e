import { describe, expect, it } from 'vitest';
import { relativeLinks } from '../support/markdown-links';

describe('relativeLinks (the tarball check of README links)', () => {
  it('finds inline links, images and reference definitions, without fragments', () => {
    const md = [
      'See [the protocol](docs/protocol.md#handshake) and ![chart](./docs/a%20b.svg "title").',
      '[ref]: examples/hello.mjs',
      'Also <https://example.org>, [abs](https://x.y/z), [anchor](#toc) and [mail](mailto:a@b).',
      '[dir](examples/)',
    ].join('\n');
    expect(relativeLinks(md)).toEqual([
      'docs/protocol.md',
      'docs/a b.svg',
      'examples/',
      'examples/hello.mjs',
    ]);
  });

  it('skips code spans and fenced code', () => {
    const md = 'Run `[x](not/a/link)`.\n```js\nconst a = [b](c);\n```\n[real](LICENSE)\n';
    expect(relativeLinks(md)).toEqual(['LICENSE']);
  });
});
