// The chaos checker's meta-tests: a clean two-node history passes every invariant, and for each
// invariant a history that breaks it is reported under that invariant and no other.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  check,
  checkHistoryFile,
  INVARIANTS,
  parseHistory,
  type HistoryLine,
  type InvariantName,
} from '../../lib/lab/chaos';

type Body = HistoryLine extends infer L
  ? L extends HistoryLine
    ? Omit<L, 'clock' | 'mono' | 'offset'>
    : never
  : never;
// Each clock's offset to the timeline: the guests' monotonic clocks started at other times.
const OFFSET: Record<string, number> = { host: 0, '1': 1000, '2': -250 };
/** A line at `t` on the timeline, written with `clock`'s own monotonic time. */
const at = (t: number, body: Body): HistoryLine => {
  const clock = body.kind === 'run' || body.kind === 'fault' ? 'host' : String(body.node);
  return { clock, mono: t - OFFSET[clock], offset: OFFSET[clock], ...body } as HistoryLine;
};
const ccm = (t: number, node: number, event: Record<string, unknown>) =>
  at(t, { kind: 'ccm', node, event: { time: '2026-01-01T00:00:00.000Z', ms: t, node, ...event } as never });
const fault = (t: number, phase: 'start' | 'end', id: string, f: string, target: number, link?: number) =>
  at(t, { kind: 'fault', phase, id, fault: f as never, target, ...(link === undefined ? {} : { link }) });
const invoke = (t: number, op: string, durability: 'delivered' | 'placed' | 'persisted') =>
  at(t, {
    kind: 'invoke',
    node: 2,
    generation: '21',
    partner: 1,
    op,
    tag: `tag-${op}`,
    bytes: 512,
    durability,
  });
const resolve = (t: number, op: string, sequence: number, durability: 'delivered' | 'placed' | 'persisted') =>
  at(t, { kind: 'resolve', node: 2, op, sequence: String(sequence), durability, partnerGeneration: '11' });
const deliver = (t: number, op: string, sequence: number) =>
  at(t, {
    kind: 'deliver',
    node: 1,
    generation: '11',
    from: 2,
    fromGeneration: '21',
    sequence: String(sequence),
    tag: `tag-${op}`,
  });
const record = (op: string, sequence: number, acknowledged = true) => ({
  sequence: String(sequence),
  tag: `tag-${op}`,
  acknowledged,
});
const established = (t: number, node: number, partner: number, partnerGeneration: string) =>
  ccm(t, node, {
    type: 'established',
    partner,
    role: node === 1 ? 'initiator' : 'responder',
    partnerGeneration,
    partnerState: 'READY',
    handshakeMs: 5,
  });
const partnerDown = (t: number, node: number, partner: number, detectionMs = 1000) =>
  ccm(t, node, {
    type: 'partner-down',
    partner,
    reason: 'heartbeat stopped',
    detectionMs,
    links: [{ link: 0, reason: 'silent' }],
    witness: 'stopped',
  });
const audit = (t: number, node: number, rdma = 0) =>
  at(t, { kind: 'audit', node, rdma, processes: 0, fds: 0, detail: rdma ? [`${rdma} QPs`] : [] });
const run = at(0, {
  kind: 'run',
  seed: '42',
  nodes: [1, 2],
  partnerDownMs: 1000,
  heartbeatMs: 100,
  witness: true,
});
const boot = (t: number, node: number, generation: string) => [
  ccm(t, node, { type: 'listening', address: `10.0.0.${node}`, port: 7000, generation }),
  ccm(t + 10, node, { type: 'state', from: 'BOOTING', to: 'READY' }),
];
const active = (t: number, node: number, from = 'READY') =>
  ccm(t, node, { type: 'state', from, to: 'ACTIVE' });

/** The start every history here shares: both nodes boot, reach each other and go ACTIVE. */
function bothActive(): HistoryLine[] {
  return [
    run,
    ...boot(100, 1, '11'),
    ...boot(100, 2, '21'),
    established(300, 1, 2, '21'),
    established(300, 2, 1, '11'),
    active(400, 1),
    active(400, 2),
  ];
}

/**
 * Node 2 appends at each level to node 1; a link is cut and healed, node 2 is paused shorter than
 * the threshold, then killed: node 1 detects it, replays its log and takes over; node 2's new boot
 * gets its resources back; nothing is left behind.
 */
function clean(): HistoryLine[] {
  return [
    ...bothActive(),
    invoke(1000, 'd1', 'delivered'),
    invoke(1001, 'd2', 'delivered'),
    deliver(1010, 'd1', 1),
    deliver(1011, 'd2', 2),
    resolve(1020, 'd1', 1, 'delivered'),
    resolve(1021, 'd2', 2, 'delivered'),
    invoke(1100, 'p3', 'placed'),
    resolve(1110, 'p3', 3, 'placed'),
    invoke(1200, 's4', 'persisted'),
    resolve(1210, 's4', 4, 'persisted'),
    invoke(1300, 'r5', 'delivered'),
    fault(2000, 'start', 'f1', 'link-cut', 1, 0),
    ccm(2300, 1, {
      type: 'link-down',
      partner: 2,
      link: 0,
      localAddress: '10.0.0.1',
      remoteAddress: '10.0.0.2',
      reason: 'heartbeat stopped',
      detectionMs: 300,
      linksUp: 1,
    }),
    fault(3000, 'end', 'f1', 'link-cut', 1, 0),
    fault(3500, 'start', 'f2', 'pause', 2),
    fault(3800, 'end', 'f2', 'pause', 2),
    fault(5000, 'start', 'f3', 'kill', 2),
    at(5010, { kind: 'reject', node: 2, op: 'r5', code: 'ERR_CCM_PARTNER_DOWN', maybeDelivered: false }),
    partnerDown(6050, 1, 2),
    ccm(6060, 1, { type: 'takeover-safe', partner: 2, generation: '21', by: 'witness' }),
    at(6100, {
      kind: 'replay',
      node: 1,
      generation: '11',
      partner: 2,
      partnerGeneration: '21',
      released: '0',
      records: [record('d1', 1), record('d2', 2), record('p3', 3), record('s4', 4)],
      error: null,
    }),
    ccm(6200, 1, { type: 'takeover', partner: 2, generation: '21' }),
    fault(8000, 'end', 'f3', 'kill', 2),
    ...boot(8100, 2, '22'),
    established(8500, 1, 2, '22'),
    established(8500, 2, 1, '11'),
    ccm(8510, 2, { type: 'waiting-for-giveback', partner: 1, replayed: { stream: 21, through: '4' } }),
    ccm(9000, 1, { type: 'giveback', partner: 2, direction: 'given' }),
    ccm(9010, 2, { type: 'giveback', partner: 1, direction: 'received', replayed: null }),
    active(9020, 2),
    audit(10000, 1),
    audit(10000, 2),
  ];
}

/** Issue 33's split brain: node 2 paused past every threshold, node 1 takes over, node 2 resumed stays ACTIVE. */
function splitBrain(fixed: boolean): HistoryLine[] {
  return [
    ...bothActive(),
    fault(5000, 'start', 'p', 'pause', 2),
    partnerDown(6050, 1, 2),
    ccm(6060, 1, { type: 'takeover-safe', partner: 2, generation: '21', by: 'witness' }),
    ccm(6200, 1, { type: 'takeover', partner: 2, generation: '21' }),
    fault(9000, 'end', 'p', 'pause', 2),
    ...(fixed
      ? [ccm(9001, 2, { type: 'stalled', stalledMs: 4000, from: 'ACTIVE', to: 'READY', cause: 'process' })]
      : []),
    established(9300, 2, 1, '11'),
    established(9300, 1, 2, '21'),
    ccm(9350, 2, { type: 'waiting-for-giveback', partner: 1, replayed: null }),
    audit(20000, 1),
    audit(20000, 2),
  ];
}

/**
 * Node 2's path to the witness hangs while both its links are cut: node 1 sees its heartbeat stand still
 * on the disk and takes over. Fixed, node 2 left ACTIVE first (`stalled`, cause witness).
 */
function witnessHung(fixed: boolean): HistoryLine[] {
  return [
    ...bothActive(),
    fault(5000, 'start', 'w', 'witness-unreadable', 2),
    fault(5000, 'start', 'c0', 'link-cut', 2, 0),
    fault(5000, 'start', 'c1', 'link-cut', 2, 1),
    ...(fixed
      ? [ccm(6400, 2, { type: 'stalled', stalledMs: 1400, from: 'ACTIVE', to: 'READY', cause: 'witness' })]
      : []),
    partnerDown(8100, 1, 2, 3000),
    ccm(8110, 1, { type: 'takeover-safe', partner: 2, generation: '21', by: 'witness' }),
    ccm(8200, 1, { type: 'takeover', partner: 2, generation: '21' }),
    fault(12000, 'end', 'c0', 'link-cut', 2, 0),
    fault(12000, 'end', 'c1', 'link-cut', 2, 1),
    fault(12000, 'end', 'w', 'witness-unreadable', 2),
    established(12100, 2, 1, '11'),
    established(12100, 1, 2, '21'),
    ccm(12150, 2, { type: 'waiting-for-giveback', partner: 1, replayed: null }),
    audit(20000, 1),
    audit(20000, 2),
  ];
}

/** The clean history, but node 1 loses power and boots again before node 2 dies: its replay holds `replayed`. */
function powerLoss(replayed: ReturnType<typeof record>[]): HistoryLine[] {
  const h = clean().map((l) =>
    l.kind === 'replay' ? ({ ...l, generation: '12', records: replayed } as HistoryLine) : l,
  );
  const i = h.findIndex((l) => l.kind === 'fault' && l.id === 'f3');
  const reboot = [
    fault(4000, 'start', 'off', 'power-off', 1),
    fault(4500, 'end', 'off', 'power-off', 1),
    ...boot(4600, 1, '12'),
    established(4700, 1, 2, '21'),
    established(4700, 2, 1, '12'),
    active(4800, 1),
  ];
  return [...h.slice(0, i), ...reboot, ...h.slice(i)];
}

const entries = (lines: HistoryLine[]) => parseHistory(lines.map((l) => JSON.stringify(l)).join('\n'));
const names = (lines: HistoryLine[]) => [
  ...new Set(check(entries(lines)).violations.map((v) => v.invariant)),
];
/** The clean history with the line matching `pick` replaced by `by` (several lines, or none). */
function edit(pick: (l: HistoryLine) => boolean, by: (l: HistoryLine) => HistoryLine[]): HistoryLine[] {
  const h = clean();
  const i = h.findIndex(pick);
  if (i < 0) throw new Error('no such line');
  return [...h.slice(0, i), ...by(h[i]), ...h.slice(i + 1)];
}
const isDeliver = (op: string) => (l: HistoryLine) => l.kind === 'deliver' && l.tag === `tag-${op}`;
const isEvent = (type: string, node: number) => (l: HistoryLine) =>
  l.kind === 'ccm' && l.node === node && l.event.type === type;

// Each broken history and the one invariant that must report it.
const broken: [string, InvariantName, () => HistoryLine[]][] = [
  ['a delivered record lost', 'acknowledged-found', () => edit(isDeliver('d2'), () => [])],
  [
    'a persisted record missing from the replay',
    'acknowledged-found',
    () =>
      edit(
        (l) => l.kind === 'replay',
        (l) => [
          {
            ...l,
            records: (l as { records: ReturnType<typeof record>[] }).records.slice(0, 3),
          } as HistoryLine,
        ],
      ),
  ],
  [
    'a placed record replayed unacknowledged',
    'acknowledged-found',
    () =>
      edit(
        (l) => l.kind === 'replay',
        (l) => [
          {
            ...l,
            records: [record('d1', 1), record('d2', 2), record('p3', 3, false), record('s4', 4)],
          } as HistoryLine,
        ],
      ),
  ],
  [
    'a reordered pair',
    'acknowledged-found',
    () => edit(isDeliver('d1'), (l) => [{ ...l, mono: l.mono + 5 }]),
  ],
  [
    'a duplicate delivery',
    'no-phantom-or-duplicate',
    () => edit(isDeliver('d2'), (l) => [l, { ...l, mono: l.mono + 1 }]),
  ],
  [
    'a phantom delivery',
    'no-phantom-or-duplicate',
    () => edit(isDeliver('d2'), (l) => [l, { ...l, mono: l.mono + 1, tag: 'tag-ghost', sequence: '3' }]),
  ],
  [
    'a phantom replayed record',
    'no-phantom-or-duplicate',
    () =>
      edit(
        (l) => l.kind === 'replay',
        (l) => [
          {
            ...l,
            records: [...(l as { records: ReturnType<typeof record>[] }).records, record('ghost', 5, false)],
          } as HistoryLine,
        ],
      ),
  ],
  [
    'a rejected, never sent record delivered',
    'rejected-absent',
    () => edit(isDeliver('d2'), (l) => [l, deliver(1400, 'r5', 5)]),
  ],
  [
    'a takeover of a running ACTIVE node',
    'single-owner',
    () =>
      edit(isEvent('link-down', 1), (l) => [
        l,
        ccm(4500, 1, { type: 'takeover', partner: 2, generation: '21' }),
        ccm(4600, 1, { type: 'giveback', partner: 2, direction: 'given' }),
      ]),
  ],
  [
    'a late detection',
    'detection-timely',
    () => edit(isEvent('partner-down', 1), () => [partnerDown(7000, 1, 2, 1950)]),
  ],
  ['a death never detected', 'detection-timely', () => edit(isEvent('partner-down', 1), () => [])],
  [
    'a partner-down of a running node',
    'partner-down-real',
    () => edit(isEvent('listening', 1), (l) => [l, partnerDown(4500, 1, 2)]),
  ],
  [
    'a partner-down after a link cut alone',
    'link-fault-not-down',
    () => edit(isEvent('link-down', 1), (l) => [l, partnerDown(2400, 1, 2, 300)]),
  ],
  [
    'a session that never comes back',
    'sessions-return',
    () =>
      edit(
        (l) => isEvent('established', 2)(l) && l.mono + l.offset === 8500,
        () => [],
      ),
  ],
  [
    'a leak',
    'no-leaks',
    () =>
      edit(
        (l) => l.kind === 'audit' && l.node === 2,
        () => [audit(10000, 2, 3)],
      ),
  ],
  ['no final audit', 'no-leaks', () => clean().filter((l) => l.kind !== 'audit')],
  ['a node not audited', 'no-leaks', () => clean().filter((l) => !(l.kind === 'audit' && l.node === 2))],
];

describe('chaos checker', () => {
  it('passes a clean history and counts what it did', () => {
    const { violations, stats } = check(entries(clean()));
    expect(violations).toEqual([]);
    expect(stats.appends).toEqual({ delivered: 3, placed: 1, persisted: 1 });
    expect(stats.resolved).toEqual({ delivered: 2, placed: 1, persisted: 1 });
    expect(stats.rejected).toBe(1);
    expect(stats.recordsChecked).toBe(6);
    expect(stats.faults).toMatchObject({ 'link-cut': 1, pause: 1, kill: 1, 'power-off': 0 });
    expect(stats.detection).toEqual({ count: 1, p50Ms: 1050, maxMs: 1050 });
  });

  it.each(broken)('reports %s under %s alone', (_name, invariant, history) => {
    expect(names(history())).toEqual([invariant]);
    // The audit is what finds it: without it, the history passes.
    const without = INVARIANTS.map((i) => (i.name === invariant ? { ...i, audit: () => [] } : i));
    expect(check(entries(history()), {}, without).violations).toEqual([]);
  });

  it('keeps persisted records, not placed ones, to a replay after the replayer lost power', () => {
    expect(check(entries(powerLoss([record('s4', 4)]))).violations).toEqual([]);
    const [v, ...rest] = check(entries(powerLoss([record('p3', 3)]))).violations;
    expect(rest).toEqual([]);
    expect(v.invariant).toBe('acknowledged-found');
    expect(v.reason).toBe("op s4 resolved persisted but node 1's replay of node 2 lacks it");
  });

  it("keeps placed records too, once the writer wrote to the replayer's new boot after its power loss", () => {
    // Node 2 appends to node 1's new boot: before it, it wrote its ring again into that boot.
    const rewritten = (replayed: ReturnType<typeof record>[]) => {
      const h = powerLoss([...replayed, record('p6', 6)]);
      const i = h.findIndex((l) => l.kind === 'fault' && l.id === 'f3');
      const later = [
        invoke(4900, 'p6', 'placed'),
        { ...resolve(4910, 'p6', 6, 'placed'), partnerGeneration: '12' } as HistoryLine,
      ];
      return [...h.slice(0, i), ...later, ...h.slice(i)];
    };
    expect(check(entries(rewritten([record('p3', 3), record('s4', 4)]))).violations).toEqual([]);
    const [v, ...rest] = check(entries(rewritten([record('s4', 4)]))).violations;
    expect(rest).toEqual([]);
    expect(v.reason).toBe("op p3 resolved placed but node 1's replay of node 2 lacks it");
    // Only an append of the same stream shows the ring was written again; a replay that found no stream (0)
    // binds no other stream by it.
    const streams = (later: number) =>
      rewritten([record('s4', 4)]).map((l) =>
        l.kind === 'resolve'
          ? ({ ...l, stream: l.op === 'p6' ? later : 7 } as HistoryLine)
          : l.kind === 'replay'
            ? ({ ...l, stream: 0 } as HistoryLine)
            : l,
      );
    expect(check(entries(streams(8))).violations).toEqual([]);
    expect(names(streams(7))).toEqual(['acknowledged-found']);
  });

  it('holds a log found at start to the persisted records of the earlier boot, up to the damage it reports', () => {
    const startLog = (records: ReturnType<typeof record>[], error: string | null): HistoryLine[] =>
      powerLoss([]).flatMap((l) =>
        l.kind === 'replay' ? [l, { ...l, records, error, atStart: true } as HistoryLine] : [l],
      );
    const damaged = 'ERR_CCM_LOG_DAMAGED: the part was refused';
    // The damage is reported: the live log, empty, owes nothing, and neither does the log found at start.
    expect(check(entries(startLog([], damaged))).violations).toEqual([]);
    // What the log found at start still held before its damage, the live log owes.
    expect(check(entries(startLog([record('s4', 4)], damaged))).violations.map((v) => v.reason)).toEqual([
      "op s4 resolved persisted but node 1's replay of node 2 lacks it",
    ]);
    expect(check(entries(startLog([record('s4', 4)], null))).violations.map((v) => v.reason)).toEqual([
      "op s4 resolved persisted but node 1's replay of node 2 lacks it",
    ]);
    // Lost silently: both logs owe it, also when they name no stream (found none).
    const silent = startLog([], null).map((l) =>
      l.kind === 'replay'
        ? ({ ...l, stream: 0 } as HistoryLine)
        : l.kind === 'resolve'
          ? ({ ...l, stream: 7 } as HistoryLine)
          : l,
    );
    expect(check(entries(silent)).violations.map((v) => v.reason)).toEqual([
      "op s4 resolved persisted but node 1's replay of node 2 lacks it",
      "op s4 resolved persisted but node 1's replay of node 2 lacks it",
    ]);
  });

  it('reports the split brain after a pause as two owners, naming the takeover and the resumed node', () => {
    const [v, ...rest] = check(entries(splitBrain(false))).violations;
    expect(rest).toEqual([]);
    expect(v.invariant).toBe('single-owner');
    expect(v.reason).toMatch(/node 2 is ACTIVE and acting while node 1 holds its resources/);
    expect(v.records.map((r) => r.kind === 'ccm' && r.event.type)).toEqual([
      'takeover',
      false,
      'established',
    ]);
  });

  it('passes the same history when the resumed node leaves ACTIVE first', () => {
    expect(check(entries(splitBrain(true))).violations).toEqual([]);
  });

  it('lets work the pause interrupted finish first, not work begun after it', () => {
    // An append resolved just before the pause: its callback runs 20 ms after it, before the stall is seen.
    const withResolve = (t: number, stalledAt: number | null) =>
      splitBrain(true)
        .filter((l) => !(l.kind === 'ccm' && l.event.type === 'stalled'))
        .concat([
          invoke(4000, 'p9', 'placed'),
          resolve(t, 'p9', 9, 'placed'),
          ...(stalledAt === null
            ? []
            : [
                ccm(stalledAt, 2, {
                  type: 'stalled',
                  stalledMs: 4000,
                  from: 'ACTIVE',
                  to: 'READY',
                  cause: 'process',
                }),
              ]),
        ]);
    expect(check(entries(withResolve(9020, 9040))).violations).toEqual([]);
    expect(names(withResolve(9020, null))).toEqual(['single-owner']);
    const [late] = check(entries(withResolve(9400, 9500))).violations;
    expect(late.reason).toBe('node 2 is ACTIVE and acting while node 1 holds its resources');
  });

  it('takes a partner-down of a node whose witness hung under every link cut as real, and its staying ACTIVE as two owners', () => {
    expect(check(entries(witnessHung(true))).violations).toEqual([]);
    expect(names(witnessHung(false))).toEqual(['single-owner']);
    // Without the witness fault, the same partner-down came of the link cuts alone.
    const linksOnly = witnessHung(true).filter((l) => !(l.kind === 'fault' && l.id === 'w'));
    expect(names(linksOnly)).toEqual(['link-fault-not-down']);
  });

  it('reports a resumed node still ACTIVE past the grace even when it writes nothing', () => {
    const silent = splitBrain(false).filter(
      (l) => !(l.kind !== 'fault' && l.kind !== 'run' && l.node === 2 && l.mono + l.offset > 9000),
    );
    const v = check(entries(silent)).violations.filter((x) => x.invariant === 'single-owner');
    expect(v.map((x) => x.reason)).toEqual(['node 2 is ACTIVE 11000 ms while node 1 holds its resources']);
  });

  it('ends a hold when the victim received the giveback, even before the holder says it gave it', () => {
    const isGiveback = (direction: string) => (l: HistoryLine) =>
      l.kind === 'ccm' && l.event.type === 'giveback' && l.event.direction === direction;
    const late = clean().map((l) =>
      isGiveback('given')(l) ? ccm(9500, 1, { type: 'giveback', partner: 2, direction: 'given' }) : l,
    );
    expect(check(entries(late)).violations).toEqual([]);
    expect(names(late.filter((l) => !isGiveback('received')(l)))).toEqual(['single-owner']);
  });

  it('lets a detection come as much later as the slack given for loaded hosts, no more', () => {
    const late = edit(isEvent('partner-down', 1), () => [partnerDown(7000, 1, 2, 1950)]);
    expect(names(late)).toEqual(['detection-timely']);
    expect(check(entries(late), { detectionSlackMs: 1000 }).violations).toEqual([]);
    expect(check(entries(late), { detectionSlackMs: 800 }).violations.map((v) => v.reason)).toEqual([
      "node 1 detected node 2's kill after 2000 ms (limit 1950)",
    ]);
  });

  it('promises to a replay only the records of the stream it found', () => {
    const streams = (found: number) =>
      clean().map((l) =>
        l.kind === 'resolve'
          ? ({ ...l, stream: 7 } as HistoryLine)
          : l.kind === 'replay'
            ? ({ ...l, stream: found, records: [] } as HistoryLine)
            : l,
      );
    expect(check(entries(streams(8))).violations).toEqual([]);
    expect(names(streams(7))).toEqual(['acknowledged-found']);
  });

  it('refuses a history it cannot read with one error and a code', () => {
    expect(() => parseHistory('{"kind":"run"')).toThrow(
      expect.objectContaining({
        code: 'ERR_CHAOS_HISTORY',
        message: expect.stringMatching(/line 1: not JSON/),
      }),
    );
    expect(() => parseHistory('\n{"kind":"fault","clock":"host","mono":1,"offset":0}')).toThrow(
      /line 2: fault has a missing or bad phase/,
    );
    expect(() => parseHistory('{"kind":"nope","clock":"host","mono":1,"offset":0}')).toThrow(
      /unknown kind "nope"/,
    );
    expect(() => check(entries([run, invoke(1, 'x', 'placed'), invoke(2, 'x', 'placed')]))).toThrow(
      /invoked twice/,
    );
    expect(() => checkHistoryFile('/nonexistent/history.jsonl')).toThrow(
      expect.objectContaining({ code: 'ERR_CHAOS_HISTORY' }),
    );
  });

  it('renders a report from a file: invariant, records, seed, last faults', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-chaos-')), 'history.jsonl');
    writeFileSync(
      path,
      splitBrain(false)
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    const report = checkHistoryFile(path);
    expect(report.seed).toBe('42');
    expect(report.violations.map((v) => v.invariant)).toEqual(['single-owner']);
    expect(report.text).toMatch(/seed 42, 1 violation/);
    expect(report.text).toMatch(/single-owner: node 2 is ACTIVE and acting/);
    expect(report.text).toMatch(/line \d+ @6200 ms: .*"type":"takeover"/);
    expect(report.text).toMatch(/last faults:\n.*"fault":"pause"/);
  });
});
