// Vitest's global set-up: most tests load the built package (dist/) or start its CLI; without a build
// they would each fail in their own way, so the run stops first with one line that says what to do.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export default function built(): void {
  if (existsSync(resolve(__dirname, '..', '..', 'dist', 'index.js'))) return;
  process.stderr.write('dist/ is missing: run `npm run compile` first (`npm run test:unit` builds it)\n');
  process.exit(1);
}
