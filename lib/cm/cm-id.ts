// A CM id with its steps as promises: each step starts the librdmacm call and settles on the event
// that ends it, on its timeout, or on its AbortSignal — never left pending. Every other event goes to the
// id's owner (its Connection, Listener or DatagramEndpoint); one that arrives before the owner exists (a
// DISCONNECTED in the same batch as the ESTABLISHED that ends accept or connect) is kept for it.
import { native, type CmPortSpace, type NativeCmId } from '../native';
import { abortError } from '../errors';
import { cmError, CmError } from './errors';
import { channel, RawCmEvent } from './event-channel';

/** Events that end a pending step with an error. */
const FAILURES = new Set([
  'ADDR_ERROR',
  'ROUTE_ERROR',
  'UNREACHABLE',
  'REJECTED',
  'CONNECT_ERROR',
  'DEVICE_REMOVAL',
  'DISCONNECTED',
  'MULTICAST_ERROR',
]);

interface Waiter {
  ok: string;
  step: string;
  resolve: (e: RawCmEvent) => void;
  reject: (e: CmError) => void;
}

export class CmId {
  readonly native: NativeCmId;
  private waiter: Waiter | null = null;
  private owner: ((e: RawCmEvent) => void) | null = null;
  /** Events that no step ended and no owner took yet, in arrival order. */
  private backlog: RawCmEvent[] | null = null;
  /** Called for each CONNECT_REQUEST when this id listens. */
  onRequest: ((e: RawCmEvent, id: CmId) => void) | null = null;
  /**
   * @internal The queue pair librdmacm made on this id. Destroying the id destroys it too, so it is
   * closed first, through its own close(): its outstanding work settles instead of staying pending.
   */
  qp: { close(): void } | null = null;

  /** TCP (RC connections) or UDP (UD datagrams and multicast); an incoming id has its listener's. */
  readonly portSpace: CmPortSpace;

  constructor(wrapped?: NativeCmId, portSpace: CmPortSpace = 'TCP') {
    const ch = channel();
    this.native = wrapped ?? new native.CmId(ch.native, portSpace);
    this.portSpace = wrapped ? wrapped.addresses().portSpace : portSpace;
    ch.ids.set(this.native, this);
  }

  get destroyed(): boolean {
    return this.native.closed;
  }

  /** @internal */
  _event(e: RawCmEvent): void {
    const w = this.waiter;
    if (w && (e.event === w.ok || FAILURES.has(e.event))) {
      this.waiter = null;
      if (e.event === w.ok) w.resolve(e);
      else w.reject(eventError(w.step, e));
      return;
    }
    if (this.owner && !this.backlog) this.owner(e);
    else (this.backlog ??= []).push(e);
  }

  /**
   * Makes `owner` the receiver of every event that no step ends. Events that came before it are handed
   * over on the next turn of the event loop, in order and ahead of later ones, so that whoever holds the
   * owner (the caller of accept or connect) has subscribed to it by then.
   */
  own(owner: (e: RawCmEvent) => void): void {
    this.owner = owner;
    if (this.backlog) setImmediate(() => this.handOver());
  }

  private handOver(): void {
    // An event the owner handles may destroy the id and queue nothing more; one it queues is handed on in turn.
    for (let e = this.backlog?.shift(); e; e = this.backlog?.shift()) this.owner?.(e);
    this.backlog = null;
  }

  /** @internal */
  _request(e: RawCmEvent): void {
    const child = new CmId(e.id); // the listener's port space
    if (this.onRequest) this.onRequest(e, child);
    else {
      try {
        child.native.reject();
      } catch {
        // already gone
      }
      child.destroy();
    }
  }

  /** Runs `start`, then waits for event `ok`; rejects on a failure event, the timeout or the signal. */
  step(
    name: string,
    ok: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    start: () => void,
  ): Promise<RawCmEvent> {
    if (signal?.aborted) return Promise.reject(abortError(signal.reason));
    if (this.waiter)
      return Promise.reject(cmError('ERR_CM_BUSY', `${name}: another step is pending on this CM id`));
    return new Promise<RawCmEvent>((resolve, reject) => {
      const ch = channel();
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        ch.hold(-1);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        if (this.waiter !== w) return;
        this.waiter = null;
        finish();
        reject(abortError(signal!.reason));
      };
      const w: Waiter = {
        ok,
        step: name,
        resolve: (e) => {
          finish();
          resolve(e);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      };
      ch.hold(1);
      this.waiter = w;
      // A failure that came while no step waited (e.g. DEVICE_REMOVAL between two steps) ends this one.
      const failed = this.backlog?.findIndex((e) => FAILURES.has(e.event)) ?? -1;
      if (failed >= 0) {
        const [e] = this.backlog!.splice(failed, 1);
        if (this.backlog!.length === 0) this.backlog = null;
        this.waiter = null;
        w.reject(eventError(name, e));
        return;
      }
      timer = setTimeout(() => {
        if (this.waiter !== w) return;
        this.waiter = null;
        finish();
        reject(cmError('ERR_CM_TIMEOUT', `${name}: no answer within ${timeoutMs} ms`, { event: 'TIMEOUT' }));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        start();
      } catch (e) {
        this.waiter = null;
        finish();
        reject(e);
      }
    });
  }

  /** Destroys the id (and its QP first). Idempotent. */
  destroy(): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(cmError('ERR_CM_DESTROYED', `${w.step}: the CM id was destroyed`));
    }
    const qp = this.qp;
    this.qp = null;
    qp?.close();
    this.native.close();
  }
}

function eventError(step: string, e: RawCmEvent): CmError {
  const detail =
    e.event === 'REJECTED'
      ? `rejected (reason ${e.status})`
      : e.event === 'ADDR_ERROR' || e.event === 'ROUTE_ERROR'
        ? `failed (status ${e.status})`
        : `ended by ${e.event}`;
  return cmError(`ERR_CM_${e.event}`, `${step}: ${detail}`, {
    event: e.event,
    status: e.status,
    privateData: e.privateData ?? Buffer.alloc(0),
  });
}
