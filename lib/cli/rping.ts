// `rdma-ccm rping`: client and server of rdma-core's rping protocol, interoperable with `rping`.
//   client sends its source buffer (addr/rkey/size, 16 bytes big-endian) → server RDMA READs it,
//   answers "go ahead" → client sends its sink buffer → server RDMA WRITEs the data back, answers
//   "go ahead" → repeat. -V validates that the sink holds what the source held.
import { missingRdma } from './no-rdma';
import { connect, listen, type Connection } from '../cm';
import { Access, type MemoryRegion, type ProtectionDomain } from '../verbs';
import { UsageError } from './usage-error';

const USAGE = `usage: rdma-ccm rping -s [-vV] [-S size] [-C count] [-a addr] [-p port]
       rdma-ccm rping -c [-vV] [-S size] [-C count] [-I addr] -a addr [-p port]
`;
const MSG = (n: number) => `rdma-ping-${n}: `;
const MIN_SIZE = 26; // room for "rdma-ping-2147483647: " and the NUL, as rping requires
const MAX_SIZE = 64 * 1024 - 1;
const INFO = 16;

interface Options {
  server: boolean;
  address: string;
  source?: string;
  port: number;
  count: number;
  size: number;
  verbose: boolean;
  validate: boolean;
}


function parse(args: string[]): Options {
  const o: Partial<Options> = { port: 7174, count: 0, size: 64, verbose: false, validate: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = () => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    const int = (v: string) => {
      if (!/^\d+$/.test(v)) throw new UsageError(`${a} needs a number, got ${v}`);
      return Number(v);
    };
    if (a === '-s') o.server = true;
    else if (a === '-c') o.server = false;
    else if (a === '-a') o.address = val();
    else if (a === '-I') o.source = val();
    else if (a === '-p') o.port = int(val());
    else if (a === '-C') o.count = int(val());
    else if (a === '-S') o.size = int(val());
    else if (/^-[vV]+$/.test(a)) {
      if (a.includes('v')) o.verbose = true;
      if (a.includes('V')) o.validate = true;
    } else throw new UsageError(`unknown option ${a}`);
  }
  if (o.server === undefined) throw new UsageError('choose -s (server) or -c (client)');
  if (!o.server && !o.address) throw new UsageError('the client needs -a address');
  if (o.size! < MIN_SIZE || o.size! > MAX_SIZE) throw new UsageError(`size ${o.size} out of range (${MIN_SIZE} to ${MAX_SIZE})`);
  if (o.port! < 1 || o.port! > 65535) throw new UsageError('port out of range');
  o.address ??= '0.0.0.0';
  return o as Options;
}

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

async function client(o: Options): Promise<number> {
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

async function server(o: Options): Promise<number> {
  const listener = await listen({ address: o.address, port: o.port, backlog: 3 });
  try {
    for await (const req of listener) {
      const pd = req.context.allocPd();
      const b = buffers(pd, o.size, false);
      let conn: Connection | undefined;
      try {
        let next = () => conn!.qp.recv({ local: { mr: b.recv } });
        conn = await req.accept({ pd, responderResources: 1, initiatorDepth: 1, qp: { maxSendWr: 16, maxRecvWr: 2 } });
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
          const src = { addr: b.recv.buffer.readBigUInt64BE(0), rkey: b.recv.buffer.readUInt32BE(8), len: b.recv.buffer.readUInt32BE(12) };
          if (src.len > o.size) throw new Error(`client buffer of ${src.len} bytes exceeds ours (${o.size})`);
          const sinkAdv = next();
          await conn.qp.read({ local: { mr: b.rdma, offset: 0, length: src.len }, remoteAddr: src.addr, rkey: src.rkey });
          if (o.verbose) process.stdout.write(`server ping data: ${cString(b.rdma.buffer)}\n`);
          await conn.qp.send({ local: { mr: b.send } });
          const w = await sinkAdv;
          if (w.byteLen !== INFO) throw new Error(`received bogus data, size ${w.byteLen}`);
          const sink = { addr: b.recv.buffer.readBigUInt64BE(0), rkey: b.recv.buffer.readUInt32BE(8) };
          adv = next();
          const len = Math.min(cString(b.rdma.buffer).length + 1, o.size);
          await conn.qp.write({ local: { mr: b.rdma, offset: 0, length: len }, remoteAddr: sink.addr, rkey: sink.rkey });
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

export async function rpingCommand(args: string[]): Promise<number> {
  let o: Options;
  try {
    o = parse(args);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`rdma-ccm rping: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  const missing = missingRdma();
  if (missing) {
    process.stderr.write(`rdma-ccm rping: ${missing}\n`);
    return 1;
  }
  return o.server ? server(o) : client(o);
}
