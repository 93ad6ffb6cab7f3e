// The package's version, as its package.json says (the same two levels up from lib/cli and dist/cli).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let version: string | undefined;

/** The installed rdma-ccm's version, read once. */
export function packageVersion(): string {
  version ??= (
    JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
  ).version;
  return version;
}
