// The process's CM event channel: libuv watches its fd; each event goes to the CmId it concerns.
// It keeps the event loop alive only while something waits on it (a pending step, a listener or a
// connection), like a socket.
import { native, type NativeCmChannel, type NativeCmId } from '../native';
import type { CmId } from './cm-id';
import type { AhAttr } from '../verbs';
import { awake } from '../stall';

export interface RawCmEvent {
  event: string;
  status: number;
  id: NativeCmId;
  listenId?: NativeCmId;
  privateData?: Buffer;
  responderResources?: number;
  initiatorDepth?: number;
  /** UDP port space: the peer the CM resolved (ESTABLISHED) or the group joined (MULTICAST_JOIN). */
  ud?: { qpNum: number; qkey: number; ahAttr: AhAttr };
}

class EventChannel {
  readonly native: NativeCmChannel;
  readonly ids = new WeakMap<object, CmId>();
  private holds = 0;

  constructor() {
    this.native = new native.CmEventChannel((batch: RawCmEvent[]) => this.dispatch(batch));
  }

  /** Called (on the next turn) after a batch that removed a device, once its ids have reacted. */
  onDeviceRemoval: (() => void) | null = null;

  private dispatch(batch: RawCmEvent[]): void {
    awake();
    if (TRACE) for (const e of batch) trace(e);
    for (const e of batch) {
      if (e.event === 'CONNECT_REQUEST') this.ids.get(e.listenId!)?._request(e);
      else this.ids.get(e.id)?._event(e);
    }
    if (this.onDeviceRemoval && batch.some((e) => e.event === 'DEVICE_REMOVAL'))
      setImmediate(this.onDeviceRemoval);
  }

  hold(delta: number): void {
    const before = this.holds;
    this.holds += delta;
    if (before === 0 && this.holds > 0) this.native.ref();
    else if (before > 0 && this.holds === 0) this.native.unref();
  }
}

/** RDMA_CCM_TRACE=cm prints every CM event (time, id, event, status, addresses) to stderr. */
const TRACE = /(^|,)cm(,|$)/.test(process.env.RDMA_CCM_TRACE ?? '');
const traceIds = new WeakMap<object, number>();
let nextTraceId = 1;

function trace(e: RawCmEvent): void {
  const tag = (o: object | undefined) => {
    if (!o) return '-';
    if (!traceIds.has(o)) traceIds.set(o, nextTraceId++);
    return `#${traceIds.get(o)}`;
  };
  let where = '';
  try {
    const a = (e.id as { addresses(): { local: unknown; remote: unknown } }).addresses();
    where = ` ${JSON.stringify(a.local)} -> ${JSON.stringify(a.remote)}`;
  } catch {
    // the id is already destroyed
  }
  process.stderr.write(
    `cm ${(performance.timeOrigin + performance.now()).toFixed(1)} pid ${process.pid} id ${tag(e.id)}${e.listenId ? ` listener ${tag(e.listenId)}` : ''} ${e.event} status ${e.status}${where}\n`,
  );
}

let shared: EventChannel | null = null;

export function channel(): EventChannel {
  return (shared ??= new EventChannel());
}
