// UD queue pairs with address handles on rxe: datagrams cross the link to the QP number and Q_Key
// they name, arrive behind their 40-byte GRH, and a wrong Q_Key is dropped by the receiving device.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressHandle, QueuePair } from '../../lib/verbs';
import { closeSide, openSide, type Side } from './verbs-pair';

const QKEY = 0x11111111;
const GRH = 40;
let a: Side;
let b: Side;
let qa: QueuePair;
let qb: QueuePair;
let ah: AddressHandle;

function udQp(s: Side): QueuePair {
  const qp = s.pd.createQp({ type: 'UD', sendCq: s.cq, maxSendWr: 32, maxRecvWr: 32 });
  qp.modify({ qpState: 'INIT', pkeyIndex: 0, portNum: 1, qkey: QKEY });
  qp.modify({ qpState: 'RTR' });
  qp.modify({ qpState: 'RTS', sqPsn: 0 });
  return qp;
}

beforeAll(() => {
  a = openSide(0);
  b = openSide(1);
  qa = udQp(a);
  qb = udQp(b);
  ah = a.pd.createAh({ portNum: 1, grh: { dgid: b.gid, sgidIndex: a.gidIndex } });
});

afterAll(() => {
  ah.close();
  qa.close();
  qb.close();
  closeSide(a);
  closeSide(b);
});

describe('UD queue pairs on rxe', () => {
  it('reaches RTS and reports its Q_Key', () => {
    expect(qa.state).toBe('RTS');
    expect(qa.query()).toMatchObject({ qpState: 'RTS', qkey: QKEY });
  });

  it('sends a datagram through an address handle: it lands behind the GRH, from our QP', async () => {
    const got = qb.recv({ local: { mr: b.mr, offset: 0, length: GRH + 256 } });
    a.mr.buffer.write('datagram over RoCE v2', 1000);
    const sent = await qa.sendTo({
      ah,
      remoteQpn: qb.qpNum,
      remoteQkey: QKEY,
      local: { mr: a.mr, offset: 1000, length: 21 },
      imm: 77,
    });
    expect(sent.opcode).toBe('SEND');
    const wc = await got;
    expect(wc).toMatchObject({
      status: 'SUCCESS',
      opcode: 'RECV',
      byteLen: GRH + 21,
      srcQp: qa.qpNum,
      immData: 77,
      grh: true,
    });
    expect(b.mr.buffer.toString('utf8', GRH, GRH + 21)).toBe('datagram over RoCE v2');
  });

  it('drops a datagram with the wrong Q_Key: the receive takes the next good one', async () => {
    const got = qb.recv({ local: { mr: b.mr, offset: 4096, length: GRH + 64 } });
    a.mr.buffer.write('wrong-key', 2000);
    a.mr.buffer.write('right-key', 2100);
    await qa.sendTo({
      ah,
      remoteQpn: qb.qpNum,
      remoteQkey: QKEY + 1,
      local: { mr: a.mr, offset: 2000, length: 9 },
    });
    await qa.sendTo({
      ah,
      remoteQpn: qb.qpNum,
      remoteQkey: QKEY,
      local: { mr: a.mr, offset: 2100, length: 9 },
    });
    const wc = await got;
    expect(wc.byteLen).toBe(GRH + 9);
    expect(b.mr.buffer.toString('utf8', 4096 + GRH, 4096 + GRH + 9)).toBe('right-key');
  });

  it('refuses what UD cannot do, and an address handle in use', async () => {
    expect(() =>
      qa.postSend([
        { wrId: 1n, opcode: 'SEND', sgl: [{ mr: a.mr, length: 4 }], remoteQpn: qb.qpNum, remoteQkey: QKEY },
      ]),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    await expect(
      qa.read({ local: { mr: a.mr, length: 8 }, remoteAddr: b.mr.addr, rkey: b.mr.rkey }),
    ).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' });
    const otherPd = a.ctx.allocPd();
    const foreign = otherPd.createAh({ portNum: 1, grh: { dgid: b.gid, sgidIndex: a.gidIndex } });
    await expect(
      qa.sendTo({ ah: foreign, remoteQpn: qb.qpNum, remoteQkey: QKEY, local: { mr: a.mr, length: 4 } }),
    ).rejects.toMatchObject({ code: 'ERR_WRONG_PD' });
    foreign.close();
    otherPd.close();
    expect(() => a.pd.createAh({ portNum: 1, grh: { dgid: 'not-a-gid', sgidIndex: 0 } })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );

    const got = qb.recv({ local: { mr: b.mr, offset: 8192, length: GRH + 64 } });
    const sending = qa.sendTo({
      ah,
      remoteQpn: qb.qpNum,
      remoteQkey: QKEY,
      local: { mr: a.mr, offset: 0, length: 8 },
    });
    expect(() => ah.close()).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    await sending;
    await got;
    expect(ah.closed).toBe(false);
  });
});
