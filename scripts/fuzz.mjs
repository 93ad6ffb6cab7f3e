// `npm run fuzz [-- SECONDS]`: a time-bounded mutation fuzz of every decoder of partner-supplied bytes (status
// block, slot hello and commit, CM private data, mirrored log records, heartbeat and ack words, the log tail and a whole replay), with and without the cluster
// secret. Each input must decode to a value or be rejected with a ProtocolError and a reason; anything else
// is a crash, and a decode slower than 100 ms is a hang. Prints the counts and writes bench/fuzz.json.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { buildTs } from './build.mjs';
import { root } from './lib.mjs';

const seconds = Number(process.argv[2] ?? 60);
buildTs();
const { wire, readMirroredLog } = createRequire(import.meta.url)(join(root, 'dist', 'ccm', 'index.js'));
const CLUSTER = 0x1234_5678_9abc_def0n;
const secret = new TextEncoder().encode('cluster-secret');
const regions = {
  statusAddr: 0x7f00_1000n,
  statusRkey: 0x11,
  statusLen: 512,
  slotAddr: 0x7f00_2000n,
  slotRkey: 0x22,
  slotLen: 4352,
};
const request = { generation: 7n, attempt: 3 };

// [name, a valid input, its decoder]
const targets = [];
for (const key of [secret, undefined]) {
  const tag = key ? '+secret' : '';
  targets.push(
    [
      `status${tag}`,
      wire.encodeStatus(
        {
          clusterId: CLUSTER,
          nodeId: 2,
          state: 'READY',
          generation: 99n,
          heartbeat: 5n,
          sequence: 3n,
          slotCount: 2,
          echoes: [{ nodeId: 1, generation: 7n, nonce: 42n }, null],
        },
        key,
      ),
      (b) => wire.decodeStatus(b, CLUSTER, key),
    ],
    [
      `hello${tag}`,
      wire.encodeHello(
        { clusterId: CLUSTER, nodeId: 1, generation: 7n, nonce: 42n, responderNonce: 43n, regions },
        key,
      ),
      (b) => wire.decodeHello(b, CLUSTER, key),
    ],
    [
      `commit${tag}`,
      wire.encodeCommit(
        { clusterId: CLUSTER, nodeId: 1, generation: 7n, nonce: 42n, responderNonce: 43n },
        key,
      ),
      (b) => wire.decodeCommit(b, CLUSTER, key),
    ],
    [
      `connect${tag}`,
      wire.encodeConnect({ clusterId: CLUSTER, nodeId: 1, generation: 7n, target: 2, attempt: 3 }, key),
      (b) => wire.decodeConnect(b, CLUSTER, key),
    ],
    [
      `accept${tag}`,
      wire.encodeAccept(
        { clusterId: CLUSTER, nodeId: 2, generation: 99n, responderNonce: 43n, regions },
        request,
        key,
      ),
      (b) => wire.decodeAccept(b, CLUSTER, request, key),
    ],
  );
  const linkKey = wire.joinKey(key, 0xe90cn);
  const join = { clusterId: CLUSTER, nodeId: 1, link: 1, attempt: 5, statusRkey: 0x33, slotRkey: 0x44 };
  targets.push(
    [
      `witness${tag}`,
      wire.encodeWitness(
        {
          clusterId: CLUSTER,
          nodeId: 2,
          state: 'ACTIVE',
          generation: 99n,
          heartbeat: 12n,
          takeover: { nodeId: 1, generation: 7n },
        },
        key,
      ),
      (b) => wire.decodeWitness(b, CLUSTER, 2, key),
    ],
    [
      `join${tag}`,
      wire.encodeJoin(join, linkKey),
      (b) => wire.decodeJoin(b, CLUSTER, (id) => (id === 1 ? linkKey : null)),
    ],
    [
      `join-accept${tag}`,
      wire.encodeJoinAccept(
        { clusterId: CLUSTER, nodeId: 2, link: 1, statusRkey: 0x55, slotRkey: 0x66 },
        join,
        linkKey,
      ),
      (b) => wire.decodeJoinAccept(b, CLUSTER, join, linkKey),
    ],
  );
}
targets.push(
  ['reject', wire.encodeReject({ clusterId: CLUSTER, reason: 'TIE_BREAK' }), (b) => wire.decodeReject(b)],
  [
    'log record',
    wire.encodeRecord(0xe90cn, 7, 9n, new TextEncoder().encode('a mirrored log record')),
    (b) => wire.decodeRecord(b),
  ],
  ['counter', wire.encodeCounter({ value: 5n, epoch: 0xe90cn }), (b) => wire.decodeCounter(b)],
  [
    'log tail',
    wire.encodeLogTail({ stream: 7, released: 2n, offset: 136n, acknowledged: 4n }),
    (b) => wire.decodeLogTail(b, 4096),
  ],
  ['mirrored log', mirroredLog(), (b) => replay(b)],
);

/** A slot's tail word followed by its ring: records 3 … 6 after two released (a replay's whole input). */
function mirroredLog() {
  const ring = new Uint8Array(1024);
  let at = 0;
  for (let seq = 1n; seq <= 6n; seq++) {
    const r = wire.encodeRecord(0xe90cn, 7, seq, new TextEncoder().encode(`record ${seq}`), {
      durability: 'placed',
      acknowledged: seq - 1n,
    });
    ring.set(r, at);
    at += r.byteLength;
  }
  const tail = wire.encodeLogTail({
    stream: 7,
    released: 2n,
    offset: BigInt(2 * wire.recordSize(8)),
    acknowledged: 4n,
  });
  return Uint8Array.from([...tail, ...ring]);
}

/** A replay never throws: what it finds is a run of the stream's next sequences, and damage is its result's error. */
function replay(b) {
  const log = readMirroredLog(b.subarray(0, wire.LOG_TAIL.size), b.subarray(wire.LOG_TAIL.size));
  log.records.forEach((r, i) => {
    if (r.sequence !== log.released + 1n + BigInt(i))
      throw new Error(`replay out of order: ${r.sequence} at ${i}`);
  });
  if (log.error) throw new wire.ProtocolError(log.error.code, 'mirrored log', log.error.message);
  return log;
}

let s = 0x5eed1234;
const rand = () => {
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return (s >>> 0) / 2 ** 32;
};
const int = (n) => Math.floor(rand() * n);

/** One mutated input: random bytes, bit flips, byte overwrites, truncation, extension, or a splice of two inputs. */
function mutate(good, other) {
  switch (int(6)) {
    case 0:
      return Uint8Array.from({ length: int(good.byteLength + 64) }, () => int(256));
    case 1: {
      const b = good.slice();
      for (let f = 1 + int(4); f > 0; f--) b[int(b.byteLength)] ^= 1 << int(8);
      return b;
    }
    case 2: {
      const b = good.slice();
      for (let f = 1 + int(8); f > 0; f--) b[int(b.byteLength)] = [0, 0xff, 0x7f, 0x80][int(4)];
      return b;
    }
    case 3:
      return good.slice(0, int(good.byteLength));
    case 4: {
      const b = new Uint8Array(good.byteLength + 1 + int(64));
      b.set(good);
      for (let i = good.byteLength; i < b.byteLength; i++) b[i] = int(256);
      return b;
    }
    default: {
      const cut = int(Math.min(good.byteLength, other.byteLength));
      const b = good.slice();
      b.set(other.subarray(cut, Math.min(other.byteLength, good.byteLength)), cut);
      return b;
    }
  }
}

const stats = targets.map(([name]) => ({
  decoder: name,
  inputs: 0,
  accepted: 0,
  rejected: 0,
  reasons: {},
  crashes: 0,
  hangs: 0,
  slowestMs: 0,
}));
const crashes = [];
const end = Date.now() + seconds * 1000;
while (Date.now() < end) {
  for (let t = 0; t < targets.length; t++) {
    const [name, good, decode] = targets[t];
    const st = stats[t];
    for (let i = 0; i < 500; i++) {
      const input = mutate(good, targets[int(targets.length)][1]);
      st.inputs++;
      const t0 = performance.now();
      try {
        decode(input);
        st.accepted++;
      } catch (e) {
        if (e instanceof wire.ProtocolError) {
          st.rejected++;
          st.reasons[e.code] = (st.reasons[e.code] ?? 0) + 1;
        } else {
          st.crashes++;
          if (crashes.length < 10)
            crashes.push({ decoder: name, error: String(e), input: Buffer.from(input).toString('hex') });
        }
      }
      const ms = performance.now() - t0;
      st.slowestMs = Math.max(st.slowestMs, ms);
      if (ms > 100) st.hangs++;
    }
  }
}

const total = stats.reduce(
  (a, x) => ({ inputs: a.inputs + x.inputs, crashes: a.crashes + x.crashes, hangs: a.hangs + x.hangs }),
  { inputs: 0, crashes: 0, hangs: 0 },
);
for (const x of stats)
  process.stdout.write(
    `${x.decoder.padEnd(15)} ${String(x.inputs).padStart(9)} inputs, ${String(x.rejected).padStart(9)} rejected (${Object.entries(
      x.reasons,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}), ${x.accepted} accepted, ${x.crashes} crashes, ${x.hangs} hangs\n`,
  );
process.stdout.write(
  `\nfuzz: ${total.inputs} inputs in ${seconds} s, ${total.crashes} crashes, ${total.hangs} hangs\n`,
);
for (const c of crashes) process.stdout.write(`crash: ${c.decoder}: ${c.error}\n  input ${c.input}\n`);
writeFileSync(
  join(root, 'bench', 'fuzz.json'),
  JSON.stringify({ date: new Date().toISOString(), seconds, ...total, decoders: stats, crashes }, null, 2),
);
process.exit(total.crashes === 0 && total.hangs === 0 ? 0 : 1);
