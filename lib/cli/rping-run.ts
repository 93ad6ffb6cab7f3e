// `rdma-ccm rping`'s data path: the client and server of rdma-core's rping protocol (see rping.ts).
import { connect, listen, type Connection } from '../cm';
import { Access, type MemoryRegion, type ProtectionDomain } from '../verbs';
import type { Options } from './rping';

const MSG = (n: number) => `rdma-ping-${n}: `;
const INFO = 16;

interface Buffers {
  recv: MemoryRegion;
  send: MemoryRegion;
  rdma: MemoryRegion;
  start?: MemoryRegion;
  close(): void;
}

function buffers(pd: ProtectionDomain, size: number, client: boolean): Buffers {
  const rw = Access.LOCAL_WRITE | Access.REMOTE_READ | Access.REMOTE_WRITE;
  const b: Buffers = {
    recv: pd.allocMemory(INFO, Access.LOCAL_WRITE),
    send: pd.allocMemory(INFO, Access.LOCAL_WRITE),
    rdma: pd.allocMemory(size, rw),
    start: client ? pd.allocMemory(size, rw) : undefined,
    close() {
      for (const m of [b.recv, b.send, b.rdma, b.start]) m?.close();
      pd.close();
    },
  };
  return b;
}

function advertise(b: Buffers, mr: MemoryRegion, size: number): void {
  b.send.buffer.writeBigUInt64BE(mr.addr, 0);
  b.send.buffer.writeUInt32BE(mr.rkey, 8);
  b.send.buffer.writeUInt32BE(size, 12);
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('latin1', 0, end < 0 ? buf.length : end);
}

export async function rpingClient(o: Options): Promise<number> {
  let b: Buffers | undefined;
  const conn: Connection = await connect({
    address: o.address,
    port: o.port,
    sourceAddress: o.source,
    pd: (ctx) => {
      const pd = ctx.allocPd();
      b = buffers(pd, o.size, true);
      return pd;
    },
    responderResources: 1,
    initiatorDepth: 1,
    retryCount: 7,
    rnrRetryCount: 7,
    qp: { maxSendWr: 16, maxRecvWr: 2 },
  });
  const bufs = b!;
  try {
    let start = 65;
    for (let ping = 0; o.count === 0 || ping < o.count; ping++) {
      const s = bufs.start!.buffer;
      const head = Buffer.from(MSG(ping), 'latin1').subarray(0, o.size);
      head.copy(s, 0);
      for (let i = head.length, c = start; i < o.size; i++) {
        s[i] = c;
        c = c + 1 > 122 ? 65 : c + 1;
      }
      start = start + 1 > 122 ? 65 : start + 1;
      s[o.size - 1] = 0;

      const goAhead = conn.qp.recv({ local: { mr: bufs.recv } });
      advertise(bufs, bufs.start!, o.size);
      await conn.qp.send({ local: { mr: bufs.send } });
      if ((await goAhead).byteLen !== INFO) throw new Error('received bogus data');
      const done = conn.qp.recv({ local: { mr: bufs.recv } });
      advertise(bufs, bufs.rdma, o.size);
      await conn.qp.send({ local: { mr: bufs.send } });
      if ((await done).byteLen !== INFO) throw new Error('received bogus data');
      if (o.validate && !bufs.rdma.buffer.equals(s)) {
        process.stderr.write('data mismatch!\n');
        return 1;
      }
      if (o.verbose) process.stdout.write(`ping data: ${cString(bufs.rdma.buffer)}\n`);
    }
    return 0;
  } finally {
    conn.close();
    bufs.close();
  }
}

export async function rpingServer(o: Options): Promise<number> {
  const listener = await listen({ address: o.address, port: o.port, backlog: 3 });
  try {
    for await (const req of listener) {
      const pd = req.context.allocPd();
      const b = buffers(pd, o.size, false);
      let conn: Connection | undefined;
      try {
        const next = () => conn!.qp.recv({ local: { mr: b.recv } });
        conn = await req.accept({
          pd,
          responderResources: 1,
          initiatorDepth: 1,
          qp: { maxSendWr: 16, maxRecvWr: 2 },
        });
        let adv = next();
        for (;;) {
          let wc;
          try {
            wc = await adv;
          } catch (e) {
            if (conn.qp.closed || (e as { code?: string }).code === 'ERR_WC_WR_FLUSH_ERR') return 0; // the client disconnected
            throw e;
          }
          if (wc.byteLen !== INFO) throw new Error(`received bogus data, size ${wc.byteLen}`);
          const src = {
            addr: b.recv.buffer.readBigUInt64BE(0),
            rkey: b.recv.buffer.readUInt32BE(8),
            len: b.recv.buffer.readUInt32BE(12),
          };
          if (src.len > o.size) throw new Error(`client buffer of ${src.len} bytes exceeds ours (${o.size})`);
          const sinkAdv = next();
          await conn.qp.read({
            local: { mr: b.rdma, offset: 0, length: src.len },
            remoteAddr: src.addr,
            rkey: src.rkey,
          });
          if (o.verbose) process.stdout.write(`server ping data: ${cString(b.rdma.buffer)}\n`);
          await conn.qp.send({ local: { mr: b.send } });
          const w = await sinkAdv;
          if (w.byteLen !== INFO) throw new Error(`received bogus data, size ${w.byteLen}`);
          const sink = { addr: b.recv.buffer.readBigUInt64BE(0), rkey: b.recv.buffer.readUInt32BE(8) };
          adv = next();
          const len = Math.min(cString(b.rdma.buffer).length + 1, o.size);
          await conn.qp.write({
            local: { mr: b.rdma, offset: 0, length: len },
            remoteAddr: sink.addr,
            rkey: sink.rkey,
          });
          await conn.qp.send({ local: { mr: b.send } });
        }
      } finally {
        conn?.close();
        b.close();
      }
    }
    return 0;
  } finally {
    listener.close();
  }
}
