// What every part of a running CCM shares: its configuration, exposed memory and event sink.
import type { CcmConfig, ResolvedPartner } from './config';
import type { CcmEvent } from './events';
import type { StatusPublisher } from './status-publisher';
import type { NvramRegion } from './nvram';
import type { Replayed } from './wire/status-block';
import type { Endpoint } from './transport';
import type { Witness } from './witness';
import { ObserverSlot } from './observer';
import type { RegionCoords } from './wire/mailbox';
import { LOG_TAIL, SLOT } from './wire/layout';
import { awake, watchStalls } from '../stall';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type EventInput = DistributiveOmit<CcmEvent, 'time' | 'ms' | 'node'>;

export class Core {
  constructor(
    readonly cfg: CcmConfig,
    readonly endpoint: Endpoint,
    readonly status: StatusPublisher,
    private readonly sink: (e: EventInput) => void,
  ) {}

  /**
   * Emits an event, after awake(): work a stall interrupted (a chain of promise reactions the process was
   * in when it was paused) finishes before any event-loop callback, and its events must still come after
   * a stall's `state` and `stalled`.
   */
  emit(e: EventInput): void {
    awake();
    this.sink(e);
  }

  stopping = false;
  /** The split-brain witness, when one is configured. */
  witness: Witness | null = null;
  /** The NVRAM region the partners' slots live in (`nvram` option), or null: ordinary memory. */
  nvram: NvramRegion | null = null;
  /** Partners that hold this node's resources (they took over while it was down): it waits for their giveback. */
  readonly heldBy = new Set<number>();

  /** How far each partner that holds this node's resources replayed this node's log (as its status block said). */
  private readonly replayedBy = new Map<number, Replayed | null>();

  /**
   * Partner `partner` says it holds this node's resources (`held`), having replayed this node's log
   * as far as `replayed` says, or no longer does (a giveback, which then says how far it replayed).
   */
  takenOver(partner: number, held: boolean, replayed?: Replayed | null): void {
    if (held && replayed !== undefined) this.replayedBy.set(partner, replayed);
    if (held === this.heldBy.has(partner)) return;
    const said = (r: Replayed | null | undefined) =>
      r ? { stream: r.stream, through: r.through.toString() } : null;
    if (held) {
      // Taken over while it acted (it stalled, or the partner judged it down): it stops acting first.
      this.leaveActive();
      this.heldBy.add(partner);
      this.emit({ type: 'waiting-for-giveback', partner, replayed: said(this.replayedBy.get(partner)) });
    } else {
      this.heldBy.delete(partner);
      this.emit({
        type: 'giveback',
        partner,
        direction: 'received',
        replayed: said(this.replayedBy.get(partner)),
      });
      this.replayedBy.delete(partner);
    }
  }
  /** Stops this node's watch for stalls of its process (see watchStalls()). */
  private unwatch: (() => void) | null = null;
  /** Partners whose takeover record this node has not read since it stalled: it may not go ACTIVE yet. */
  readonly unsureOf = new Set<number>();
  /** When this node last found it had stalled (performance.now()); a status read posted before it proves nothing. */
  stalledAt = -Infinity;

  /**
   * How long this node may stall (a paused VM, SIGSTOP, a long garbage collection, a hung disk) before a
   * partner may have judged it down and taken its resources over. A partner judges it down after
   * partnerDownMs without a session heartbeat and, with a witness, only once its witness heartbeat has
   * stood still for the witness's timeout too; each was last written up to an interval before the stall
   * began, and two intervals are kept as margin.
   */
  get stallLimitMs(): number {
    const { partnerDownMs, heartbeatMs } = this.cfg;
    const session = Math.max(partnerDownMs / 2, partnerDownMs - 2 * heartbeatMs);
    const w = this.witness;
    return w ? Math.max(session, w.timeoutMs - 2 * w.intervalMs) : session;
  }

  /** Starts (and `stop` ends) this node's watch for stalls of its process, from the first callback after one. */
  watchStalls(stop = false): void {
    this.unwatch?.();
    this.unwatch = null;
    if (stop) return;
    this.unwatch = watchStalls({ awake: (now, gap) => this.checkStall(now, gap) });
  }

  /**
   * At every entry into the package, before anything else: past stallLimitMs without running, the node
   * stalled. With a witness, what a partner judges by is this node's last sector on the disk: once it
   * landed longer ago than half the witness's timeout (a stall, or a disk that hangs or fails), the node
   * acts as stalled too, until a sector lands again (witnessLanded()).
   */
  private checkStall(now: number, gap: number): void {
    const w = this.witness;
    const landed = w?.landedAt;
    if (this.witnessLost && landed !== undefined && landed > this.witnessLostAt) this.witnessLanded();
    const age = landed === undefined ? 0 : now - landed;
    // Noted before acting: leaving ACTIVE emits events, and each event checks again.
    const late = landed !== undefined && !this.witnessLost && age > w!.timeoutMs / 2;
    if (late) {
      this.witnessLost = true;
      this.witnessLostAt = now;
    }
    if (gap > this.stallLimitMs) this.stalled(gap, 'process');
    // Late with the process running: the cause is its disk unless the gap explains the sector's age.
    else if (late) this.stalled(age, gap > age - 2 * w!.intervalMs ? 'process' : 'witness');
  }

  /** Runs first in every timer of the node that reaches the network or the disk (CM events and completions call it too). */
  awake(now?: number): void {
    awake(now);
  }

  /**
   * After a stall past stallLimitMs, an ACTIVE node leaves ACTIVE before it does anything else
   * (`stalled`): a partner may hold its resources now. It may go ACTIVE again once it has read each
   * partner's takeover record since (heardSinceStall(); `waitingForGiveback` says which hold them).
   */
  private stalled(stalledMs: number, cause: 'process' | 'witness' = 'process'): void {
    if (this.stopping) return;
    const from = this.status.state;
    this.leaveActive();
    this.stalledAt = performance.now();
    for (const p of this.cfg.partners) this.unsureOf.add(p.nodeId);
    this.emit({ type: 'stalled', stalledMs: Math.round(stalledMs), from, to: this.status.state, cause });
  }

  /**
   * This node's last witness sector landed longer ago than half the witness's timeout (checkStall()): with
   * the interconnect down too, a partner may take over a node that runs. It may not go ACTIVE.
   */
  witnessLost = false;
  private witnessLostAt = 0;

  /**
   * After the node's witness sector was late (checkStall()), one landed. It stays out of ACTIVE until each
   * partner is heard again: only what is read of each from now on counts.
   */
  private witnessLanded(): void {
    this.witnessLost = false;
    this.stalledAt = performance.now();
    for (const p of this.cfg.partners) this.unsureOf.add(p.nodeId);
  }

  /**
   * Partner `partner`'s takeover record, read after this node's last stall, does not name this node
   * (the takeover it names, if it does, was taken first: takenOver()): it is no longer unsure of it.
   */
  heardSinceStall(partner: number, by: 'session' | 'status-read'): void {
    if (this.witnessLost || !this.unsureOf.delete(partner)) return;
    const unheard = [...this.unsureOf].sort((a, b) => a - b);
    this.emit({ type: 'heard-since-stall', partner, by, unheard });
  }

  /** An ACTIVE node becomes READY, in its status block and on its witness at once. */
  private leaveActive(): void {
    if (this.status.state !== 'ACTIVE') return;
    this.status.setState('READY');
    this.witness?.publish('READY', this.status.takeover);
    this.emit({ type: 'state', from: 'ACTIVE', to: 'READY' });
  }

  /**
   * Why a session with the partner whose status block is `s` must not be made, or null: a node that
   * appends `persisted` records cannot have them held by a partner whose log regions are not persistent
   * memory, whichever of the two it is. The status block says both; each side of the handshake checks
   * it when it has read the other's, before the session is made.
   */
  unfitPartner(s: { persistent?: boolean; needsPersistent?: boolean; nodeId: number }): string | null {
    if (this.cfg.durability === 'persisted' && !s.persistent)
      return `partner ${s.nodeId}'s log regions are not persistent memory, and this node appends persisted records`;
    if (s.needsPersistent && !this.status.persistent)
      return `partner ${s.nodeId} appends persisted records, and this node's log regions are not persistent memory`;
    return null;
  }

  /** Where sessions report what they measure (the node's metrics set `current`). */
  readonly observer = new ObserverSlot();

  /** Each partner's slot in this node's mailbox: its index in the partner list (sorted by node id). */
  slotOf(partner: ResolvedPartner | number): number {
    const id = typeof partner === 'number' ? partner : partner.nodeId;
    return this.cfg.partners.findIndex((p) => p.nodeId === id);
  }

  /** Our memory for one partner's slot: control words, then the ring it writes. */
  localSlot(slot: number): Uint8Array {
    return this.endpoint.slot(slot);
  }

  /**
   * Clears a partner's slot control words before a new handshake, so nothing stale is trusted. The log
   * tail word stays: with the ring, it is what a replay of the partner's log starts from.
   */
  resetSlot(slot: number): void {
    this.localSlot(slot).fill(0, 0, SLOT.tail);
  }

  /** Forgets the log a partner left in its slot (its tail word): a replay finds none until it writes again. */
  clearLog(slot: number): void {
    this.localSlot(slot).fill(0, SLOT.tail, SLOT.tail + LOG_TAIL.size);
  }

  /** Where partner `slot` finds our status block and its slot, through its own connections only. */
  regions(slot: number, link = 0): RegionCoords {
    return this.endpoint.regions(slot, link);
  }

  /** Links a session with `partner` can have: as many as both nodes have addresses. */
  linkCount(partner: ResolvedPartner): number {
    return Math.min(this.cfg.addresses.length, partner.addresses.length);
  }
}

/** A random 64-bit nonce. */
export function nonce(): bigint {
  const b = new BigUint64Array(1);
  globalThis.crypto.getRandomValues(b);
  return b[0] === 0n ? 1n : b[0];
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
