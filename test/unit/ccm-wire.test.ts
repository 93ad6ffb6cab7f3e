// The CCM's wire formats: round trips, each rejection with its reason, and a mutation fuzz of every
// decoder of partner-supplied bytes (a decoder returns a value or throws ProtocolError, nothing else).
import { describe, expect, it } from 'vitest';
import { wire } from '../../lib/ccm';
import { seal } from '../../lib/ccm/wire/codec';
import { copyOut } from '../../lib/ccm/wire/copy-out';
import { crc32cTable } from '../../lib/ccm/wire/crc32c';
import { native } from '../../lib/native';
import { addonPath } from '../../lib/addon-loader';
import { execFileSync } from 'node:child_process';

const { ProtocolError } = wire;
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
const linkKey = wire.joinKey(secret, 0xe90cn);
const nvram = {
  clusterId: CLUSTER,
  owner: 2,
  partner: 1,
  generation: 7n,
  ringSize: 1n << 20n,
  persistent: true,
};
const nvramOf = { clusterId: CLUSTER, owner: 2, partner: 1, regionSize: 4096n + (1n << 20n), secret };
const join = { clusterId: CLUSTER, nodeId: 1, link: 1, attempt: 5, statusRkey: 0x33, slotRkey: 0x44 };

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const samples = {
  status: () =>
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
      secret,
    ),
  hello: () =>
    wire.encodeHello(
      { clusterId: CLUSTER, nodeId: 1, generation: 7n, nonce: 42n, responderNonce: 43n, regions },
      secret,
    ),
  commit: () =>
    wire.encodeCommit(
      { clusterId: CLUSTER, nodeId: 1, generation: 7n, nonce: 42n, responderNonce: 43n },
      secret,
    ),
  connect: () =>
    wire.encodeConnect({ clusterId: CLUSTER, nodeId: 1, generation: 7n, target: 2, attempt: 3 }, secret),
  accept: () =>
    wire.encodeAccept(
      { clusterId: CLUSTER, nodeId: 2, generation: 99n, responderNonce: 43n, regions },
      request,
      secret,
    ),
  reject: () => wire.encodeReject({ clusterId: CLUSTER, reason: 'TIE_BREAK' }),
  log: () => wire.encodeRecord(0xe90cn, 7, 9n, new TextEncoder().encode('a mirrored log record')),
  join: () => wire.encodeJoin(join, linkKey),
  witness: () =>
    wire.encodeWitness(
      {
        clusterId: CLUSTER,
        nodeId: 2,
        state: 'ACTIVE',
        generation: 99n,
        heartbeat: 12n,
        takeover: { nodeId: 1, generation: 7n },
      },
      secret,
    ),
  joinAccept: () =>
    wire.encodeJoinAccept(
      { clusterId: CLUSTER, nodeId: 2, link: 1, statusRkey: 0x55, slotRkey: 0x66 },
      join,
      linkKey,
    ),
  nvram: () => wire.encodeNvramHeader(nvram, secret),
};

const decoders: Record<keyof typeof samples, (b: Uint8Array) => unknown> = {
  status: (b) => wire.decodeStatus(b, CLUSTER, secret),
  hello: (b) => wire.decodeHello(b, CLUSTER, secret),
  commit: (b) => wire.decodeCommit(b, CLUSTER, secret),
  connect: (b) => wire.decodeConnect(b, CLUSTER, secret),
  accept: (b) => wire.decodeAccept(b, CLUSTER, request, secret),
  reject: (b) => wire.decodeReject(b),
  log: (b) => wire.decodeRecord(b),
  join: (b) => wire.decodeJoin(b, CLUSTER, (id) => (id === 1 ? linkKey : null)),
  witness: (b) => wire.decodeWitness(b, CLUSTER, 2, secret),
  joinAccept: (b) => wire.decodeJoinAccept(b, CLUSTER, join, linkKey),
  nvram: (b) => wire.decodeNvramHeader(b, nvramOf),
};

describe('wire formats', () => {
  it('round-trips every block', () => {
    const st = wire.decodeStatus(samples.status(), CLUSTER, secret);
    expect(st).toMatchObject({ nodeId: 2, state: 'READY', generation: 99n, heartbeat: 5n, slotCount: 2 });
    expect(st.echoes).toEqual([{ nodeId: 1, generation: 7n, nonce: 42n }, null]);
    expect(wire.decodeHello(samples.hello(), CLUSTER, secret)).toMatchObject({
      nodeId: 1,
      generation: 7n,
      nonce: 42n,
      responderNonce: 43n,
      regions,
    });
    expect(wire.decodeCommit(samples.commit(), CLUSTER, secret)).toMatchObject({
      nodeId: 1,
      nonce: 42n,
      responderNonce: 43n,
    });
    expect(wire.decodeConnect(samples.connect(), CLUSTER, secret)).toMatchObject({
      nodeId: 1,
      generation: 7n,
      target: 2,
      attempt: 3,
    });
    expect(wire.decodeAccept(samples.accept(), CLUSTER, request, secret)).toMatchObject({
      nodeId: 2,
      responderNonce: 43n,
      regions,
    });
    expect(wire.decodeReject(samples.reject())).toEqual({ clusterId: CLUSTER, reason: 'TIE_BREAK' });
    expect(wire.decodeRecord(samples.log())).toMatchObject({ epoch: 0xe90cn, stream: 7, sequence: 9n });
    expect(Buffer.from(wire.decodeRecord(samples.log()).payload).toString()).toBe('a mirrored log record');
    expect(wire.decodeJoin(samples.join(), CLUSTER, () => linkKey)).toEqual(join);
    expect(wire.decodeJoinAccept(samples.joinAccept(), CLUSTER, join, linkKey)).toEqual({
      clusterId: CLUSTER,
      nodeId: 2,
      link: 1,
      statusRkey: 0x55,
      slotRkey: 0x66,
    });
    expect(wire.decodeWitness(samples.witness(), CLUSTER, 2, secret)).toEqual({
      clusterId: CLUSTER,
      nodeId: 2,
      state: 'ACTIVE',
      generation: 99n,
      heartbeat: 12n,
      takeover: { nodeId: 1, generation: 7n },
    });
    expect(wire.decodeWitness(new Uint8Array(512), CLUSTER, 2, secret)).toBeNull();
    expect(wire.requestKind(samples.join())).toBe('join');
    expect(wire.requestKind(samples.connect())).toBe('connect');
    expect(wire.requestKind(samples.accept())).toBeNull();
  });

  it("CRC-32C is the same by the table, the CPU instruction and the addon's table, with the checksum field skipped anywhere", () => {
    // RFC 3720's vectors: 32 zero bytes, 32 bytes of 0xff, 0 … 31 ascending; and "123456789".
    const vectors: [Uint8Array, number][] = [
      [new Uint8Array(32), 0x8a9136aa],
      [new Uint8Array(32).fill(0xff), 0x62a8ab43],
      [new Uint8Array(32).map((_, i) => i), 0x46dd794e],
      [new TextEncoder().encode('123456789'), 0xe3069283],
    ];
    for (const [bytes, crc] of vectors) {
      expect(crc32cTable(bytes)).toBe(crc);
      expect(native.crc32c(bytes, 0, bytes.length, 0)).toBe(crc);
    }
    const buf = new Uint8Array(5000).map((_, i) => (i * 131 + 7) & 0xff);
    for (const [start, end, skip] of [
      [0, 700, -1],
      [0, 700, 0],
      [0, 700, 696],
      [3, 600, 1],
      [3, 600, 2],
      [3, 600, 598],
      [3, 600, 599],
      [10, 11, 9],
      [0, 0, 0],
      [5, 400, 200],
      [1, 4999, -1],
      [7, 4103, 71],
    ]) {
      const zeroed = buf.slice();
      if (skip >= 0) zeroed.fill(0, skip, skip + 4);
      expect(wire.crc32c(buf, start, end, skip)).toBe(crc32cTable(zeroed, start, end));
    }
    // Every length and alignment the 64- and 8-byte loops and their byte tail split differently, in the
    // CPU's way here and the addon's table in a child (RDMA_CCM_CRC32C=table), continuing a crc.
    const cases: [number, number][] = [];
    for (let start = 0; start < 9; start++)
      for (const n of [0, 1, 7, 8, 9, 63, 64, 65, 127, 200, 4096]) cases.push([start, start + n]);
    const want = cases.map(([a, b]) => crc32cTable(buf, a, b, 0x1234567));
    expect(cases.map(([a, b]) => native.crc32c(buf, a, b, 0x1234567))).toEqual(want);
    const child = `const native = require(${JSON.stringify(addonPath())});
      const buf = new Uint8Array(5000).map((_, i) => (i * 131 + 7) & 0xff);
      console.log(JSON.stringify(${JSON.stringify(cases)}.map(([a, b]) => native.crc32c(buf, a, b, 0x1234567))));`;
    const out = execFileSync(process.execPath, ['-e', child], {
      env: { ...process.env, RDMA_CCM_CRC32C: 'table' },
    });
    expect(JSON.parse(String(out))).toEqual(want);
  });

  it('copies out of changing memory into copies that stay what they were, each its own bytes', () => {
    const src = new Uint8Array(40_000).map((_, i) => i & 0xff);
    // Enough copies of each size to fill several slabs, and larger ones that get memory of their own.
    const sizes = [0, 1, 7, 64, 4096, 4100, 8192, 8193, 30_000];
    const copies = Array.from({ length: 60 }, (_, k) => {
      const start = k % 13;
      const n = sizes[k % sizes.length];
      return { start, n, copy: copyOut(src, start, start + n) };
    });
    src.fill(0xee);
    for (const { copy } of copies) if (copy.byteLength > 0) copy[0] = 0x11; // reaches no other copy
    for (const { start, n, copy } of copies) {
      expect(copy.byteLength).toBe(n);
      for (let i = 1; i < n; i += 97) expect(copy[i]).toBe((start + i) & 0xff);
      if (n > 0) expect(copy[0]).toBe(0x11);
    }
    // What the source looked like is kept, not a view of it.
    const big = copies.find((c) => c.n === 30_000)!.copy;
    expect(big.buffer).not.toBe(src.buffer);
  });

  it('refuses a CRC range outside its view, and anything but a byte view, with a code', () => {
    const b = new Uint8Array(16);
    expect(() => native.crc32c(b, 0, 17, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => native.crc32c(b, 9, 8, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => native.crc32c(b, 0.5, 8, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => native.crc32c(b, 0, 8, -1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    for (const bad of [new Uint16Array(8), [1, 2], 'ab', null])
      expect(() => native.crc32c(bad as unknown as Uint8Array, 0, 1, 0)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
      );
    expect(() => native.crc32c(b, '1' as unknown as number, 2, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  it('says in the status block how far its slots take RDMA FLUSH, and refuses a persistent FLUSH without FLUSH', () => {
    const base = {
      clusterId: CLUSTER,
      nodeId: 2,
      state: 'READY' as const,
      generation: 99n,
      heartbeat: 5n,
      sequence: 3n,
      slotCount: 1,
      echoes: [],
    };
    for (const flush of ['global', 'persistent', null] as const)
      expect(wire.decodeStatus(wire.encodeStatus({ ...base, flush }, secret), CLUSTER, secret).flush).toBe(
        flush,
      );
    // Without a secret the flags can be set by hand: FLUSH_PERSISTENT alone is no placement.
    const b = wire.encodeStatus({ ...base, flush: 'persistent' });
    const dv = new DataView(b.buffer, b.byteOffset);
    dv.setUint16(wire.STATUS.flags, dv.getUint16(wire.STATUS.flags, true) & ~wire.STATUS_FLUSH, true);
    dv.setUint32(wire.STATUS.checksum, wire.crc32c(b, 0, wire.STATUS.size, wire.STATUS.checksum), true);
    expect(() => wire.decodeStatus(b, CLUSTER)).toThrow(
      expect.objectContaining({
        code: 'ERR_CCM_FIELD',
        message: expect.stringContaining('persistent FLUSH without FLUSH'),
      }),
    );
  });

  it('refuses an NVRAM region of another owner, partner or cluster, a forged one, and a ring that does not fit', () => {
    expect(wire.decodeNvramHeader(samples.nvram(), nvramOf)).toEqual(nvram);
    expect(wire.decodeNvramHeader(new Uint8Array(512), nvramOf)).toBeNull();
    expect(
      wire.decodeNvramHeader(wire.encodeNvramHeader({ ...nvram, persistent: false }), {
        ...nvramOf,
        secret: undefined,
      }),
    ).toMatchObject({ persistent: false });
    expect(() => wire.decodeNvramHeader(samples.nvram(), { ...nvramOf, owner: 3 })).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_WRONG_NODE' }),
    );
    expect(() => wire.decodeNvramHeader(samples.nvram(), { ...nvramOf, partner: 3 })).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_WRONG_NODE' }),
    );
    expect(() => wire.decodeNvramHeader(samples.nvram(), { ...nvramOf, clusterId: CLUSTER + 1n })).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_CLUSTER' }),
    );
    expect(() =>
      wire.decodeNvramHeader(wire.encodeNvramHeader(nvram, new TextEncoder().encode('other')), nvramOf),
    ).toThrow(expect.objectContaining({ code: 'ERR_CCM_AUTH' }));
    expect(() => wire.decodeNvramHeader(samples.nvram(), { ...nvramOf, regionSize: 1n << 20n })).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_FIELD' }),
    );
    const torn = samples.nvram();
    torn[30] ^= 1;
    expect(() => wire.decodeNvramHeader(torn, nvramOf)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_CHECKSUM' }),
    );
    expect(() => wire.encodeNvramHeader({ ...nvram, ringSize: 12n })).toThrow(RangeError);
  });

  it("binds a link join to its session: another session's key, no session, or another attempt is refused", () => {
    const other = wire.joinKey(secret, 0xe90dn);
    expect(() => wire.decodeJoin(samples.join(), CLUSTER, () => other)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_NO_SESSION' }),
    );
    expect(() => wire.decodeJoin(samples.join(), CLUSTER, () => null)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_NO_SESSION' }),
    );
    // Without a secret the key is still the session's (unkeyed hash of its epoch): another session's join does not verify.
    expect(() =>
      wire.decodeJoin(wire.encodeJoin(join, wire.joinKey(undefined, 1n)), CLUSTER, () =>
        wire.joinKey(undefined, 2n),
      ),
    ).toThrow(expect.objectContaining({ code: 'ERR_CCM_NO_SESSION' }));
    expect(() =>
      wire.decodeJoinAccept(samples.joinAccept(), CLUSTER, { ...join, attempt: 6 }, linkKey),
    ).toThrow(expect.objectContaining({ code: 'ERR_CCM_AUTH' }));
    expect(() => wire.decodeJoinAccept(samples.joinAccept(), CLUSTER, { ...join, link: 2 }, linkKey)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_FIELD' }),
    );
    expect(() =>
      wire.decodeJoin(wire.encodeJoin({ ...join, link: wire.MAX_LINKS }, linkKey), CLUSTER, () => linkKey),
    ).toThrow(expect.objectContaining({ code: 'ERR_CCM_FIELD' }));
  });

  it('fits the CM private-data limits, and accepts the zero padding the CM adds', () => {
    expect(samples.connect().byteLength).toBeLessThanOrEqual(wire.PRIVATE_DATA.maxConnect);
    expect(samples.accept().byteLength).toBeLessThanOrEqual(wire.PRIVATE_DATA.maxAccept);
    const padded = new Uint8Array(wire.PRIVATE_DATA.maxConnect);
    padded.set(samples.connect());
    expect(wire.decodeConnect(padded, CLUSTER, secret).nodeId).toBe(1);
  });

  it('authenticates private data before believing it, binds each accept to its request, and reveals nothing in a reject', () => {
    const other = new TextEncoder().encode('another-secret');
    // A connect without the secret's MAC, or with another secret's, is refused before its fields are read.
    const stranger = wire.encodeConnect({
      clusterId: CLUSTER + 1n,
      nodeId: 9,
      generation: 7n,
      target: 2,
      attempt: 1,
    });
    expect(() => wire.decodeConnect(stranger, CLUSTER, secret)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_AUTH' }),
    );
    expect(() =>
      wire.decodeConnect(
        wire.encodeConnect({ clusterId: CLUSTER, nodeId: 1, generation: 7n, target: 2, attempt: 1 }, other),
        CLUSTER,
        secret,
      ),
    ).toThrow(expect.objectContaining({ code: 'ERR_CCM_AUTH' }));
    // Without a secret, as in version 1: the cluster id is checked.
    expect(() => wire.decodeConnect(stranger, CLUSTER)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_CLUSTER' }),
    );
    // An accept verifies only for the request it answers (generation and attempt).
    expect(() =>
      wire.decodeAccept(samples.accept(), CLUSTER, { generation: 7n, attempt: 4 }, secret),
    ).toThrow(expect.objectContaining({ code: 'ERR_CCM_AUTH' }));
    expect(() =>
      wire.decodeAccept(samples.accept(), CLUSTER, { generation: 8n, attempt: 3 }, secret),
    ).toThrow(expect.objectContaining({ code: 'ERR_CCM_AUTH' }));
    // A reject holds the magic, the caller's own cluster id, the reason and a CRC: nothing of the node that sent it.
    const rej = wire.encodeReject({ clusterId: CLUSTER + 1n, reason: 'NOT_AUTHENTICATED' });
    expect(rej.byteLength).toBe(wire.REJECT_PD.size);
    expect(wire.decodeReject(rej)).toEqual({ clusterId: CLUSTER + 1n, reason: 'NOT_AUTHENTICATED' });
    // The status block's MAC covers every field: one changed byte (CRC recomputed) no longer verifies.
    const st = samples.status();
    st[wire.STATUS.state] = 3;
    seal(st, wire.STATUS.size, wire.STATUS.checksum);
    expect(() => wire.decodeStatus(st, CLUSTER, secret)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_AUTH' }),
    );
    expect(wire.decodeStatus(st, CLUSTER).state).toBe('ACTIVE');
    // Hello and commit carry the responder's nonce under their MACs.
    const h = samples.hello();
    h[wire.HELLO.responderNonce] ^= 1;
    seal(h, wire.HELLO.size, wire.HELLO.checksum);
    expect(() => wire.decodeHello(h, CLUSTER, secret)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_AUTH' }),
    );
    // The session epoch depends on both nonces and on the secret.
    const e = wire.sessionEpoch(secret, 1n, 2n);
    expect(e).not.toBe(wire.sessionEpoch(secret, 1n, 3n));
    expect(e).not.toBe(wire.sessionEpoch(other, 1n, 2n));
    expect(e).not.toBe(wire.sessionEpoch(undefined, 1n, 2n));
    expect(wire.sessionEpoch(secret, 1n, 2n)).toBe(e);
  });

  it('sizes records exactly for any 32-bit length and validates a copy of the ring, not the ring', () => {
    // A 32-bit mask would turn a length near 2^32 into a small or negative size that passes the bounds check.
    expect(wire.recordSize(0xffff_fff9)).toBe(wire.LOG_HEADER.size + 0x1_0000_0000);
    expect(wire.recordSize(0xffff_ffff)).toBe(wire.LOG_HEADER.size + 0x1_0000_0000);
    const rec = samples.log();
    const huge = rec.slice();
    new DataView(huge.buffer).setUint32(wire.LOG_HEADER.payloadLen, 0xffff_fff9, true);
    seal(huge, wire.LOG_HEADER.size, wire.LOG_HEADER.checksum);
    expect(() => wire.decodeRecord(huge)).toThrow(expect.objectContaining({ code: 'ERR_CCM_LENGTH' }));
    // The decoded payload is a copy: writing the ring afterwards does not change what was validated.
    const ring = new Uint8Array(256);
    ring.set(rec);
    const got = wire.decodeRecord(ring);
    ring.fill(0x41, wire.LOG_HEADER.size, wire.LOG_HEADER.size + 8);
    expect(Buffer.from(got.payload).toString()).toBe('a mirrored log record');
    // So is every decoded counter word.
    const word = wire.encodeCounter({ value: 5n, epoch: 9n });
    const c = wire.decodeCounter(word);
    word.fill(0);
    expect(c).toEqual({ value: 5n, epoch: 9n });
  });

  it('names each reason a block is refused', () => {
    const reason = (b: Uint8Array, f: (b: Uint8Array) => unknown) => {
      try {
        f(b);
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
        return (e as InstanceType<typeof ProtocolError>).code;
      }
      return 'accepted';
    };
    const st = samples.status();
    expect(reason(st.subarray(0, 100), decoders.status)).toBe('ERR_CCM_TRUNCATED');
    expect(reason(Object.assign(st.slice(), { 0: 0x58 }), decoders.status)).toBe('ERR_CCM_MAGIC');
    const v = st.slice();
    v[4] = 9;
    expect(reason(v, decoders.status)).toBe('ERR_CCM_VERSION');
    const c = st.slice();
    c[40] ^= 1;
    expect(reason(c, decoders.status)).toBe('ERR_CCM_CHECKSUM');
    expect(reason(st, (b) => wire.decodeStatus(b, CLUSTER + 1n, secret))).toBe('ERR_CCM_CLUSTER');
    expect(reason(st, (b) => wire.decodeStatus(b, CLUSTER, new TextEncoder().encode('wrong-secret')))).toBe(
      'ERR_CCM_AUTH',
    );
    const unsigned = wire.encodeHello({
      clusterId: CLUSTER,
      nodeId: 1,
      generation: 7n,
      nonce: 42n,
      responderNonce: 43n,
      regions,
    });
    expect(reason(unsigned, decoders.hello)).toBe('ERR_CCM_AUTH');
    const L = wire.LOG_HEADER;
    const noStream = samples.log();
    noStream.fill(0, L.stream, L.stream + 4);
    expect(reason(noStream, (b) => wire.decodeRecord(b))).toBe('ERR_CCM_CHECKSUM'); // the header CRC covers the stream id
    seal(noStream, L.size, L.checksum); // a partner that writes stream 0 or sequence 0 on purpose, with a valid CRC
    expect(() => wire.decodeRecord(noStream)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_FIELD', message: 'log: stream id 0' }),
    );
    const noSequence = samples.log();
    noSequence.fill(0, L.sequence, L.sequence + 8);
    seal(noSequence, L.size, L.checksum);
    expect(() => wire.decodeRecord(noSequence)).toThrow(
      expect.objectContaining({ code: 'ERR_CCM_FIELD', message: 'log: sequence 0' }),
    );
    expect(() => wire.encodeRecord(1n, 1, 0n, new Uint8Array(0))).toThrow(RangeError);
    expect(() => wire.encodeRecord(1n, 0, 1n, new Uint8Array(0))).toThrow(RangeError);
    expect(reason(samples.log().subarray(0, L.size + 8), (b) => wire.decodeRecord(b))).toBe('ERR_CCM_LENGTH');
    expect(reason(samples.accept(), (b) => wire.decodeConnect(b, CLUSTER))).toBe('ERR_CCM_FIELD');
    expect(wire.decodeHello(new Uint8Array(128), CLUSTER)).toBeNull(); // an empty slot is "nothing yet"
    expect(wire.decodeReject(new Uint8Array(0))).toBeNull(); // a reject by the CM itself
  });

  it('survives a mutation fuzz of every decoder: a value or a ProtocolError, never anything else', () => {
    const random = rng(0xc0ffee);
    let inputs = 0;
    let rejected = 0;
    for (const [name, make] of Object.entries(samples) as [keyof typeof samples, () => Uint8Array][]) {
      const good = make();
      for (let i = 0; i < 3000; i++) {
        let b: Uint8Array;
        const mode = i % 4;
        if (mode === 0)
          b = Uint8Array.from({ length: Math.floor(random() * (good.byteLength + 64)) }, () =>
            Math.floor(random() * 256),
          );
        else {
          b = good.slice(0, mode === 3 ? Math.floor(random() * good.byteLength) : good.byteLength);
          const flips = 1 + Math.floor(random() * 4);
          for (let f = 0; f < flips && b.byteLength > 0; f++)
            b[Math.floor(random() * b.byteLength)] ^= 1 << Math.floor(random() * 8);
        }
        inputs++;
        try {
          decoders[name](b);
        } catch (e) {
          if (!(e instanceof ProtocolError))
            throw new Error(`${name} decoder threw ${String(e)} on ${Buffer.from(b).toString('hex')}`, {
              cause: e,
            });
          rejected++;
        }
      }
    }
    expect(inputs).toBe(3000 * Object.keys(samples).length);
    expect(rejected).toBeGreaterThan(inputs * 0.9); // CRC and MAC catch nearly every mutation
  });
});
