// A witness against split brain: a second, independent way to see whether a partner runs, so that a
// cut interconnect is not taken for a dead partner. The built-in one is a disk both nodes reach (the
// mailbox disks of an HA pair, sbd's slots): each node writes its own sector every intervalMs, with a
// heartbeat counter that advances while it runs, and reads its partners' sectors. Other kinds (a third
// node, a TCP path) implement the same interface.
import { constants, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { NodeState } from './wire/layout';
import { WITNESS } from './wire/layout';
import { decodeWitness, encodeWitness, type WitnessSector } from './wire/witness-sector';
import { ProtocolError } from './wire/errors';

/** What a witness says of a partner now. */
export type WitnessVerdict =
  /** Its heartbeat advanced within the witness's timeout: it runs. */
  | 'alive'
  /** Its heartbeat has not advanced for longer than the timeout (or it never wrote): it does not run. */
  | 'stopped'
  /** This node cannot read the witness (its own I/O fails): nothing can be concluded. */
  | 'unavailable';

/** What the witness last saw of one partner. */
export interface WitnessView {
  /** alive, stopped or unavailable. */
  verdict: WitnessVerdict;
  /** The partner's last valid sector, if any. */
  sector: WitnessSector | null;
  /** Milliseconds since its heartbeat last advanced (null: never seen). */
  heartbeatAgeMs: number | null;
  /**
   * A moment (performance.now()) after which the partner is known to have written its heartbeat: the start
   * of the last read that still saw the value before its latest advance (null: no advance seen). An
   * advance read after a moment may have been written before it; only this proves life after it.
   */
  writtenAfter: number | null;
}

/** The interface every witness implements; the node drives it. */
export interface Witness {
  /** Names it in status and events, e.g. `disk:/dev/vdb`. */
  readonly description: string;
  /** How often (ms) it writes this node's heartbeat and reads the partners'. */
  readonly intervalMs: number;
  /** How long (ms) a partner's heartbeat may stand still before the partner is `stopped`. */
  readonly timeoutMs: number;
  /**
   * When this node's own sector last reached the disk (performance.now()): a partner judges this node by
   * it, and the node leaves ACTIVE once it is too old. A witness that cannot tell leaves it undefined.
   */
  readonly landedAt?: number;
  /** Opens it and starts writing this node's heartbeat and reading the partners'. */
  start(): Promise<void>;
  /** What it says of `partner` now. */
  view(partner: number, now?: number): WitnessView;
  /** The state this node publishes, and the takeover it holds, from the next write on. */
  publish(state: NodeState, takeover: { nodeId: number; generation: bigint } | null): void;
  /** Writes this node's sector at once (a takeover must be on the disk before it is acted on). */
  flush(): Promise<void>;
  /** Stops writing; the sector stays as last written. */
  close(): Promise<void>;
}

/** How a disk witness reports what it refuses and fails on. */
export interface WitnessHooks {
  /** A partner's sector that does not validate (torn, damaged, forged, another node's): refused, never trusted. */
  refused(partner: number, e: ProtocolError): void;
  /** This node's own witness I/O failed (or recovered: `error` null). */
  ioError(error: string | null): void;
  /** Runs first at each interval, before this node's sector is written (the node's stall check). */
  awake?(): void;
  /** This node's sector reached the disk (the node's watchdog is written to only then). */
  wrote?(): void;
  /** A partner's valid sector, at every read (the node obeys a takeover of its own boot: the poison pill). */
  read?(partner: number, sector: WitnessSector): void;
}

/** What a {@link DiskWitness} is made with (the node fills it in from its configuration). */
export interface DiskWitnessOptions {
  /** The block device or file. */
  path: string;
  /** The cluster id, written into and checked in every sector. */
  clusterId: bigint;
  /** This node's id. */
  nodeId: number;
  /** This node's boot generation. */
  generation: bigint;
  /** Every node of the cluster (this one and its partners): each owns the slot of its rank. */
  nodes: number[];
  /** How often this node writes its sector and reads the others' (ms). */
  intervalMs: number;
  /** A partner whose heartbeat has not moved for this long is stopped (ms). */
  timeoutMs: number;
  /** The cluster secret: every sector carries its MAC, and one without a valid MAC is refused. */
  secret?: Uint8Array;
  /** An aligned buffer for O_DIRECT (the addon's alignedBuffer), or a plain one for buffered I/O. */
  alignedBuffer: (length: number) => Uint8Array;
  /** With a kernel watchdog armed: how long after its last heartbeat this node is surely reset (ms; written in its sector). */
  msgwaitMs?: number;
}

interface Seen {
  sector: WitnessSector | null;
  /** When its heartbeat last advanced (performance.now()). */
  advancedAt: number | null;
  /** WitnessView.writtenAfter. */
  writtenAfter: number | null;
  /** When the read that returned `sector` started. */
  readAt: number | null;
  lastError: string | null;
}

/**
 * The disk witness: one 4096-byte slot per node on a block device or file, written and read with
 * O_DIRECT (and O_DSYNC) so that what a node reads is on the disk, not in its page cache. A file on a
 * filesystem without O_DIRECT (tmpfs) is used with buffered I/O and says so (`direct` false): fine on
 * one host for tests, not between hosts.
 */
export class DiskWitness implements Witness {
  readonly description: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Whether I/O goes past the page cache (O_DIRECT). */
  direct = true;
  private fh: FileHandle | null = null;
  private readonly own: Uint8Array;
  private readonly reads = new Map<number, Uint8Array>();
  private readonly seen = new Map<number, Seen>();
  private heartbeat = 0n;
  private state: NodeState = 'BOOTING';
  private takeover: { nodeId: number; generation: bigint } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;
  private ioError: string | null = null;
  private readonly startedAt = performance.now();
  /** When the last round started, and until when this node's own view is too old to call anyone stopped. */
  private lastRoundAt = performance.now();
  private staleUntil = 0;
  /** When this node's own sector last reached the disk. */
  landedAt = performance.now();
  private closed = false;

  constructor(
    private readonly o: DiskWitnessOptions,
    private readonly hooks: WitnessHooks,
  ) {
    this.description = `disk:${o.path}`;
    this.intervalMs = o.intervalMs;
    this.timeoutMs = o.timeoutMs;
    this.own = o.alignedBuffer(WITNESS.slotSize);
    for (const n of o.nodes)
      if (n !== o.nodeId) {
        this.reads.set(n, o.alignedBuffer(WITNESS.slotSize));
        this.seen.set(n, {
          sector: null,
          advancedAt: null,
          writtenAfter: null,
          readAt: null,
          lastError: null,
        });
      }
  }

  private offset(node: number): number {
    return [...this.o.nodes].sort((a, b) => a - b).indexOf(node) * WITNESS.slotSize;
  }

  async start(): Promise<void> {
    const flags = constants.O_RDWR | constants.O_DSYNC;
    try {
      this.fh = await fs.open(this.o.path, flags | constants.O_DIRECT);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EINVAL') throw e;
      this.fh = await fs.open(this.o.path, flags);
      this.direct = false;
    }
    // A file shorter than every node's slot grows (a block device has its size).
    const need = this.o.nodes.length * WITNESS.slotSize;
    const st = await this.fh.stat();
    if (st.isFile() && st.size < need) await this.fh.truncate(need);
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
  }

  publish(state: NodeState, takeover: { nodeId: number; generation: bigint } | null): void {
    this.state = state;
    this.takeover = takeover;
  }

  async flush(): Promise<void> {
    await this.busy;
    await this.tick();
  }

  /** One round: write this node's sector, then read each partner's. Skipped while the last one still runs (a stalled disk). */
  private tick(): Promise<void> {
    if (this.closed || !this.fh) return this.busy ?? Promise.resolve();
    // The node's stall check runs first, also while a round hangs: it reads landedAt.
    this.hooks.awake?.();
    if (this.busy) return this.busy;
    this.busy = this.round().finally(() => (this.busy = null));
    return this.busy;
  }

  private async round(): Promise<void> {
    const fh = this.fh!;
    // This node itself stalled (a blocked event loop, a paused VM, a disk that hung): what it last read of
    // the others is old, and their silence is its own. Nobody is stopped until it has watched a whole
    // timeout again (the session's own stall rule, applied to the disk).
    const now = performance.now();
    if (now - this.lastRoundAt > this.o.timeoutMs / 2) this.staleUntil = now + this.o.timeoutMs;
    this.lastRoundAt = now;
    try {
      this.heartbeat++;
      encodeWitness(
        {
          clusterId: this.o.clusterId,
          nodeId: this.o.nodeId,
          state: this.state,
          generation: this.o.generation,
          heartbeat: this.heartbeat,
          takeover: this.takeover,
          msgwaitMs: this.o.msgwaitMs,
        },
        this.o.secret,
        this.own,
      );
      await fh.write(this.own, 0, WITNESS.slotSize, this.offset(this.o.nodeId));
      this.landedAt = performance.now();
      this.hooks.wrote?.();
      for (const [n, buf] of this.reads) {
        const readAt = performance.now();
        await fh.read(buf, 0, WITNESS.slotSize, this.offset(n));
        this.take(n, buf, readAt);
      }
      if (this.ioError !== null) {
        this.ioError = null;
        this.hooks.ioError(null);
      }
    } catch (e) {
      const msg = `${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`.trim();
      if (this.ioError !== msg) {
        this.ioError = msg;
        this.hooks.ioError(msg);
      }
    }
  }

  /** Validates a copy of a partner's sector; only a valid one whose heartbeat moved counts as life. */
  private take(n: number, buf: Uint8Array, readAt: number): void {
    const s = this.seen.get(n)!;
    let sector: WitnessSector | null;
    try {
      sector = decodeWitness(buf.slice(0, WITNESS.size), this.o.clusterId, n, this.o.secret);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      if (s.lastError !== e.message) this.hooks.refused(n, e);
      s.lastError = e.message;
      return;
    }
    s.lastError = null;
    if (!sector) return;
    const moved =
      !s.sector || sector.generation !== s.sector.generation || sector.heartbeat !== s.sector.heartbeat;
    // The first valid sector read proves nothing yet: only a heartbeat that moves while we watch does.
    if (moved && s.sector) {
      s.advancedAt = performance.now();
      // The read before this one, started at s.readAt, still saw the old value: the write came after it.
      s.writtenAfter = s.readAt;
    }
    s.sector = sector;
    s.readAt = readAt;
    this.hooks.read?.(n, sector);
  }

  view(partner: number, now = performance.now()): WitnessView {
    const s = this.seen.get(partner);
    if (!s) return { verdict: 'unavailable', sector: null, heartbeatAgeMs: null, writtenAfter: null };
    const age = s.advancedAt === null ? null : Math.max(0, now - s.advancedAt);
    if (this.ioError !== null)
      return { verdict: 'unavailable', sector: s.sector, heartbeatAgeMs: age, writtenAfter: s.writtenAfter };
    // A stall of this node's own is the same: no verdict until it has rounds of a whole timeout again.
    if (now - this.lastRoundAt > this.o.timeoutMs / 2 || now < this.staleUntil) {
      const fresh =
        s.advancedAt !== null &&
        s.advancedAt > this.staleUntil - this.o.timeoutMs &&
        age !== null &&
        age <= this.o.timeoutMs;
      return {
        verdict: fresh ? 'alive' : 'unavailable',
        sector: s.sector,
        heartbeatAgeMs: age,
        writtenAfter: s.writtenAfter,
      };
    }
    const alive = age !== null && age <= this.o.timeoutMs;
    // Until this node has watched for a whole timeout, a partner it has not seen advance is not yet known stopped.
    if (!alive && age === null && now - this.startedAt <= this.o.timeoutMs)
      return { verdict: 'unavailable', sector: s.sector, heartbeatAgeMs: age, writtenAfter: s.writtenAfter };
    return {
      verdict: alive ? 'alive' : 'stopped',
      sector: s.sector,
      heartbeatAgeMs: age,
      writtenAfter: s.writtenAfter,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.busy;
    await this.fh?.close();
    this.fh = null;
  }

  /** Same as close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
