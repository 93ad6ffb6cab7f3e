// The CM when the link or the device goes away, on a private veth pair with its own rxe devices (the
// lab link the other tests share stays untouched): `ip link set … down` fails work on an established
// connection and new connects with named errors within their timeouts; `rdma link delete` ends a
// listener with DEVICE_REMOVAL and, once we let go, the device really goes.
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, contextFor, listen } from '../../lib/cm';
import { Access, type Context, getDevices } from '../../lib/verbs';
import { privateLink, recordFault, type PrivateLink } from './lab';

let link: PrivateLink;
let ctxA: Context;
beforeAll(() => {
  link = privateLink('cml', 1);
});
afterAll(() => link.remove());

describe('RDMA CM when links and devices go away', () => {
  it('ip link set down: work on an established connection fails, and so does a new connect, each named and in time', async () => {
    const [addrA, addrB] = link.addrs;
    ctxA = await contextFor(addrA);
    const pa = ctxA.allocPd();
    const pb = (await contextFor(addrB)).allocPd();
    const listener = await listen({ address: addrA, port: 7900 });
    const server = (async () => {
      for await (const req of listener) return req.accept({ pd: pa });
      throw new Error('listener ended');
    })();
    const client = await connect({ address: addrA, port: 7900, sourceAddress: addrB, pd: pb, retryCount: 2 });
    const srv = await server;
    const mr = pb.allocMemory(64, Access.LOCAL_WRITE);
    const rmr = pa.allocMemory(64, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
    await client.qp.write({ local: { mr, length: 8 }, remoteAddr: rmr.addr, rkey: rmr.rkey });

    execFileSync('ip', ['link', 'set', link.netdevs[0], 'down']);
    try {
      const t0 = Date.now();
      const err = await client.qp
        .write({ local: { mr, length: 8 }, remoteAddr: rmr.addr, rkey: rmr.rkey })
        .catch((e) => e);
      expect(err.code).toMatch(/^ERR_WC_(RETRY_EXC_ERR|WR_FLUSH_ERR|LOC_QP_OP_ERR)$/);
      expect(Date.now() - t0).toBeLessThan(30_000);

      const t1 = Date.now();
      const e2 = await connect({
        address: addrA,
        port: 7900,
        sourceAddress: addrB,
        pd: pb,
        timeoutMs: 6000,
      }).catch((e) => e);
      expect([
        'ERR_CM_ADDR_ERROR',
        'ERR_CM_ROUTE_ERROR',
        'ERR_CM_UNREACHABLE',
        'ERR_CM_TIMEOUT',
        'ERR_CM_REJECTED',
        'ENETUNREACH',
        'ENODEV',
      ]).toContain(e2.code);
      expect(Date.now() - t1).toBeLessThan(15_000);
      recordFault('ip link set down under a CM connection, and a connect');
    } finally {
      execFileSync('ip', ['link', 'set', link.netdevs[0], 'up']);
    }
    client.close();
    srv.close();
    listener.close();
    mr.close();
    rmr.close();
    pa.close();
    pb.close();
  });

  it('rdma link delete: the listener ends with ERR_CM_DEVICE_REMOVAL, and the device goes once released', async () => {
    const dev = link.devices[0];
    const listener = await listen({ address: link.addrs[0], port: 7901 });
    const ended = (async () => {
      try {
        for await (const req of listener) await req.reject();
        return null;
      } catch (e) {
        return e as { code?: string };
      }
    })();
    // `rdma link delete` waits in the kernel until every user of the device has let go.
    const del = spawn('timeout', ['60', 'rdma', 'link', 'delete', dev], { stdio: 'inherit' });
    const deleted = new Promise<number | null>((r) => del.on('exit', r));
    expect((await ended)?.code).toBe('ERR_CM_DEVICE_REMOVAL');
    expect(listener.closed).toBe(true);
    const outcome = await Promise.race([
      deleted,
      new Promise((r) => setTimeout(() => r('still waiting'), 30_000)),
    ]);
    expect(
      outcome,
      `rdma link delete ${dev}; devices: ${getDevices().map((d) => d.name)}; ctxA closed: ${ctxA.closed}`,
    ).toBe(0);
    expect(getDevices().map((d) => d.name)).not.toContain(dev);
    // The library let go of librdmacm's context of the removed device: it reports closed, and refuses use.
    expect(ctxA.closed).toBe(true);
    expect(() => ctxA.allocPd()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    recordFault('RDMA device removed (rdma link delete) under a listener');
  });
});
