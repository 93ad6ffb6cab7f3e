// The history of a chaos run (`.lab/chaos/<seed>/history.jsonl`), one JSON object a line: what the
// workload asked and was told, what each node's application received or replayed, the CCM events that
// decide ownership, and every fault the nemesis injected. Each line carries the monotonic time of the
// clock that wrote it and that clock's offset to the run's one timeline, so the checker can order lines
// written by both guests and the host. Sequences and generations are decimal strings (64-bit values).
import { LabError } from '../exec';
import type { CcmEvent } from '../../ccm/events';
import { DURABILITY, type Durability } from '../../ccm/wire/layout';

/** Where a line was written and when. */
export interface Stamp {
  /** Whose monotonic clock `mono` is: `host` (the nemesis) or a node id as a string. */
  clock: string;
  /** Milliseconds on that clock (monotonic). */
  mono: number;
  /** Milliseconds added to `mono` to place the line on the run's timeline. */
  offset: number;
}

/** The first line: what was run and the thresholds the run's nodes were configured with. */
export interface RunLine extends Stamp {
  kind: 'run';
  /** The schedule's seed. */
  seed: string;
  /** The node ids of the cluster. */
  nodes: number[];
  /** The nodes' partner-down threshold (ms). */
  partnerDownMs: number;
  /** The nodes' heartbeat interval (ms). */
  heartbeatMs: number;
  /** A split-brain witness is configured: a link fault alone must never give a partner-down. */
  witness: boolean;
}

/** An append was called: `session.mirror.append(payload, { durability })`. */
export interface InvokeLine extends Stamp {
  kind: 'invoke';
  /** The appending node. */
  node: number;
  /** The appending node's boot generation: its log stream. */
  generation: string;
  /** The partner the session mirrors to. */
  partner: number;
  /** The client's id of this append, unique in the run. */
  op: string;
  /** The tag written into the payload (unique in the run), by which deliveries and replays name it. */
  tag: string;
  /** Payload bytes. */
  bytes: number;
  /** The level asked for. */
  durability: Durability;
}

/** An append resolved. */
export interface ResolveLine extends Stamp {
  kind: 'resolve';
  /** The appending node. */
  node: number;
  /** The append's op id. */
  op: string;
  /** The sequence it resolved with. */
  sequence: string;
  /** The level it resolved at. */
  durability: Durability;
  /** The boot generation of the partner the session was with when it resolved. */
  partnerGeneration: string;
  /** The writer's stream it was numbered in (`session.mirror.streamId`); sequences restart with each stream. */
  stream?: number;
}

/** An append was rejected (a `MirrorError`). */
export interface RejectLine extends Stamp {
  kind: 'reject';
  /** The appending node. */
  node: number;
  /** The append's op id. */
  op: string;
  /** The error's code, e.g. ERR_CCM_PARTNER_DOWN. */
  code: string;
  /** The record had been sent: the partner may hold it. */
  maybeDelivered: boolean;
}

/** A record reached the application of a node (a mirror `'record'` event). */
export interface DeliverLine extends Stamp {
  kind: 'deliver';
  /** The receiving node. */
  node: number;
  /** The receiving node's boot generation. */
  generation: string;
  /** The node that appended it. */
  from: number;
  /** The appending node's boot generation (the session's `partnerGeneration`). */
  fromGeneration: string;
  /** The record's sequence. */
  sequence: string;
  /** The tag read from its payload. */
  tag: string;
}

/** One record of a replay. */
export interface ReplayedRecord {
  /** Its sequence. */
  sequence: string;
  /** The tag read from its payload. */
  tag: string;
  /** The writer had been told it was safe. */
  acknowledged: boolean;
}

/** A node replayed a partner's mirrored log at takeover (`ccm.mirroredLog(partner)`). */
export interface ReplayLine extends Stamp {
  kind: 'replay';
  /** The replaying node. */
  node: number;
  /** The replaying node's boot generation. */
  generation: string;
  /** The partner whose log it is. */
  partner: number;
  /** The partner's boot generation replayed (the `takeover-safe` event's). */
  partnerGeneration: string;
  /** Records through this sequence were checkpointed by the writer and need not appear. */
  released: string;
  /** The records, in replay order. */
  records: ReplayedRecord[];
  /** The replay's error (`code: message`), or null. */
  error: string | null;
  /** The writer's stream found (`log.stream`): only records of that stream are promised to it. */
  stream?: number;
  /** The log this node found in its NVRAM region when it started (`atStart`), not the one in its memory now. */
  atStart?: boolean;
}

/** The CCM event types a history keeps: those that decide sessions, detection and ownership. */
export const HISTORY_EVENTS = [
  'listening',
  'state',
  'stalled',
  'heard-since-stall',
  'poison-pill',
  'established',
  'partner-down',
  'interconnect-down',
  'link-down',
  'fencing',
  'fence-failed',
  'takeover-safe',
  'takeover-unsafe',
  'takeover',
  'waiting-for-giveback',
  'giveback',
  'session-closed',
  'protocol-error',
  'stopped',
] as const;

/** One of {@link HISTORY_EVENTS}. */
export type HistoryEventType = (typeof HISTORY_EVENTS)[number];

/** A CCM event of a node, as its `ClusterNode` emitted it. */
export interface CcmLine extends Stamp {
  kind: 'ccm';
  /** The node that emitted it. */
  node: number;
  /** The event. */
  event: Extract<CcmEvent, { type: HistoryEventType }>;
}

/**
 * The faults a nemesis injects. Each has a start and an end line: kill (end: the CCM runs again),
 * power-off (end: the guest booted again), pause (SIGSTOP; end: SIGCONT), link-cut (end: healed),
 * loss and delay on a link, witness-unreadable and witness-slow, nvram-corrupt (bytes of a down node's
 * region), fence-fail (the fence command fails until the end), fenced (the fence command reset the
 * node; end: it booted again).
 */
export const FAULT_KINDS = [
  'kill',
  'power-off',
  'pause',
  'link-cut',
  'loss',
  'delay',
  'witness-unreadable',
  'witness-slow',
  'nvram-corrupt',
  'fence-fail',
  'fenced',
] as const;

/** One of {@link FAULT_KINDS}. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults during which the target node cannot act: its CCM is dead, stopped, or its guest off. */
export const DOWN_FAULTS: readonly FaultKind[] = ['kill', 'nvram-corrupt', 'power-off', 'pause', 'fenced'];
/** Faults of the interconnect only. */
export const LINK_FAULTS: readonly FaultKind[] = ['link-cut', 'loss', 'delay'];
/** Faults of the target's path to the witness disk: its heartbeat lands late or not at all, its reads too. */
export const WITNESS_FAULTS: readonly FaultKind[] = ['witness-unreadable', 'witness-slow'];

/** A fault started or ended. */
export interface FaultLine extends Stamp {
  kind: 'fault';
  /** Start or end. */
  phase: 'start' | 'end';
  /** The fault's id, shared by its start and end lines. */
  id: string;
  /** What it is. */
  fault: FaultKind;
  /** The node it hits (for a link fault: the node whose side of the link is cut). */
  target: number;
  /** The link's index, for link faults. */
  link?: number;
  /** Free text: the loss rate, the delay, the bytes corrupted. */
  detail?: string;
}

/** What a node left behind at the end of the run, once every fault had healed and the nodes stopped. */
export interface AuditLine extends Stamp {
  kind: 'audit';
  /** The node (guest) audited. */
  node: number;
  /** RDMA resources (QPs, CQs, MRs, CM ids, PDs) still allocated. */
  rdma: number;
  /** Processes of the run still alive. */
  processes: number;
  /** File descriptors of the run still open. */
  fds: number;
  /** What was found, for the report. */
  detail: string[];
}

/** One line of a history. */
export type HistoryLine =
  | RunLine
  | InvokeLine
  | ResolveLine
  | RejectLine
  | DeliverLine
  | ReplayLine
  | CcmLine
  | FaultLine
  | AuditLine;

/** A line as read: with its line number in the file (from 1) and its time on the timeline. */
export type Entry = HistoryLine & {
  /** Line number in the file, from 1. */
  line: number;
  /** `mono + offset`. */
  at: number;
};

/** A history that cannot be read. */
export class HistoryError extends LabError {
  constructor(message: string) {
    super('ERR_CHAOS_HISTORY', message);
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): boolean => Number.isInteger(v);
const isDec = (v: unknown): boolean => isStr(v) && /^\d+$/.test(v);
const isBool = (v: unknown): boolean => typeof v === 'boolean';

// The fields every line must have.
const STAMP: Record<string, (v: unknown) => boolean> = { clock: isStr, mono: isNum, offset: isNum };
// The fields each kind must have, each with its test (beyond the stamp).
const FIELDS: Record<HistoryLine['kind'], Record<string, (v: unknown) => boolean>> = {
  run: {
    seed: isStr,
    nodes: (v) => Array.isArray(v) && v.every(isInt),
    partnerDownMs: isNum,
    heartbeatMs: isNum,
    witness: isBool,
  },
  invoke: {
    node: isInt,
    generation: isDec,
    partner: isInt,
    op: isStr,
    tag: isStr,
    bytes: isInt,
    durability: (v) => (DURABILITY as readonly unknown[]).includes(v),
  },
  resolve: {
    node: isInt,
    op: isStr,
    sequence: isDec,
    durability: (v) => (DURABILITY as readonly unknown[]).includes(v),
    partnerGeneration: isDec,
  },
  reject: { node: isInt, op: isStr, code: isStr, maybeDelivered: isBool },
  deliver: {
    node: isInt,
    generation: isDec,
    from: isInt,
    fromGeneration: isDec,
    sequence: isDec,
    tag: isStr,
  },
  replay: {
    node: isInt,
    generation: isDec,
    partner: isInt,
    partnerGeneration: isDec,
    released: isDec,
    records: (v) =>
      Array.isArray(v) &&
      v.every(
        (r) =>
          r !== null && typeof r === 'object' && isDec(r.sequence) && isStr(r.tag) && isBool(r.acknowledged),
      ),
    error: (v) => v === null || isStr(v),
  },
  ccm: {
    node: isInt,
    event: (v) =>
      v !== null &&
      typeof v === 'object' &&
      (HISTORY_EVENTS as readonly unknown[]).includes((v as { type: unknown }).type),
  },
  fault: {
    phase: (v) => v === 'start' || v === 'end',
    id: isStr,
    fault: (v) => (FAULT_KINDS as readonly unknown[]).includes(v),
    target: isInt,
  },
  audit: {
    node: isInt,
    rdma: isInt,
    processes: isInt,
    fds: isInt,
    detail: (v) => Array.isArray(v) && v.every(isStr),
  },
};

/** Reads a history's text: one entry per non-empty line, in file order. Throws a {@link HistoryError}. */
export function parseHistory(text: string): Entry[] {
  const out: Entry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new HistoryError(`line ${i + 1}: not JSON (${(e as Error).message})`);
    }
    out.push(toEntry(v, i + 1));
  }
  return out;
}

/** Checks one parsed line and places it on the timeline (adds `line` and `at` to it). */
export function toEntry(v: unknown, line: number): Entry {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new HistoryError(`line ${line}: not an object`);
  const o = v as Record<string, unknown>;
  if (!isStr(o.kind) || !Object.hasOwn(FIELDS, o.kind))
    throw new HistoryError(`line ${line}: unknown kind ${JSON.stringify(o.kind)}`);
  const fields = FIELDS[o.kind as HistoryLine['kind']];
  for (const tests of [STAMP, fields])
    for (const name in tests)
      if (!tests[name](o[name]))
        throw new HistoryError(
          `line ${line}: ${o.kind} has a missing or bad ${name}: ${JSON.stringify(o[name])}`,
        );
  o.line = line;
  o.at = (o.mono as number) + (o.offset as number);
  return o as unknown as Entry;
}
