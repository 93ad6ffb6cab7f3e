// An in-memory network for unit tests of the CCM's pure logic (ordering, tie-break, timers, codecs in
// context). It enforces the same rules as the NIC — READ only where exposed for READ, WRITE only where
// exposed for WRITE, bounds checked, and a link reaches only its partner's domain (slot) — but it proves
// nothing about RDMA: the integration tests do that.
import type {
  ConnectOptions,
  Endpoint,
  EndpointOptions,
  IncomingRequest,
  Link,
  Outgoing,
  Transport,
} from '../../../lib/ccm/transport';
import type { RegionCoords } from '../../../lib/ccm/wire/mailbox';

interface Region {
  bytes: Uint8Array;
  addr: bigint;
  rkey: number;
  access: 'read' | 'write';
  owner: MemoryEndpoint;
  /** The partner slot (protection domain) the region is registered in. */
  domain: number;
  /** The link (device) it is registered on. */
  link: number;
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

  /** Registers `bytes`; the same bytes registered again (another link) keep their address, with a new rkey. */
  register(
    owner: MemoryEndpoint,
    domain: number,
    link: number,
    bytes: Uint8Array,
    access: Region['access'],
    addr?: bigint,
  ): Region {
    const r: Region = {
      bytes,
      addr: addr ?? this.nextAddr,
      rkey: this.nextRkey++,
      access,
      owner,
      domain,
      link,
    };
    if (addr === undefined) this.nextAddr += BigInt(bytes.byteLength + 4096);
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
    for (const ep of this.endpoints)
      if (ep.addresses.includes(address)) {
        for (const a of ep.addresses) this.dead.add(a);
        ep.crash();
      }
    this.dead.add(address);
  }
}

export class MemoryLink implements Link {
  peer!: MemoryLink;
  private doorbells: ((imm: number) => void)[] = [];
  private closers: ((reason: string) => void)[] = [];
  closed = false;
  readonly maxMessage = 1 << 30;
  constructor(
    readonly net: MemoryNetwork,
    readonly owner: MemoryEndpoint,
    readonly domain: number,
    readonly privateData: Uint8Array,
    readonly link = 0,
    readonly localAddress = owner.address,
  ) {}

  private async access(
    rkey: number,
    addr: bigint,
    length: number,
    kind: 'read' | 'write',
  ): Promise<Uint8Array> {
    await tick();
    if (this.closed) throw err('ERR_WC_WR_FLUSH_ERR', 'link closed');
    if (this.net.dead.has(this.peer.localAddress)) {
      await new Promise((r) => setTimeout(r, 20));
      this.fail('retry exceeded');
      throw err('ERR_WC_RETRY_EXC_ERR', 'transport retry counter exceeded');
    }
    const r = this.net.regions.get(rkey);
    const off = r ? Number(addr - r.addr) : -1;
    if (
      !r ||
      r.owner !== this.peer.owner ||
      r.domain !== this.peer.domain ||
      r.link !== this.peer.link ||
      r.access !== kind ||
      off < 0 ||
      off + length > r.bytes.byteLength
    ) {
      this.fail('remote access error');
      throw err('ERR_WC_REM_ACCESS_ERR', 'remote access error');
    }
    return r.bytes.subarray(off, off + length);
  }

  async read(addr: bigint, rkey: number, length: number): Promise<Uint8Array> {
    return (await this.access(rkey, addr, length, 'read')).slice();
  }

  async fence(addr: bigint, rkey: number): Promise<void> {
    await this.read(addr, rkey, 8);
  }

  async write(data: Outgoing, addr: bigint, rkey: number, imm?: number): Promise<void> {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.byteLength);
    if (!(data instanceof Uint8Array)) data.fill(bytes);
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
  /** `[link][slot]` registrations of the status block and of the slots (the same bytes on every link). */
  private readonly statusRegions: Region[][] = [];
  private readonly slots: Region[][] = [];
  readonly addresses: string[];
  readonly links = new Set<MemoryLink>();
  private port = 0;
  listening = false;

  constructor(
    private readonly net: MemoryNetwork,
    o: EndpointOptions,
  ) {
    this.addresses = o.addresses;
    for (const a of o.addresses) this.net.dead.delete(a);
    this.status = new Uint8Array(o.statusSize);
    const slotBytes = Array.from(
      { length: o.slots },
      (_, i) => o.slotMemory?.(i) ?? new Uint8Array(o.slotSize),
    );
    o.addresses.forEach((_, link) => {
      this.statusRegions.push(
        slotBytes.map((_, i) =>
          net.register(this, i, link, this.status, 'read', this.statusRegions[0]?.[i].addr),
        ),
      );
      this.slots.push(
        slotBytes.map((b, i) => net.register(this, i, link, b, 'write', this.slots[0]?.[i].addr)),
      );
    });
  }

  get address(): string {
    return this.addresses[0];
  }

  slot(i: number): Uint8Array {
    return this.slots[0][i].bytes;
  }

  regions(i: number, link = 0): RegionCoords {
    const st = this.statusRegions[link][i];
    const sl = this.slots[link][i];
    return {
      statusAddr: st.addr,
      statusRkey: st.rkey,
      statusLen: st.bytes.byteLength,
      slotAddr: sl.addr,
      slotRkey: sl.rkey,
      slotLen: sl.bytes.byteLength,
    };
  }

  private unregister(): void {
    for (const r of [...this.statusRegions.flat(), ...this.slots.flat()]) this.net.regions.delete(r.rkey);
  }

  async listen(port: number, onRequest: (r: IncomingRequest) => void): Promise<void> {
    for (const a of this.addresses)
      if (this.net.listeners.has(`${a}:${port}`)) throw err('EADDRINUSE', `${a}:${port} in use`);
    this.port = port;
    this.listening = true;
    for (const a of this.addresses) this.net.listeners.set(`${a}:${port}`, onRequest);
  }

  async connect(o: ConnectOptions): Promise<Link> {
    await tick();
    o.signal?.throwIfAborted();
    const source = this.addresses[o.link];
    const l = this.net.listeners.get(`${o.address}:${o.port}`);
    if (!l || this.net.dead.has(o.address) || this.net.dead.has(source))
      throw err('ERR_CM_REJECTED', 'connection rejected', { privateData: new Uint8Array(0) });
    const target = [...this.net.endpoints]
      .reverse()
      .find((e) => e.addresses.includes(o.address) && e.listening)!;
    const link = target.addresses.indexOf(o.address);
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
        remoteAddress: source,
        link,
        async accept(pd: Uint8Array, slot: number) {
          await tick();
          if (settled) throw err('ERR_CM_CONNECT_ERROR', 'initiator went away');
          const mine = new MemoryLink(self.net, self, o.slot, pd.slice(), o.link, source);
          const theirs = new MemoryLink(self.net, target, slot, o.privateData.slice(), link, o.address);
          mine.peer = theirs;
          theirs.peer = mine;
          self.links.add(mine);
          target.links.add(theirs);
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
    for (const k of [...this.net.listeners.keys()])
      if (this.addresses.some((a) => k.startsWith(`${a}:`))) this.net.listeners.delete(k);
    for (const l of this.links) l.end('crashed', true);
    this.unregister();
  }

  async close(): Promise<void> {
    this.listening = false;
    for (const a of this.addresses) this.net.listeners.delete(`${a}:${this.port}`);
    for (const l of this.links) l.close();
    this.unregister();
  }
}
