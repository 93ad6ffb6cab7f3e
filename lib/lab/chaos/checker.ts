// The chaos checker: a pure function of a history (history.ts) that reports every place where the
// cluster broke a promise. One function per invariant, in a table; each names the history lines
// involved and why, so a violation can be read straight off the report.
import type { Durability } from '../../ccm/wire/layout';
import {
  DOWN_FAULTS,
  FAULT_KINDS,
  HistoryError,
  LINK_FAULTS,
  WITNESS_FAULTS,
  type CcmLine,
  type DeliverLine,
  type Entry,
  type FaultKind,
  type FaultLine,
  type InvokeLine,
  type RejectLine,
  type ReplayLine,
  type ResolveLine,
  type RunLine,
} from './history';

/** What the checker needs beyond the history; by default the run line's values. */
export interface CheckOptions {
  /** The nodes' partner-down threshold (ms). */
  partnerDownMs?: number;
  /** The nodes' heartbeat interval (ms). */
  heartbeatMs?: number;
  /** A witness is configured (a link fault alone must never give a partner-down). */
  witness?: boolean;
  /** How far apart two clocks' lines may be placed on the timeline (ms; default 50). */
  skewMs?: number;
  /** How long a resumed node taken over may still be ACTIVE before its first line (ms; default partnerDownMs). */
  graceMs?: number;
  /**
   * How long after a pause ends a node's lines may still be work the pause interrupted (ms; default 250):
   * a promise settled before the pause, whose reactions run before anything can see the stall.
   */
  interruptedMs?: number;
  /**
   * How much later than threshold + interval a detection may come (ms; default 0): the event-loop lag of
   * nodes on a loaded host, e.g. emulated guests sharing two cores.
   */
  detectionSlackMs?: number;
}

/** The invariants, by name. */
export type InvariantName =
  | 'acknowledged-found'
  | 'no-phantom-or-duplicate'
  | 'rejected-absent'
  | 'single-owner'
  | 'partner-down-real'
  | 'detection-timely'
  | 'link-fault-not-down'
  | 'sessions-return'
  | 'no-leaks';

/** One broken promise. */
export interface Violation {
  /** The invariant broken. */
  invariant: InvariantName;
  /** The history lines involved, in timeline order. */
  records: Entry[];
  /** Why, in one line. */
  reason: string;
}

/** What a run did, for the report. */
export interface CheckStats {
  /** Appends invoked, by the level asked. */
  appends: Record<Durability, number>;
  /** Appends resolved, by the level they resolved at. */
  resolved: Record<Durability, number>;
  /** Appends rejected. */
  rejected: number;
  /** Delivered and replayed records checked. */
  recordsChecked: number;
  /** Faults injected, by kind. */
  faults: Record<FaultKind, number>;
  /** Detection times of partners that went down (fault start to partner-down, ms). */
  detection: { count: number; p50Ms: number | null; maxMs: number | null };
}

/** The result of {@link check}. */
export interface CheckResult {
  /** Every violation found, invariant by invariant. */
  violations: Violation[];
  /** What the run did. */
  stats: CheckStats;
}

/** One append: its invocation, and its outcome when it had one. */
interface Append {
  invoke: Entry & InvokeLine;
  resolve?: Entry & ResolveLine;
  reject?: Entry & RejectLine;
}

/** One fault, start to end (no end: it never healed). */
interface Fault {
  start: Entry & FaultLine;
  end?: Entry & FaultLine;
}

/** A history indexed for the invariants. */
export interface Run {
  /** Every entry, in timeline order (file order on ties). */
  entries: Entry[];
  /** The options, completed. */
  opts: Required<CheckOptions>;
  /** The run's nodes. */
  nodes: number[];
  /** @internal */
  appends: Map<string, Append>;
  /** @internal */
  byTag: Map<string, Append>;
  /** @internal */
  faults: Fault[];
  /** @internal */
  byKind: Map<Entry['kind'], Entry[]>;
}

/** One invariant: a name, what it promises, and its audit. */
export interface Invariant {
  /** Its name in violations. */
  name: InvariantName;
  /** What it promises. */
  promise: string;
  /** Every violation of it in a run. */
  audit: (run: Run) => Violation[];
}

type Of<K extends Entry['kind']> = Extract<Entry, { kind: K }>;
const ofKind = <K extends Entry['kind']>(run: Run, kind: K): Of<K>[] =>
  (run.byKind.get(kind) ?? []) as Of<K>[];
const ccmOf = <T extends CcmLine['event']['type']>(run: Run, type: T) =>
  ofKind(run, 'ccm').filter(
    (e): e is Of<'ccm'> & { event: Extract<CcmLine['event'], { type: T }> } => e.event.type === type,
  );
const byTime = (a: Entry, b: Entry) => a.at - b.at || a.line - b.line;
const sorted = (es: (Entry | undefined)[]) => es.filter((e): e is Entry => e !== undefined).sort(byTime);
const v = (invariant: InvariantName, records: (Entry | undefined)[], reason: string): Violation => ({
  invariant,
  records: sorted(records),
  reason,
});
const faultEnd = (f: Fault) => f.end?.at ?? Infinity;
const isDown = (f: Fault) => DOWN_FAULTS.includes(f.start.fault);
/** The entry's node, when a node wrote it. */
const nodeOf = (e: Entry): number | undefined =>
  e.kind === 'run' || e.kind === 'fault' ? undefined : e.node;

/** Indexes a history: pairs appends with outcomes and fault starts with ends. Throws a HistoryError. */
export function indexRun(entries: Entry[], options: CheckOptions = {}): Run {
  const head = entries.find((e): e is Entry & RunLine => e.kind === 'run');
  const partnerDownMs = options.partnerDownMs ?? head?.partnerDownMs;
  const heartbeatMs = options.heartbeatMs ?? head?.heartbeatMs;
  if (partnerDownMs === undefined || heartbeatMs === undefined)
    throw new HistoryError('no run line and no partnerDownMs/heartbeatMs given');
  const opts = {
    partnerDownMs,
    heartbeatMs,
    witness: options.witness ?? head?.witness ?? true,
    skewMs: options.skewMs ?? 50,
    graceMs: options.graceMs ?? partnerDownMs,
    interruptedMs: options.interruptedMs ?? 250,
    detectionSlackMs: options.detectionSlackMs ?? 0,
  };
  const ordered = [...entries].sort(byTime);
  const appends = new Map<string, Append>();
  const byTag = new Map<string, Append>();
  const faults = new Map<string, Fault>();
  const byKind = new Map<Entry['kind'], Entry[]>();
  for (const e of ordered) {
    const same = byKind.get(e.kind);
    if (same) same.push(e);
    else byKind.set(e.kind, [e]);
    if (e.kind === 'invoke') {
      if (appends.has(e.op) || byTag.has(e.tag))
        throw new HistoryError(`line ${e.line}: op ${e.op} or tag ${e.tag} invoked twice`);
      const a = { invoke: e };
      appends.set(e.op, a);
      byTag.set(e.tag, a);
    } else if (e.kind === 'resolve' || e.kind === 'reject') {
      const a = appends.get(e.op);
      if (!a) throw new HistoryError(`line ${e.line}: ${e.kind} of op ${e.op}, never invoked`);
      if (a.resolve || a.reject) throw new HistoryError(`line ${e.line}: op ${e.op} has a second outcome`);
      if (e.kind === 'resolve') a.resolve = e;
      else a.reject = e;
    } else if (e.kind === 'fault') {
      const f = faults.get(e.id);
      if (e.phase === 'start') {
        if (f) throw new HistoryError(`line ${e.line}: fault ${e.id} started twice`);
        faults.set(e.id, { start: e });
      } else {
        if (!f || f.end) throw new HistoryError(`line ${e.line}: fault ${e.id} ends without a start`);
        f.end = e;
      }
    }
  }
  return {
    entries: ordered,
    opts,
    nodes: head?.nodes ?? [],
    appends,
    byTag,
    faults: [...faults.values()],
    byKind,
  };
}

/** The deliveries of each stream: appender and its boot to receiver and its boot. */
function deliveryStreams(run: Run): Map<string, (Entry & DeliverLine)[]> {
  const streams = new Map<string, (Entry & DeliverLine)[]>();
  for (const d of ofKind(run, 'deliver')) {
    const key = `${d.from}/${d.fromGeneration}>${d.node}/${d.generation}`;
    const got = streams.get(key);
    if (got) got.push(d);
    else streams.set(key, [d]);
  }
  return streams;
}

/**
 * The appends a replay must hold, acknowledged, of the writer boot and stream it found (when both name
 * theirs, and the replay found one: a writer starts a new stream, at sequence 1, when it has nothing left in the ring or the
 * replayer's ring changed size):
 * - the log in the replayer's memory: placed ones to this boot of the replayer, persisted ones to any;
 *   and every one, to any boot, once an append of its stream resolved to this boot (the writer wrote
 *   its ring again into a new boot before any new append). Persisted ones to an earlier boot, beyond
 *   what the log found at start held when it reported damage (`lostAfter`), are not promised unless
 *   written again.
 * - the log found at start (`atStart`): persisted ones to an earlier boot of the replayer, up to where
 *   the replay reported damage, if it did.
 */
function promisedToReplay(run: Run, r: Entry & ReplayLine, lostAfter: bigint | null): Append[] {
  // A log with no stream (0) found nothing: it exempts no stream.
  const sameStream = (a: Append) =>
    a.resolve!.stream === undefined || !r.stream || a.resolve!.stream === r.stream;
  const ofWriter = [...run.appends.values()].filter(
    (a) =>
      a.resolve &&
      sameStream(a) &&
      a.invoke.node === r.partner &&
      a.invoke.generation === r.partnerGeneration &&
      a.invoke.partner === r.node &&
      a.resolve.at < r.at,
  );
  const kept = ofWriter.filter(
    (a) => a.resolve!.durability !== 'delivered' && BigInt(a.resolve!.sequence) > BigInt(r.released),
  );
  const toThisBoot = (a: Append) => a.resolve!.partnerGeneration === r.generation;
  if (r.atStart) {
    const last = r.records.at(-1)?.sequence;
    return kept.filter(
      (a) =>
        a.resolve!.durability === 'persisted' &&
        !toThisBoot(a) &&
        (r.error === null || (last !== undefined && BigInt(a.resolve!.sequence) <= BigInt(last))),
    );
  }
  const rewritten = new Set(ofWriter.filter(toThisBoot).map((a) => a.resolve!.stream));
  return kept.filter(
    (a) =>
      toThisBoot(a) ||
      rewritten.has(a.resolve!.stream) ||
      rewritten.has(undefined) ||
      (a.resolve!.durability === 'persisted' &&
        (lostAfter === null || BigInt(a.resolve!.sequence) <= lostAfter)),
  );
}

/** Found items of `promised` at `pos` (their first place) must rise with their sequence. */
function orderViolations(
  promised: Append[],
  pos: (a: Append) => number,
  where: (Entry | undefined)[],
): Violation[] {
  const found = promised
    .filter((a) => pos(a) >= 0)
    .sort((a, b) => (BigInt(a.resolve!.sequence) < BigInt(b.resolve!.sequence) ? -1 : 1));
  const out: Violation[] = [];
  for (let i = 1; i < found.length; i++) {
    const [p, q] = [found[i - 1], found[i]];
    if (pos(q) < pos(p))
      out.push(
        v(
          'acknowledged-found',
          [p.resolve, q.resolve, ...where],
          `op ${q.invoke.op} (sequence ${q.resolve!.sequence}) comes before op ${p.invoke.op} (sequence ${p.resolve!.sequence})`,
        ),
      );
  }
  return out;
}

/** Where each tag first is in `tags` (-1: nowhere), without a scan per append. */
function firstPlace(tags: string[]): (a: Append) => number {
  const first = new Map<string, number>();
  tags.forEach((t, i) => first.has(t) || first.set(t, i));
  return (a) => first.get(a.invoke.tag) ?? -1;
}

/** (a) Every resolved append is where its level promises, in order. */
function acknowledgedFound(run: Run): Violation[] {
  const out: Violation[] = [];
  const streams = deliveryStreams(run);
  const byStream = new Map<string, Append[]>();
  for (const a of run.appends.values()) {
    if (a.resolve?.durability !== 'delivered') continue;
    const key = `${a.invoke.node}/${a.invoke.generation}>${a.invoke.partner}/${a.resolve.partnerGeneration}`;
    const promised = byStream.get(key);
    if (promised) promised.push(a);
    else byStream.set(key, [a]);
  }
  for (const [key, promised] of byStream) {
    const got = streams.get(key) ?? [];
    const pos = firstPlace(got.map((d) => d.tag));
    for (const a of promised)
      if (pos(a) < 0)
        out.push(
          v(
            'acknowledged-found',
            [a.invoke, a.resolve],
            `op ${a.invoke.op} resolved delivered but node ${a.invoke.partner} (boot ${a.resolve!.partnerGeneration}) never received it`,
          ),
        );
    out.push(
      ...orderViolations(
        promised,
        pos,
        promised.filter((a) => pos(a) >= 0).map((a) => got[pos(a)]),
      ),
    );
  }
  const replays = ofKind(run, 'replay');
  for (const r of replays) {
    // The log found at start reported damage: what it held up to there, no more, was kept.
    const damaged = replays.find(
      (x) =>
        x.atStart &&
        x.error !== null &&
        x.node === r.node &&
        x.generation === r.generation &&
        x.partner === r.partner,
    );
    const lostAfter = damaged ? BigInt(damaged.records.at(-1)?.sequence ?? '0') : null;
    const promised = promisedToReplay(run, r, lostAfter);
    const pos = firstPlace(r.records.map((x) => x.tag));
    for (const a of promised) {
      const at = pos(a);
      const level = a.resolve!.durability;
      if (at < 0)
        out.push(
          v(
            'acknowledged-found',
            [a.invoke, a.resolve, r],
            `op ${a.invoke.op} resolved ${level} but node ${r.node}'s replay of node ${r.partner} lacks it`,
          ),
        );
      else if (!r.records[at].acknowledged)
        out.push(
          v(
            'acknowledged-found',
            [a.resolve, r],
            `op ${a.invoke.op} resolved ${level} but node ${r.node}'s replay has it not acknowledged`,
          ),
        );
    }
    out.push(...orderViolations(promised, pos, [r]));
  }
  return out;
}

/** (b) Nothing delivered or replayed that was never appended (by that boot, to that node), nothing twice. */
function noPhantomOrDuplicate(run: Run): Violation[] {
  const out: Violation[] = [];
  const appended = (tag: string, node: number, generation: string, partner: number) => {
    const a = run.byTag.get(tag);
    return (
      a !== undefined &&
      a.invoke.node === node &&
      a.invoke.generation === generation &&
      a.invoke.partner === partner
    );
  };
  for (const got of deliveryStreams(run).values()) {
    const seen = new Map<string, Entry>();
    for (const d of got) {
      if (!appended(d.tag, d.from, d.fromGeneration, d.node))
        out.push(
          v(
            'no-phantom-or-duplicate',
            [d],
            `node ${d.node} received ${d.tag}, which node ${d.from} (boot ${d.fromGeneration}) never appended to it`,
          ),
        );
      const first = seen.get(d.tag);
      if (first) out.push(v('no-phantom-or-duplicate', [first, d], `node ${d.node} received ${d.tag} twice`));
      else seen.set(d.tag, d);
    }
  }
  for (const r of ofKind(run, 'replay')) {
    const seen = new Set<string>();
    for (const x of r.records) {
      if (!appended(x.tag, r.partner, r.partnerGeneration, r.node))
        out.push(
          v(
            'no-phantom-or-duplicate',
            [r],
            `node ${r.node} replayed ${x.tag}, which node ${r.partner} (boot ${r.partnerGeneration}) never appended to it`,
          ),
        );
      if (seen.has(x.tag))
        out.push(v('no-phantom-or-duplicate', [r], `node ${r.node} replayed ${x.tag} twice`));
      seen.add(x.tag);
    }
  }
  return out;
}

/** (c) A rejected append that was never sent (maybeDelivered false) is never delivered nor replayed. */
function rejectedAbsent(run: Run): Violation[] {
  const out: Violation[] = [];
  const unsent = (tag: string) => {
    const a = run.byTag.get(tag);
    return a?.reject && !a.reject.maybeDelivered ? a : undefined;
  };
  for (const d of ofKind(run, 'deliver')) {
    const a = unsent(d.tag);
    if (a)
      out.push(
        v(
          'rejected-absent',
          [a.reject, d],
          `op ${a.invoke.op} was rejected ${a.reject!.code} with maybeDelivered false, yet node ${d.node} received it`,
        ),
      );
  }
  for (const r of ofKind(run, 'replay'))
    for (const x of r.records) {
      const a = unsent(x.tag);
      if (a)
        out.push(
          v(
            'rejected-absent',
            [a.reject, r],
            `op ${a.invoke.op} was rejected ${a.reject!.code} with maybeDelivered false, yet node ${r.node} replayed it`,
          ),
        );
    }
  return out;
}

/**
 * (d) Never two owners: a node takes over another only while that one is down or not ACTIVE, and a
 * node whose resources another holds is never ACTIVE while it acts (writes any line but its leaving
 * ACTIVE) nor for longer than the grace after it could act again. Lines within `interruptedMs` of the
 * end of its pause finish work the pause interrupted (an append that resolved just before it, whose
 * callback runs first after it), not work begun after it.
 */
function singleOwner(run: Run): Violation[] {
  const out: Violation[] = [];
  const state = new Map<number, string>();
  const down = new Map<number, number>();
  const held = new Map<number, Entry>(); // victim -> the takeover line
  const since = new Map<number, Entry>(); // victim -> the line from which it was ACTIVE, acting and held
  const reported = new Set<Entry>();
  const alive = (n: number) => (down.get(n) ?? 0) === 0;
  const resumed = new Map<number, number>(); // node -> when its last pause ended
  const interrupted = (e: Entry, n: number) => e.at - (resumed.get(n) ?? -Infinity) <= run.opts.interruptedMs;
  const check = (e: Entry) => {
    for (const [victim, takeover] of held) {
      if (!(alive(victim) && state.get(victim) === 'ACTIVE')) {
        since.delete(victim);
        continue;
      }
      const from = since.get(victim) ?? e;
      since.set(victim, from);
      const acts = nodeOf(e) === victim && !interrupted(e, victim);
      if (reported.has(takeover) || !(acts || e.at - from.at > run.opts.graceMs)) continue;
      reported.add(takeover);
      const taker = (takeover as Entry & CcmLine).node;
      out.push(
        v(
          'single-owner',
          [takeover, from, e],
          `node ${victim} is ACTIVE ${acts ? 'and acting' : e.at === Infinity ? 'to the end of the history' : `${e.at - from.at} ms`} while node ${taker} holds its resources`,
        ),
      );
    }
  };
  for (const e of run.entries) {
    if (e.kind === 'fault' && DOWN_FAULTS.includes(e.fault)) {
      down.set(e.target, (down.get(e.target) ?? 0) + (e.phase === 'start' ? 1 : -1));
      if (e.phase === 'end' && e.fault === 'pause') resumed.set(e.target, e.at);
      if (e.phase === 'start' && e.fault !== 'pause') {
        state.set(e.target, 'DOWN');
        for (const [victim, t] of held) if ((t as Entry & CcmLine).node === e.target) held.delete(victim);
      }
    } else if (e.kind === 'ccm') {
      const ev = e.event;
      if (ev.type === 'listening') state.set(e.node, 'BOOTING');
      else if (ev.type === 'state' || ev.type === 'stalled') state.set(e.node, ev.to);
      else if (ev.type === 'takeover') {
        if (alive(ev.partner) && state.get(ev.partner) === 'ACTIVE')
          out.push(
            v(
              'single-owner',
              [e],
              `node ${e.node} took over node ${ev.partner} while it was running and ACTIVE`,
            ),
          );
        held.set(ev.partner, e);
      } else if (
        ev.type === 'giveback' &&
        ev.direction === 'given' &&
        held.get(ev.partner)?.kind === 'ccm' &&
        (held.get(ev.partner) as Entry & CcmLine).node === e.node
      )
        held.delete(ev.partner);
      // The victim read the giveback in the holder's status block: the holder released it before its own
      // event (which follows the witness write).
      else if (
        ev.type === 'giveback' &&
        ev.direction === 'received' &&
        (held.get(e.node) as (Entry & CcmLine) | undefined)?.node === ev.partner
      )
        held.delete(e.node);
    }
    check(e);
  }
  const last = run.entries.at(-1);
  if (last) check({ ...last, at: Infinity });
  return out;
}

/** The down faults of `node` that explain a silence from `from` to `at` (a pause must outlast the threshold). */
function downDuring(run: Run, node: number, from: number, at: number): Fault | undefined {
  const { skewMs, partnerDownMs } = run.opts;
  return run.faults.find(
    (f) =>
      isDown(f) &&
      f.start.target === node &&
      f.start.at <= at + skewMs &&
      faultEnd(f) >= from - skewMs &&
      (f.start.fault !== 'pause' || Math.min(at, faultEnd(f)) - f.start.at >= partnerDownMs - skewMs),
  );
}

/** Link faults on either side between two nodes overlapping a time span. */
function linkFaultsDuring(run: Run, nodes: number[], from: number, at: number): Fault[] {
  return run.faults.filter(
    (f) =>
      LINK_FAULTS.includes(f.start.fault) &&
      nodes.includes(f.start.target) &&
      f.start.at <= at &&
      faultEnd(f) >= from,
  );
}

/** Faults of `node`'s path to the witness disk overlapping a time span. */
function witnessFaultsDuring(run: Run, node: number, from: number, at: number): Fault[] {
  const { skewMs } = run.opts;
  return run.faults.filter(
    (f) =>
      WITNESS_FAULTS.includes(f.start.fault) &&
      f.start.target === node &&
      f.start.at <= at + skewMs &&
      faultEnd(f) >= from - skewMs,
  );
}

/**
 * Partner-downs no down fault explains: those during a link fault (when a witness is configured), and the
 * others. A partner whose own witness heartbeat could not land while its links were cut looks stopped on
 * the disk, as SBD's self-fencing node does: it must have left ACTIVE (single-owner checks that).
 */
function unexplainedDowns(run: Run) {
  const { heartbeatMs, skewMs } = run.opts;
  return ccmOf(run, 'partner-down')
    .map((e) => {
      const from = e.at - e.event.detectionMs - heartbeatMs - skewMs;
      return {
        e,
        fault:
          downDuring(run, e.event.partner, from, e.at) ??
          witnessFaultsDuring(run, e.event.partner, from, e.at)[0],
        links: linkFaultsDuring(run, [e.node, e.event.partner], from, e.at),
      };
    })
    .filter((x) => x.fault === undefined);
}

/** (e) Every partner-down is real: the partner was dead, paused past the threshold, or fenced. */
function partnerDownReal(run: Run): Violation[] {
  return unexplainedDowns(run)
    .filter((x) => x.links.length === 0 || !run.opts.witness)
    .map((x) =>
      v(
        'partner-down-real',
        [x.e],
        `node ${x.e.node} declared node ${x.e.event.partner} down while it was running (no fault stopped it)`,
      ),
    );
}

/** (f) With a witness, no link fault alone gives a partner-down. */
function linkFaultNotDown(run: Run): Violation[] {
  if (!run.opts.witness) return [];
  return unexplainedDowns(run)
    .filter((x) => x.links.length > 0)
    .map((x) =>
      v(
        'link-fault-not-down',
        [...x.links.map((f) => f.start), x.e],
        `node ${x.e.node} declared node ${x.e.event.partner} down on ${x.links.map((f) => f.start.fault).join(', ')} alone`,
      ),
    );
}

/** Whether `node` was in session with `partner` at `at` (its last session event before then was `established`). */
function inSession(run: Run, node: number, partner: number, at: number): boolean {
  let up = false;
  for (const e of ofKind(run, 'ccm')) {
    if (e.at > at) break;
    if (e.node === node && e.event.type === 'listening') up = false; // a new process: no session yet
    if (e.node !== node || !('partner' in e.event) || e.event.partner !== partner) continue;
    if (e.event.type === 'established') up = true;
    else if (['partner-down', 'interconnect-down', 'session-closed'].includes(e.event.type)) up = false;
  }
  return up;
}

/** Each down fault that lasted past detection, with each node that was in session with the victim and up, and when it detected it. */
function detections(run: Run) {
  const { partnerDownMs, heartbeatMs, skewMs, detectionSlackMs } = run.opts;
  const limit = partnerDownMs + heartbeatMs + skewMs + detectionSlackMs;
  const end = run.entries.at(-1)?.at ?? 0;
  const out: { fault: Fault; observer: number; detected?: Entry & CcmLine; ms?: number; limit: number }[] =
    [];
  for (const f of run.faults.filter(isDown)) {
    const s = f.start.at;
    if (Math.min(faultEnd(f), end) - s <= limit) continue;
    for (const observer of run.nodes) {
      if (observer === f.start.target || !inSession(run, observer, f.start.target, s)) continue;
      // An observer that was down itself, or whose witness reads were slowed, owes no timely verdict.
      if (
        run.faults.some(
          (g) => isDown(g) && g.start.target === observer && g.start.at <= s + limit && faultEnd(g) >= s,
        ) ||
        witnessFaultsDuring(run, observer, s, s + limit).length > 0
      )
        continue;
      const detected = ccmOf(run, 'partner-down').find(
        (e) => e.node === observer && e.event.partner === f.start.target && e.at >= s - skewMs,
      );
      out.push({ fault: f, observer, detected, ms: detected && detected.at - s, limit });
    }
  }
  return out;
}

/** (e) Every partner that went down is detected within threshold + interval by each node in session with it. */
function detectionTimely(run: Run): Violation[] {
  return detections(run)
    .filter((d) => d.ms === undefined || d.ms > d.limit)
    .map((d) =>
      v(
        'detection-timely',
        [d.fault.start, d.detected],
        d.detected
          ? `node ${d.observer} detected node ${d.fault.start.target}'s ${d.fault.start.fault} after ${d.ms} ms (limit ${d.limit})`
          : `node ${d.observer} never detected node ${d.fault.start.target}'s ${d.fault.start.fault}`,
      ),
    );
}

/** (g) After the last fault heals, every node is in session with every other again. */
function sessionsReturn(run: Run): Violation[] {
  const open = run.faults.filter((f) => !f.end);
  if (open.length)
    return open.map((f) =>
      v('sessions-return', [f.start], `fault ${f.start.id} (${f.start.fault}) never healed`),
    );
  const lastEnd = run.faults
    .map((f) => f.end!)
    .sort(byTime)
    .at(-1);
  const healed = lastEnd?.at ?? -Infinity;
  // The nodes' stop at the end of the run (the first to leave) ends the sessions on purpose.
  const quit = run.entries.find(
    (e) =>
      e.at > healed &&
      (e.kind === 'audit' ||
        (e.kind === 'ccm' &&
          (e.event.type === 'stopped' || (e.event.type === 'state' && e.event.to === 'LEAVING')))),
  );
  const out: Violation[] = [];
  for (const node of run.nodes)
    for (const partner of run.nodes) {
      if (node === partner) continue;
      // A session that a fault never broke is back as well as one established again.
      const back =
        ccmOf(run, 'established').some(
          (e) => e.node === node && e.event.partner === partner && e.at > healed,
        ) ||
        (quit !== undefined && inSession(run, node, partner, quit.at - 1));
      if (!back)
        out.push(
          v(
            'sessions-return',
            [lastEnd],
            `node ${node} never had a session with node ${partner} again after the schedule healed`,
          ),
        );
    }
  return out;
}

/** (g) The final audit finds no RDMA resource, process or file descriptor left behind. */
function noLeaks(run: Run): Violation[] {
  const audits = ofKind(run, 'audit');
  if (audits.length === 0) return [v('no-leaks', [run.entries.at(-1)], 'the history has no final audit')];
  const unaudited = run.nodes.filter((n) => !audits.some((a) => a.node === n));
  return [
    ...unaudited.map((n) => v('no-leaks', [run.entries.at(-1)], `node ${n} has no final audit`)),
    ...audits
      .filter((a) => a.rdma + a.processes + a.fds > 0)
      .map((a) =>
        v(
          'no-leaks',
          [a],
          `node ${a.node} left ${a.rdma} RDMA resources, ${a.processes} processes, ${a.fds} fds: ${a.detail.join('; ')}`,
        ),
      ),
  ];
}

/** Every invariant the checker audits, in report order. */
export const INVARIANTS: readonly Invariant[] = [
  {
    name: 'acknowledged-found',
    promise: 'a resolved append is found once, in order, where its level promises',
    audit: acknowledgedFound,
  },
  {
    name: 'no-phantom-or-duplicate',
    promise: 'nothing delivered or replayed that was never appended, nothing twice',
    audit: noPhantomOrDuplicate,
  },
  {
    name: 'rejected-absent',
    promise: 'a rejected append with maybeDelivered false never appears',
    audit: rejectedAbsent,
  },
  { name: 'single-owner', promise: 'never two owners of the same resources at once', audit: singleOwner },
  {
    name: 'partner-down-real',
    promise: 'every partner-down is of a partner dead, paused past the threshold, or fenced',
    audit: partnerDownReal,
  },
  {
    name: 'detection-timely',
    promise: 'a partner that went down is detected within threshold + interval',
    audit: detectionTimely,
  },
  {
    name: 'link-fault-not-down',
    promise: 'with a witness, no link fault alone gives a partner-down',
    audit: linkFaultNotDown,
  },
  { name: 'sessions-return', promise: 'after the schedule heals, sessions come back', audit: sessionsReturn },
  { name: 'no-leaks', promise: 'nothing is left behind at the end', audit: noLeaks },
];

const median = (xs: number[]) =>
  xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

function statsOf(run: Run): CheckStats {
  const levels = () => ({ delivered: 0, placed: 0, persisted: 0 });
  const stats: CheckStats = {
    appends: levels(),
    resolved: levels(),
    rejected: 0,
    recordsChecked: 0,
    faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>,
    detection: { count: 0, p50Ms: null, maxMs: null },
  };
  for (const a of run.appends.values()) {
    stats.appends[a.invoke.durability]++;
    if (a.resolve) stats.resolved[a.resolve.durability]++;
    if (a.reject) stats.rejected++;
  }
  for (const e of run.entries) {
    if (e.kind === 'deliver') stats.recordsChecked++;
    else if (e.kind === 'replay') stats.recordsChecked += e.records.length;
    else if (e.kind === 'fault' && e.phase === 'start') stats.faults[e.fault]++;
  }
  const ms = detections(run).flatMap((d) => (d.ms === undefined ? [] : [d.ms]));
  stats.detection = { count: ms.length, p50Ms: median(ms), maxMs: ms.length ? Math.max(...ms) : null };
  return stats;
}

/** Checks a history against every invariant (or the ones given). Throws a HistoryError if it is inconsistent. */
export function check(
  entries: Entry[],
  options: CheckOptions = {},
  invariants: readonly Invariant[] = INVARIANTS,
): CheckResult {
  const run = indexRun(entries, options);
  return { violations: invariants.flatMap((i) => i.audit(run)), stats: statsOf(run) };
}
