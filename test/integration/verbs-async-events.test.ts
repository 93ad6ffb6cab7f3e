// Asynchronous device events on rxe, delivered through the event loop: a completion queue overrun
// raises CQ_ERR naming the CQ, and a port whose link goes down and up raises PORT_ERR then PORT_ACTIVE
// (on a private veth pair and rxe device, so the lab link the other tests use is untouched).
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contextFor } from '../../lib/cm';
import { type AsyncEvent, Context, getDevices } from '../../lib/verbs';
import { lab } from './lab';
import { closeSide, openSide, rcPair, type Side } from './verbs-pair';

const env = lab();
let a: Side;
let b: Side;

beforeAll(() => {
  a = openSide(0);
  b = openSide(1);
});

afterAll(() => {
  closeSide(a);
  closeSide(b);
});

const until = async (cond: () => boolean, ms = 20_000) => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 20));
  return cond();
};

/** Blocks the event loop, so completions pile up in the CQ unread. */
function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('async events on rxe', () => {
  it('a completion queue overrun raises CQ_ERR naming the CQ', async () => {
    const events: AsyncEvent[] = [];
    a.ctx.on('async-event', (e) => events.push(e));
    const small = a.ctx.createCq({ cqe: 1 });
    const [qa, qb] = rcPair(a, b, { a: { sendCq: small, maxSendWr: 64 } });
    // Far more signaled writes than the CQ holds, and the event loop held until the device is done.
    qa.postSend(
      Array.from({ length: 48 }, (_, i) => ({
        wrId: BigInt(i),
        opcode: 'RDMA_WRITE' as const,
        signaled: true,
        sgl: [{ mr: a.mr, length: 8 }],
        remoteAddr: b.mr.addr,
        rkey: b.mr.rkey,
      })),
    );
    block(3000);
    expect(await until(() => events.some((e) => e.type === 'CQ_ERR'))).toBe(true);
    expect(events.find((e) => e.type === 'CQ_ERR')?.cq).toBe(small);
    qa.close();
    qb.close();
    small.close();
  });

  it('a port whose link goes down and up raises PORT_ERR, then PORT_ACTIVE', async () => {
    const dev = 'rxeevt';
    spawnSync('rdma', ['link', 'delete', dev], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', 'evt0'], { stdio: 'ignore' });
    execFileSync('ip', ['link', 'add', 'evt0', 'type', 'veth', 'peer', 'name', 'evt1']);
    try {
      execFileSync('ip', ['link', 'set', 'evt0', 'up']);
      execFileSync('ip', ['link', 'set', 'evt1', 'up']);
      execFileSync('rdma', ['link', 'add', dev, 'type', 'rxe', 'netdev', 'evt0']);
      expect(getDevices().map((d) => d.name)).toContain(dev);
      const ctx = new Context(dev);
      const events: AsyncEvent[] = [];
      ctx.on('async-event', (e) => events.push(e));
      expect(await until(() => ctx.queryPort(1).state === 'ACTIVE')).toBe(true);
      execFileSync('ip', ['link', 'set', 'evt0', 'down']);
      expect(await until(() => events.some((e) => e.type === 'PORT_ERR'))).toBe(true);
      expect(ctx.queryPort(1).state).toBe('DOWN');
      execFileSync('ip', ['link', 'set', 'evt0', 'up']);
      expect(await until(() => events.some((e) => e.type === 'PORT_ACTIVE'))).toBe(true);
      const order = events.filter((e) => e.type === 'PORT_ERR' || e.type === 'PORT_ACTIVE');
      expect(order[0]).toEqual({ type: 'PORT_ERR', portNum: 1 });
      expect(order[order.length - 1]).toEqual({ type: 'PORT_ACTIVE', portNum: 1 });
      ctx.close();
    } finally {
      spawnSync('rdma', ['link', 'delete', dev], { stdio: 'ignore' });
      spawnSync('ip', ['link', 'del', 'evt0'], { stdio: 'ignore' });
    }
  });

  it('refuses to watch the async events of librdmacm’s own device context', async () => {
    const ctx = await contextFor(env.addrs[0]);
    expect(() => ctx.on('async-event', () => {})).toThrow(
      expect.objectContaining({ code: 'ERR_UNSUPPORTED' }),
    );
  });
});
