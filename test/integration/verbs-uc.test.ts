// UC queue pairs on rxe: unreliable connected, so RDMA WRITE and SEND but no READ or atomics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access, type QueuePair } from '../../lib/verbs';
import { closeSide, openSide, rcPair, type Side } from './verbs-pair';

let a: Side;
let b: Side;
let qa: QueuePair;
let qb: QueuePair;

beforeAll(() => {
  a = openSide(0);
  b = openSide(1);
  [qa, qb] = rcPair(a, b, { a: { type: 'UC' }, b: { type: 'UC' }, access: Access.REMOTE_WRITE });
});

afterAll(() => {
  qa.close();
  qb.close();
  closeSide(a);
  closeSide(b);
});

describe('UC queue pairs on rxe', () => {
  it('connects to RTS and reports its type', () => {
    expect(qa.type).toBe('UC');
    expect(qa.state).toBe('RTS');
    expect(qa.query().qpState).toBe('RTS');
  });

  it('RDMA WRITE and WRITE_WITH_IMM land in the partner region', async () => {
    const bell = qb.recv({});
    a.mr.buffer.write('unreliable but connected', 300);
    await qa.write({
      local: { mr: a.mr, offset: 300, length: 24 },
      remoteAddr: b.mr.addr + 300n,
      rkey: b.mr.rkey,
      imm: 5,
    });
    expect((await bell).immData).toBe(5);
    expect(b.mr.buffer.toString('utf8', 300, 324)).toBe('unreliable but connected');
  });

  it('SEND lands in a posted receive', async () => {
    const got = qb.recv({ local: { mr: b.mr, offset: 1000, length: 64 } });
    a.mr.buffer.write('uc send', 700);
    await qa.send({ local: { mr: a.mr, offset: 700, length: 7 } });
    expect((await got).byteLen).toBe(7);
    expect(b.mr.buffer.toString('utf8', 1000, 1007)).toBe('uc send');
  });

  it('refuses READ and atomics up front', async () => {
    await expect(
      qa.read({ local: { mr: a.mr, length: 8 }, remoteAddr: b.mr.addr, rkey: b.mr.rkey }),
    ).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' });
    await expect(
      qa.fetchAdd({ local: { mr: a.mr, length: 8 }, remoteAddr: b.mr.addr, rkey: b.mr.rkey, add: 1n }),
    ).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' });
    expect(qa.state).toBe('RTS');
  });
});
