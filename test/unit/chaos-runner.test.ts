// The chaos runner's own logic: the schedule is the seed's alone, every fault of it heals within the
// run, and a violation in a history makes the runner's report name it, with the seed and the last
// faults, and exit nonzero.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeSchedule, parseSeed, prng } from '../../lib/lab/chaos';

const root = resolve(__dirname, '..', '..');
const opts = { partnerDownMs: 3000 };

describe('chaos schedule', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(makeSchedule(7, 10, opts)).toEqual(makeSchedule(7, 10, opts));
    expect(makeSchedule(7, 10, opts)).not.toEqual(makeSchedule(8, 10, opts));
    expect(Array.from({ length: 3 }, prng(1))).toEqual(Array.from({ length: 3 }, prng(1)));
  });

  it('fits the minutes, draws every kind over many seeds, and times pauses around the threshold', () => {
    const actions = new Set<string>();
    for (let seed = 0; seed < 50; seed++) {
      const steps = makeSchedule(seed, 10, opts);
      const last = steps.at(-1)!;
      expect(last.atMs).toBeLessThan(10 * 60_000);
      for (const s of steps)
        for (const f of s.faults) {
          actions.add(f.action);
          if (f.action === 'pause-short') expect(f.durationMs).toBeLessThan(opts.partnerDownMs);
          if (f.action === 'pause-long') expect(f.durationMs).toBeGreaterThan(opts.partnerDownMs);
          if (f.action === 'witness-slow') expect(f.iops).toBeGreaterThan(0);
          if (f.action === 'nvram-corrupt') actions.add(`nvram-corrupt:${f.damage}`);
          if (f.action === 'fence-fail') expect(f).toMatchObject({ target: 1, failures: expect.any(Number) });
          expect([1, 2]).toContain(f.target);
        }
      expect(steps.every((s) => s.faults.length <= 2)).toBe(true);
      for (const [first, second] of steps.map((s) => s.faults)) {
        if (first.action === 'power-off' && second) expect(second.target).not.toBe(first.target);
        // A fence fails only where node 1 fences node 2, taken down by the step's first fault.
        if (second?.action === 'fence-fail')
          expect(
            ['kill', 'nvram-corrupt', 'pause-long', 'power-off'].includes(first.action) && first.target === 2,
          ).toBe(true);
      }
    }
    expect([...actions].sort()).toEqual(
      [
        'delay',
        'fence-fail',
        'kill',
        'link-cut',
        'link-flap',
        'links-cut',
        'loss',
        'nvram-corrupt',
        'nvram-corrupt:header',
        'nvram-corrupt:header-zero',
        'nvram-corrupt:record',
        'nvram-corrupt:tail',
        'pause-long',
        'pause-short',
        'power-off',
        'witness-hang',
        'witness-slow',
      ].sort(),
    );
    const noBoot = makeSchedule(3, 30, { ...opts, noPowerOff: true });
    expect(noBoot.flatMap((s) => s.faults).some((f) => f.action === 'power-off')).toBe(false);
  });

  it('refuses a bad seed or length with one error and a code', () => {
    expect(parseSeed('42')).toBe(42);
    for (const bad of ['-1', 'x', '4294967296', ''])
      expect(() => parseSeed(bad)).toThrow(expect.objectContaining({ code: 'ERR_CHAOS_SEED' }));
    expect(() => makeSchedule(1, 0, opts)).toThrow(expect.objectContaining({ code: 'ERR_CHAOS_MINUTES' }));
  });
});

/** A history as the workload writes it, with one record delivered twice when `duplicate`. */
function history(duplicate: boolean, broken = false): string {
  const s = (clock: string, mono: number) => ({ clock, mono, offset: 0 });
  const ev = (mono: number, node: number, event: object) => ({
    kind: 'ccm',
    node,
    event,
    ...s(String(node), mono),
  });
  const deliver = {
    kind: 'deliver',
    node: 1,
    generation: '11',
    from: 2,
    fromGeneration: '21',
    sequence: '1',
    tag: 't1',
  };
  return [
    {
      kind: 'run',
      seed: '977',
      nodes: [1, 2],
      partnerDownMs: 3000,
      heartbeatMs: 100,
      witness: true,
      ...s('host', 0),
    },
    ev(10, 1, { type: 'established', partner: 2 }),
    ev(10, 2, { type: 'established', partner: 1 }),
    {
      kind: 'invoke',
      node: 2,
      generation: '21',
      partner: 1,
      op: 't1',
      tag: 't1',
      bytes: 40,
      durability: 'delivered',
      ...s('2', 100),
    },
    { ...deliver, ...s('1', 110) },
    ...(duplicate ? [{ ...deliver, ...s('1', 111) }] : []),
    {
      kind: 'resolve',
      node: 2,
      op: 't1',
      sequence: '1',
      durability: 'delivered',
      partnerGeneration: '11',
      ...s('2', 120),
    },
    { kind: 'fault', phase: 'start', id: '1.1', fault: 'link-cut', target: 2, link: 0, ...s('host', 200) },
    { kind: 'fault', phase: 'end', id: '1.1', fault: 'link-cut', target: 2, link: 0, ...s('host', 300) },
    ...(broken ? [ev(250, 1, { type: 'interconnect-down', partner: 2 })] : []),
    ev(400, 1, { type: 'state', from: 'ACTIVE', to: 'LEAVING' }),
    { kind: 'audit', node: 1, rdma: 0, processes: 0, fds: 0, detail: [], ...s('1', 500) },
    { kind: 'audit', node: 2, rdma: 0, processes: 0, fds: 0, detail: [], ...s('2', 500) },
  ]
    .map((l) => JSON.stringify(l))
    .join('\n');
}

describe('chaos runner report', () => {
  const runCheck = (text: string) => {
    const path = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-chaos-run-')), 'history.jsonl');
    writeFileSync(path, text);
    return spawnSync(process.execPath, [join(root, 'scripts', 'chaos.mjs'), '--check', path], {
      encoding: 'utf8',
    });
  };

  it('exits 0 on a clean history: a session no fault broke counts as back', () => {
    const r = runCheck(history(false));
    expect(r.stdout).toMatch(/seed 977, 0 violation/);
    expect(r.status).toBe(0);
  });

  it('reports a session a fault broke that never came back', () => {
    const r = runCheck(history(false, true));
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/sessions-return: node 1 never had a session with node 2 again/);
  });

  it('stops nonzero on an injected duplicate and names the invariant, the records, the seed and the last faults', () => {
    const r = runCheck(history(true));
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/seed 977, 1 violation/);
    expect(r.stdout).toMatch(/no-phantom-or-duplicate: node 1 received t1 twice/);
    expect(r.stdout).toMatch(/line 5 @110 ms: .*"kind":"deliver"/);
    expect(r.stdout).toMatch(/line 6 @111 ms: .*"kind":"deliver"/);
    expect(r.stdout).toMatch(/last faults:\n.*"id":"1.1"/);
  });
});
