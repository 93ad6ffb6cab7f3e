// An in-memory network for unit tests of the CCM's pure logic (ordering, tie-break, timers, codecs in
// context). It enforces the same rules as the NIC — READ only where exposed for READ, WRITE only where
// exposed for WRITE, bounds checked, and a link reaches only its partner's domain (slot) — but it proves
// nothing about RDMA: the integration tests do that.
import type { ConnectOptions, Endpoint, EndpointOptions, IncomingRequest, Link, Transport } from '../../../lib/ccm/transport';
import type { RegionCoords } from '../../../lib/ccm/wire/mailbox';

interface Region {
  bytes: Uint8Array;
  addr: bigint;
  rkey: number;
  access: 'read' | 'write';
  owner: MemoryEndpoint;
  /** The partner slot (protection domain) the region is registered in. */
  domain: number;
}

function err(code: string, message: string, extra: object = {}) {
  return Object.assign(new Error(message), { code }, extra);
}

const tick = () => new Promise<void>((r) => setImmediate(r));

export class MemoryNetwork {
  readonly listeners = new Map<string, (r: IncomingRequest) => void>();
  readonly regions = new Map<number, Region>();
  private nextRkey = 0x1000;
  private nextAddr = 0x10000000n;
  readonly endpoints: MemoryEndpoint[] = [];
  /** Addresses whose traffic is dropped (a partner that vanished without a word). */
  readonly dead = new Set<string>();

  transport(): Transport {
    return async (o: EndpointOptions) => {
      const ep = new MemoryEndpoint(this, o);
      this.endpoints.push(ep);
      return ep;
    };
  }

  register(owner: MemoryEndpoint, domain: number, bytes: Uint8Array, access: 'read' | 'write'): Region {
    const r: Region = { bytes, addr: this.nextAddr, rkey: this.nextRkey++, access, owner, domain };
    this.nextAddr += BigInt(bytes.byteLength + 4096);
    this.regions.set(r.rkey, r);
    return r;
  }

  /** Traffic to `address` is dropped while `cut`, and flows again after: the node itself lives on (a link flap). */
  partition(address: string, cut: boolean): void {
    if (cut) this.dead.add(address);
    else this.dead.delete(address);
  }

  /** The node at `address` stops answering: no disconnect is seen, its memory is unreachable. */
  crash(address: string): void {
    this.dead.add(address);
    for (const ep of this.endpoints) if (ep.address === address) ep.crash();
  }
}

export class MemoryLink implements Link {
  peer!: MemoryLink;
  private doorbells: ((imm: number) => void)[] = [];
  private closers: ((reason: string) => void)[] = [];
  closed = false;
  readonly maxMessage = 1 << 30;
  constructor(readonly net: MemoryNetwork, readonly owner: MemoryEndpoint, readonly domain: number, readonly privateData: Uint8Array) {}

  private async access(rkey: number, addr: bigint, length: number, kind: 'read' | 'write'): Promise<Uint8Array> {
    await tick();
    if (this.closed) throw err('ERR_WC_WR_FLUSH_ERR', 'link closed');
    if (this.net.dead.has(this.peer.owner.address)) {
      await new Promise((r) => setTimeout(r, 20));
      this.fail('retry exceeded');
      throw err('ERR_WC_RETRY_EXC_ERR', 'transport retry counter exceeded');
    }
    const r = this.net.regions.get(rkey);
    const off = r ? Number(addr - r.addr) : -1;
    if (!r || r.owner !== this.peer.owner || r.domain !== this.peer.domain || r.access !== kind || off < 0 || off + length > r.bytes.byteLength) {
      this.fail('remote access error');
      throw err('ERR_WC_REM_ACCESS_ERR', 'remote access error');
    }
    return r.bytes.subarray(off, off + length);
  }

  async read(addr: bigint, rkey: number, length: number): Promise<Uint8Array> {
    return (await this.access(rkey, addr, length, 'read')).slice();
  }

  async write(bytes: Uint8Array, addr: bigint, rkey: number, imm?: number): Promise<void> {
    const dst = await this.access(rkey, addr, bytes.byteLength, 'write');
    dst.set(bytes);
    if (imm !== undefined) for (const d of this.peer.doorbells) d(imm >>> 0);
  }

  deepen(): void {}

  onDoorbell(l: (imm: number) => void): void {
    this.doorbells.push(l);
  }

  onClose(l: (reason: string) => void): void {
    if (this.closed) queueMicrotask(() => l('closed'));
    else this.closers.push(l);
  }

  private fail(reason: string): void {
    this.end(reason);
  }

  end(reason: string, silent = false): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.closers) c(reason);
    if (!silent) setImmediate(() => this.peer.end('disconnected'));
  }

  close(): void {
    this.end('closed locally');
  }
}

export class MemoryEndpoint implements Endpoint {
  readonly status: Uint8Array;
  private readonly statusRegions: Region[] = [];
  private readonly slots: Region[] = [];
  readonly address: string;
  readonly links = new Set<MemoryLink>();
  private port = 0;
  listening = false;

  constructor(private readonly net: MemoryNetwork, o: EndpointOptions) {
    this.address = o.address;
    this.net.dead.delete(o.address);
    this.status = new Uint8Array(o.statusSize);
    for (let i = 0; i < o.slots; i++) {
      this.statusRegions.push(net.register(this, i, this.status, 'read'));
      this.slots.push(net.register(this, i, new Uint8Array(o.slotSize), 'write'));
    }
  }

  slot(i: number): Uint8Array {
    return this.slots[i].bytes;
  }

  regions(i: number): RegionCoords {
    const st = this.statusRegions[i];
    const sl = this.slots[i];
    return { statusAddr: st.addr, statusRkey: st.rkey, statusLen: st.bytes.byteLength, slotAddr: sl.addr, slotRkey: sl.rkey, slotLen: sl.bytes.byteLength };
  }

  private unregister(): void {
    for (const r of [...this.statusRegions, ...this.slots]) this.net.regions.delete(r.rkey);
  }

  async listen(port: number, onRequest: (r: IncomingRequest) => void): Promise<void> {
    const key = `${this.address}:${port}`;
    if (this.net.listeners.has(key)) throw err('EADDRINUSE', `${key} in use`);
    this.port = port;
    this.listening = true;
    this.net.listeners.set(key, onRequest);
  }

  async connect(o: ConnectOptions): Promise<Link> {
    await tick();
    o.signal?.throwIfAborted();
    const l = this.net.listeners.get(`${o.address}:${o.port}`);
    if (!l || this.net.dead.has(o.address)) throw err('ERR_CM_REJECTED', 'connection rejected', { privateData: new Uint8Array(0) });
    return new Promise<Link>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        reject(o.signal!.reason);
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const self = this;
      l({
        privateData: o.privateData.slice(),
        remoteAddress: this.address,
        async accept(pd: Uint8Array, slot: number) {
          await tick();
          if (settled) throw err('ERR_CM_CONNECT_ERROR', 'initiator went away');
          const mine = new MemoryLink(self.net, self, o.slot, pd.slice());
          const theirs = new MemoryLink(self.net, [...self.net.endpoints].reverse().find((e) => e.address === o.address && e.listening)!, slot, o.privateData.slice());
          mine.peer = theirs;
          theirs.peer = mine;
          self.links.add(mine);
          theirs.owner.links.add(theirs);
          settled = true;
          o.signal?.removeEventListener('abort', onAbort);
          resolve(mine);
          return theirs;
        },
        async reject(pd: Uint8Array) {
          await tick();
          if (settled) return;
          settled = true;
          reject(err('ERR_CM_REJECTED', 'connection rejected', { privateData: pd.slice() }));
        },
      });
    });
  }

  crash(): void {
    this.listening = false;
    for (const [k, v] of this.net.listeners) if (k.startsWith(`${this.address}:`) && v) this.net.listeners.delete(k);
    for (const l of this.links) l.end('crashed', true);
    this.unregister();
  }

  async close(): Promise<void> {
    this.listening = false;
    this.net.listeners.delete(`${this.address}:${this.port}`);
    for (const l of this.links) l.close();
    this.unregister();
  }
}
