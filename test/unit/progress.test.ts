// Progress of the tests, the benchmarks and the lab's set-up: a status line on a terminal that ticks while
// the main thread is blocked in a synchronous child process, and plain lines everywhere else. The
// terminal is a real pseudo-terminal (util-linux's `script`).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../lib/progress';

const built = resolve(__dirname, '..', '..', 'dist', 'progress.js');
// Two steps; the first blocks the main thread for 2.5 s in spawnSync, the second runs a child that
// shows its own progress and must see that it is nested.
const program = `
const { Progress } = require(${JSON.stringify(built)});
const { spawnSync } = require('node:child_process');
const p = new Progress({ title: 'demo', total: 2 });
p.next('first');
spawnSync('sleep', ['2.5']);
p.next('second');
spawnSync(process.execPath, ['-e', 'process.stderr.write("nested:" + (process.env.RDMA_CCM_PROGRESS ?? "no") + "\\\\n")'], { stdio: 'inherit' });
p.done();
process.stderr.write('after:' + (process.env.RDMA_CCM_PROGRESS ?? 'no') + '\\n');
`;

const script = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-progress-')), 'steps.js');
writeFileSync(script, program);

function onTerminal(env: Record<string, string | undefined>): string {
  const cmd = `stty rows 24 cols 100; '${process.execPath}' '${script}'`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
    encoding: 'utf8',
    env: { ...process.env, ...env, TERM: 'xterm' },
    timeout: 30_000,
  });
  expect(r.status).toBe(0);
  return r.stdout;
}

describe('progress', () => {
  it('formats durations as 42s, 4m07s, 1h02m', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(42_900)).toBe('42s');
    expect(formatDuration(247_000)).toBe('4m07s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
  });

  it('keeps a ticking status line on the last row of a terminal, and gives the screen back at the end', () => {
    const out = onTerminal({ CI: undefined, RDMA_CCM_PROGRESS: undefined });
    // The scrolling region leaves row 24 to the status line; the end resets it and clears the row.
    expect(out).toContain('\x1b[1;23r');
    expect(out).toContain('\x1b[r\x1b[24;1H\x1b[2K');
    // eslint-disable-next-line no-control-regex -- the escape codes of a terminal are what is checked
    const bars = [...out.matchAll(/\x1b\[24;1H\x1b\[2Kdemo: \[(\d)\/2\] (\w+) · (\d+)s · total (\d+)s/g)].map(
      (m) => [m[2], Number(m[3])],
    );
    // Redrawn each second while spawnSync held the main thread: 0s, 1s and 2s of the first step.
    expect(bars.filter(([step]) => step === 'first').map(([, s]) => s)).toEqual(
      expect.arrayContaining([0, 1, 2]),
    );
    expect(bars.some(([step]) => step === 'second')).toBe(true);
    expect(out).toMatch(/demo: \[1\/2\] first: [23]s \(total [23]s\)/);
    expect(out).toContain('nested:1');
    expect(out).toContain('after:no');
  });

  it('writes plain lines, no escape codes, under CI even on a terminal', () => {
    const out = onTerminal({ CI: 'true' });
    expect(out).not.toContain('\x1b');
    expect(out.replace(/\r/g, '')).toMatch(
      /^demo: \[1\/2\] first\ndemo: \[1\/2\] first: [23]s \(total [23]s\)\ndemo: \[2\/2\] second\nnested:no\ndemo: \[2\/2\] second: [01]s \(total [23]s\)\nafter:no\n$/,
    );
  });

  it('writes plain lines into a pipe', () => {
    const r = spawnSync(process.execPath, [script], {
      encoding: 'utf8',
      env: { ...process.env, CI: undefined },
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain('\x1b');
    expect(r.stderr).toMatch(
      /^demo: \[1\/2\] first\ndemo: \[1\/2\] first: [23]s \(total [23]s\)\ndemo: \[2\/2\] second\nnested:no\n/,
    );
  });
});
