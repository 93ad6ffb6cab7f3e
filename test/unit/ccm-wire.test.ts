// The CCM's wire formats: round trips, each rejection with its reason, and a mutation fuzz of every
// decoder of partner-supplied bytes (a decoder returns a value or throws ProtocolError, nothing else).
import { describe, expect, it } from 'vitest';
import { wire } from '../../lib/ccm';
import { seal } from '../../lib/ccm/wire/codec';

const { ProtocolError } = wire;
const CLUSTER = 0x1234_5678_9abc_def0n;
const secret = new TextEncoder().encode('cluster-secret');
const regions = { statusAddr: 0x7f00_1000n, statusRkey: 0x11, statusLen: 512, mailboxAddr: 0x7f00_2000n, mailboxRkey: 0x22 };

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
  status: () => wire.encodeStatus({ clusterId: CLUSTER, nodeId: 2, state: 'READY', generation: 99n, heartbeat: 5n, sequence: 3n, slotCount: 2, echoes: [{ nodeId: 1, generation: 7n, nonce: 42n }, null] }, secret),
  hello: () => wire.encodeHello({ clusterId: CLUSTER, nodeId: 1, generation: 7n, nonce: 42n, regions, slot: 0, slotStride: 4352 }, secret),
  commit: () => wire.encodeCommit({ clusterId: CLUSTER, nodeId: 1, generation: 7n, nonce: 42n }, secret),
  connect: () => wire.encodeConnect({ clusterId: CLUSTER, nodeId: 1, generation: 7n, target: 2 }),
  accept: () => wire.encodeAccept({ clusterId: CLUSTER, nodeId: 2, generation: 99n, regions, slot: 1, slotStride: 4352 }),
  reject: () => wire.encodeReject({ clusterId: CLUSTER, nodeId: 2, generation: 99n, reason: 'TIE_BREAK' }),
  log: () => wire.encodeRecord(7, 9n, new TextEncoder().encode('a mirrored log record')),
};

const decoders: Record<keyof typeof samples, (b: Uint8Array) => unknown> = {
  status: (b) => wire.decodeStatus(b, CLUSTER, secret),
  hello: (b) => wire.decodeHello(b, CLUSTER, secret),
  commit: (b) => wire.decodeCommit(b, CLUSTER, secret),
  connect: (b) => wire.decodeConnect(b, CLUSTER),
  accept: (b) => wire.decodeAccept(b, CLUSTER),
  reject: (b) => wire.decodeReject(b),
  log: (b) => wire.decodeRecord(b),
};

describe('wire formats', () => {
  it('round-trips every block', () => {
    const st = wire.decodeStatus(samples.status(), CLUSTER, secret);
    expect(st).toMatchObject({ nodeId: 2, state: 'READY', generation: 99n, heartbeat: 5n, slotCount: 2 });
    expect(st.echoes).toEqual([{ nodeId: 1, generation: 7n, nonce: 42n }, null]);
    expect(wire.decodeHello(samples.hello(), CLUSTER, secret)).toMatchObject({ nodeId: 1, generation: 7n, nonce: 42n, regions, slot: 0, slotStride: 4352 });
    expect(wire.decodeCommit(samples.commit(), CLUSTER, secret)).toMatchObject({ nodeId: 1, nonce: 42n });
    expect(wire.decodeConnect(samples.connect(), CLUSTER)).toMatchObject({ nodeId: 1, generation: 7n, target: 2 });
    expect(wire.decodeAccept(samples.accept(), CLUSTER)).toMatchObject({ nodeId: 2, regions, slot: 1 });
    expect(wire.decodeReject(samples.reject())).toMatchObject({ nodeId: 2, reason: 'TIE_BREAK' });
    expect(wire.decodeRecord(samples.log())).toMatchObject({ stream: 7, sequence: 9n });
    expect(Buffer.from(wire.decodeRecord(samples.log()).payload).toString()).toBe('a mirrored log record');
  });

  it('fits the CM private-data limits, and accepts the zero padding the CM adds', () => {
    expect(samples.connect().byteLength).toBeLessThanOrEqual(wire.PRIVATE_DATA.maxConnect);
    expect(samples.accept().byteLength).toBeLessThanOrEqual(wire.PRIVATE_DATA.maxAccept);
    const padded = new Uint8Array(wire.PRIVATE_DATA.maxConnect);
    padded.set(samples.connect());
    expect(wire.decodeConnect(padded, CLUSTER).nodeId).toBe(1);
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
    expect(reason(st, (b) => wire.decodeStatus(b, CLUSTER, new TextEncoder().encode('wrong-secret')))).toBe('ERR_CCM_AUTH');
    const unsigned = wire.encodeHello({ clusterId: CLUSTER, nodeId: 1, generation: 7n, nonce: 42n, regions, slot: 0, slotStride: 4352 });
    expect(reason(unsigned, decoders.hello)).toBe('ERR_CCM_AUTH');
    const noStream = samples.log();
    noStream.fill(0, 24, 28);
    expect(reason(noStream, (b) => wire.decodeRecord(b))).toBe('ERR_CCM_CHECKSUM'); // the header CRC covers the stream id
    seal(noStream, 32, 28); // a partner that writes stream 0 or sequence 0 on purpose, with a valid CRC
    expect(() => wire.decodeRecord(noStream)).toThrow(expect.objectContaining({ code: 'ERR_CCM_FIELD', message: 'log: stream id 0' }));
    const noSequence = samples.log();
    noSequence.fill(0, 8, 16);
    seal(noSequence, 32, 28);
    expect(() => wire.decodeRecord(noSequence)).toThrow(expect.objectContaining({ code: 'ERR_CCM_FIELD', message: 'log: sequence 0' }));
    expect(() => wire.encodeRecord(1, 0n, new Uint8Array(0))).toThrow(RangeError);
    expect(() => wire.encodeRecord(0, 1n, new Uint8Array(0))).toThrow(RangeError);
    expect(reason(samples.log().subarray(0, 40), (b) => wire.decodeRecord(b))).toBe('ERR_CCM_LENGTH');
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
        if (mode === 0) b = Uint8Array.from({ length: Math.floor(random() * (good.byteLength + 64)) }, () => Math.floor(random() * 256));
        else {
          b = good.slice(0, mode === 3 ? Math.floor(random() * good.byteLength) : good.byteLength);
          const flips = 1 + Math.floor(random() * 4);
          for (let f = 0; f < flips && b.byteLength > 0; f++) b[Math.floor(random() * b.byteLength)] ^= 1 << Math.floor(random() * 8);
        }
        inputs++;
        try {
          decoders[name](b);
        } catch (e) {
          if (!(e instanceof ProtocolError)) throw new Error(`${name} decoder threw ${String(e)} on ${Buffer.from(b).toString('hex')}`);
          rejected++;
        }
      }
    }
    expect(inputs).toBe(21000);
    expect(rejected).toBeGreaterThan(inputs * 0.9); // CRC and MAC catch nearly every mutation
  });
});
