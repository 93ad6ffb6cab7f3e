// RDMA CM in the UDP port space on rxe: a UD "connection" learns the partner's QP number and QKey,
// datagrams go both ways (answers through pd.createAhFromWc), a refused request fails by name; multicast
// groups deliver one send to every member and nothing after a leave. Interop with rdma-core's own
// udaddy (UD) and mckey (multicast), in both directions.
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  connectDatagram,
  contextFor,
  listenDatagram,
  MAX_UD_ANSWER_PRIVATE_DATA,
  MAX_UD_CONNECT_PRIVATE_DATA,
  openDatagram,
  type DatagramEndpoint,
} from '../../lib/cm';
import {
  Access,
  normalizeGid,
  released,
  type MemoryRegion,
  type ProtectionDomain,
  type WorkCompletion,
} from '../../lib/verbs';
import { closersAfterEach, heldResources, lab, until } from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
const GRH = 40;
/** The QKey librdmacm gives every QP of the UDP port space (RDMA_UDP_QKEY). */
const UDP_QKEY = 0x01234567;
/** udaddy has no port option: it always uses 7174. */
const UDADDY_PORT = 7174;
let port = 7900;
let groupN = 1;
const cleanup = closersAfterEach();

function track<T extends { close(): void }>(x: T): T {
  cleanup.push(() => x.close());
  return x;
}

async function pdFor(address: string): Promise<ProtectionDomain> {
  return track((await contextFor(address)).allocPd());
}

function memory(pd: ProtectionDomain): MemoryRegion {
  return track(pd.allocMemory(64 * 1024, Access.LOCAL_WRITE));
}

/** `n` receives of GRH + `size` bytes, slot i at i * 256. */
function receives(
  ep: { qp: DatagramEndpoint['qp'] },
  mr: MemoryRegion,
  n: number,
  size: number,
  first = 0,
): Promise<WorkCompletion>[] {
  return Array.from({ length: n }, (_, i) => {
    const p = ep.qp.recv({ local: { mr, offset: (first + i) * 256, length: GRH + size } });
    p.catch(() => {}); // a failed test's receives are flushed by its cleanup
    return p;
  });
}

const payload = (mr: MemoryRegion, slot: number, len: number) =>
  mr.buffer.toString('utf8', slot * 256 + GRH, slot * 256 + GRH + len);

/** A fresh administratively scoped IPv4 group per test. */
const group = () => `239.1.7.${groupN++}`;

/** A tool of rdma-core's, its stdout line-buffered so that progress lines can be waited for. */
function tool(args: string[]): {
  child: ChildProcess;
  output: () => string;
  waitFor: (text: string, ms?: number) => Promise<void>;
  exit: Promise<number | null>;
} {
  const child = spawn('stdbuf', ['-oL', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  cleanup.push(() => child.kill('SIGKILL'));
  const waitFor = (text: string, ms = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`${args[0]} did not print "${text}" within ${ms} ms:\n${out}`)),
        ms,
      );
      const check = () => {
        if (out.includes(text)) {
          clearTimeout(t);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  return { child, output: () => out, waitFor, exit };
}

/** connectDatagram() until the partner listens (a SIDR request nobody answers fails fast). */
async function connectWhenListening(
  o: Parameters<typeof connectDatagram>[0],
  tries = 40,
): Promise<DatagramEndpoint> {
  for (let i = 0; ; i++) {
    try {
      return await connectDatagram({ ...o, timeoutMs: 3000 });
    } catch (e) {
      if (i >= tries) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

describe('RDMA CM over UD on rxe', () => {
  it('learns the partner QP and QKey with private data both ways; datagrams go there and back', async () => {
    const pa = await pdFor(addrA);
    const pb = await pdFor(addrB);
    const mrA = memory(pa);
    const mrB = memory(pb);
    const p = port++;
    const listener = track(await listenDatagram({ address: addrA, port: p }));
    let serverRecvs: Promise<WorkCompletion>[] = [];
    const server = (async () => {
      for await (const req of listener) {
        expect(req.privateData.subarray(0, 5).toString()).toBe('hello');
        expect(req.privateData.length).toBe(MAX_UD_CONNECT_PRIVATE_DATA);
        expect(req.remoteAddress).toBe(addrB);
        return req.accept({
          pd: pa,
          privateData: Buffer.from('welcome'),
          prepare: (qp) => (serverRecvs = receives({ qp }, mrA, 3, 64)),
        });
      }
      throw new Error('listener ended');
    })();
    const client = track(
      await connectDatagram({
        address: addrA,
        port: p,
        sourceAddress: addrB,
        pd: pb,
        privateData: Buffer.from('hello'),
        prepare: (qp) => void qp,
      }),
    );
    const srv = track(await server);
    expect(client.privateData.subarray(0, 7).toString()).toBe('welcome');
    expect(client.remote).toMatchObject({ qpn: srv.qp.qpNum, qkey: UDP_QKEY });
    expect(srv.remote).toBeNull();
    expect(client.qp.type).toBe('UD');
    expect(client.qp.query()).toMatchObject({ qpState: 'RTS', qkey: UDP_QKEY });
    expect(srv.qp.state).toBe('RTS');

    for (let i = 0; i < 3; i++) {
      mrB.buffer.write(`datagram ${i}`, 32 * 1024 + i * 64);
      await client.sendTo(
        client.remote!,
        { mr: mrB, offset: 32 * 1024 + i * 64, length: 10 },
        client.qp.qpNum,
      );
    }
    const got = await Promise.all(serverRecvs);
    got.forEach((wc, i) => {
      expect(wc).toMatchObject({
        status: 'SUCCESS',
        byteLen: GRH + 10,
        srcQp: client.qp.qpNum,
        immData: client.qp.qpNum,
        grh: true,
      });
      expect(payload(mrA, i, 10)).toBe(`datagram ${i}`);
    });
    // The answer goes back along the path the datagram came, built from its completion and GRH.
    const back = pa.createAhFromWc(got[0], mrA.buffer.subarray(0, GRH), srv.portNum);
    cleanup.push(() => back.close());
    const reply = receives(client, mrB, 1, 64)[0];
    mrA.buffer.write('answer', 32 * 1024);
    await srv.sendTo(
      { ah: back, qpn: got[0].srcQp, qkey: UDP_QKEY },
      { mr: mrA, offset: 32 * 1024, length: 6 },
    );
    expect(await reply).toMatchObject({ status: 'SUCCESS', byteLen: GRH + 6, srcQp: srv.qp.qpNum });
    expect(payload(mrB, 0, 6)).toBe('answer');
  });

  it('a refused request fails the initiator by name; bad private data is refused before anything is made', async () => {
    const pa = await pdFor(addrA);
    const pb = await pdFor(addrB);
    const p = port++;
    const listener = track(await listenDatagram({ address: addrA, port: p }));
    const refusing = (async () => {
      for await (const req of listener) {
        await expect(
          req.accept({ pd: pa, privateData: Buffer.alloc(MAX_UD_ANSWER_PRIVATE_DATA + 1) }),
        ).rejects.toMatchObject({ code: 'ERR_CM_PRIVATE_DATA_TOO_LONG' });
        await req.reject(Buffer.from('go away'));
        await expect(req.reject()).rejects.toMatchObject({ code: 'ERR_CM_ANSWERED' });
        return;
      }
    })();
    await expect(
      connectDatagram({ address: addrA, port: p, sourceAddress: addrB, pd: pb }),
    ).rejects.toMatchObject({ code: 'ERR_CM_UNREACHABLE', event: 'UNREACHABLE' });
    await refusing;
    await expect(
      connectDatagram({
        address: addrA,
        port: p,
        pd: pb,
        privateData: Buffer.alloc(MAX_UD_CONNECT_PRIVATE_DATA + 1),
      }),
    ).rejects.toMatchObject({
      code: 'ERR_CM_PRIVATE_DATA_TOO_LONG',
    });
    await expect(connectDatagram({ address: addrA, port: 0, pd: pb })).rejects.toMatchObject({
      code: 'ERR_OUT_OF_RANGE',
    });
    await expect(openDatagram({ address: '10.255.255.254', pd: pb })).rejects.toMatchObject({
      code: 'EADDRNOTAVAIL',
    });
    await expect(openDatagram({ address: 'nowhere', pd: pb })).rejects.toMatchObject({
      code: 'ERR_INVALID_ADDRESS',
    });
  });

  it('a multicast send reaches every member; a member that left gets nothing more', async () => {
    const pa = await pdFor(addrA);
    const pb = await pdFor(addrB);
    const mrA = memory(pa);
    const mr1 = memory(pb);
    const mr2 = memory(pb);
    const g = group();
    const m1 = track(await openDatagram({ address: addrB, pd: pb }));
    const m2 = track(await openDatagram({ address: addrB, pd: pb }));
    const r1 = receives(m1, mr1, 4, 64);
    const r2 = receives(m2, mr2, 4, 64);
    const j1 = await m1.joinMulticast(g);
    await m2.joinMulticast(g);
    expect(j1).toMatchObject({ address: g, qpn: 0xffffff, qkey: UDP_QKEY, sendOnly: false });
    expect(normalizeGid(j1.ah.attr.grh!.dgid)).toBe(normalizeGid(`::ffff:${g}`));
    expect([...m1.multicastGroups.keys()]).toEqual([g]);
    await expect(m1.joinMulticast(g)).rejects.toMatchObject({ code: 'ERR_CM_JOINED' });

    const sender = track(await openDatagram({ address: addrA, pd: pa }));
    const to = await sender.joinMulticast(g, { sendOnly: true });
    expect(to.sendOnly).toBe(true);
    for (let i = 0; i < 3; i++) {
      mrA.buffer.write(`to the group ${i}`, i * 64);
      await sender.sendTo(to, { mr: mrA, offset: i * 64, length: 14 }, 1000 + i);
    }
    for (const [r, mr] of [
      [r1, mr1],
      [r2, mr2],
    ] as const) {
      for (let i = 0; i < 3; i++) {
        expect(await r[i]).toMatchObject({
          status: 'SUCCESS',
          byteLen: GRH + 14,
          srcQp: sender.qp.qpNum,
          immData: 1000 + i,
        });
        expect(payload(mr, i, 14)).toBe(`to the group ${i}`);
      }
    }

    m2.leaveMulticast(g);
    expect(m2.multicastGroups.size).toBe(0);
    expect(() => m2.leaveMulticast(g)).toThrow(expect.objectContaining({ code: 'ERR_CM_NOT_JOINED' }));
    let m2Got = false;
    void r2[3].then(
      () => (m2Got = true),
      () => {},
    );
    mrA.buffer.write('after the leave', 1024);
    await sender.sendTo(to, { mr: mrA, offset: 1024, length: 15 });
    expect(await r1[3]).toMatchObject({ status: 'SUCCESS', byteLen: GRH + 15 });
    expect(payload(mr1, 3, 15)).toBe('after the leave');
    await new Promise((r) => setTimeout(r, 500));
    expect(m2Got).toBe(false);
    m2.close();
    await expect(r2[3]).rejects.toMatchObject({ code: 'ERR_WC_WR_FLUSH_ERR' });
  });

  it('a joined QP closed on its own leaves its groups first: the device destroys it and nothing stays behind', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const pb = await pdFor(addrB);
      const before = heldResources();
      const ep = await openDatagram({ address: addrB, pd: pb });
      await ep.joinMulticast(group());
      await ep.joinMulticast(group());
      // rxe refuses to destroy a QP still attached to a group (EBUSY), and librdmacm ignores that.
      ep.qp.close();
      expect(ep.multicastGroups.size).toBe(0);
      await expect(ep.joinMulticast(group())).rejects.toMatchObject({ code: 'ERR_CLOSED' });
      ep.close();
      await released();
      expect(heldResources()).toEqual(before);
      expect(warnings.filter((w) => (w as { code?: string }).code === 'ERR_RDMA_DESTROY')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('refuses multicast misuse by name and stays usable', async () => {
    const pb = await pdFor(addrB);
    const ep = track(await openDatagram({ address: addrB, pd: pb }));
    await expect(ep.joinMulticast('not an address')).rejects.toMatchObject({ code: 'ERR_INVALID_ADDRESS' });
    await expect(ep.joinMulticast(42 as unknown as string)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    });
    // A unicast address is no group: the kernel refuses the join.
    const unicast = await ep.joinMulticast(addrA, { timeoutMs: 5000 }).then(
      () => null,
      (e: { code?: string }) => e,
    );
    expect(unicast?.code).toMatch(/^(E[A-Z]+|ERR_CM_MULTICAST_ERROR|ERR_CM_TIMEOUT)$/);
    const g = group();
    const aborted = new AbortController();
    aborted.abort();
    await expect(ep.joinMulticast(g, { signal: aborted.signal })).rejects.toMatchObject({
      code: 'ABORT_ERR',
    });
    expect((await ep.joinMulticast(g)).address).toBe(g);
    expect(() => ep.leaveMulticast('239.9.9.9')).toThrow(
      expect.objectContaining({ code: 'ERR_CM_NOT_JOINED' }),
    );
    // An address handle from a completion needs the completion's GRH, and all 40 bytes of it.
    const wc = {
      wrId: 0n,
      status: 'SUCCESS',
      statusCode: 0,
      opcode: 'RECV',
      byteLen: 48,
      srcQp: 5,
      qpNum: 6,
      vendorErr: 0,
    } as WorkCompletion;
    expect(() => pb.createAhFromWc(wc, Buffer.alloc(GRH))).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => pb.createAhFromWc({ ...wc, grh: true, wcFlags: 1 }, Buffer.alloc(20))).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    ep.close();
    ep.close();
    expect(ep.closed).toBe(true);
    await expect(ep.joinMulticast(g)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(() => ep.leaveMulticast(g)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });
});

describe('UD and multicast interop with rdma-core tools on rxe', () => {
  it("our UD listener serves udaddy's client: its datagrams arrive and our answers complete its run", async () => {
    const pa = await pdFor(addrA);
    const mrA = memory(pa);
    const listener = track(await listenDatagram({ address: addrA, port: UDADDY_PORT }));
    let recvs: Promise<WorkCompletion>[] = [];
    const served = (async () => {
      for await (const req of listener)
        return req.accept({ pd: pa, prepare: (qp) => (recvs = receives({ qp }, mrA, 5, 64)) });
      throw new Error('listener ended');
    })();
    const udaddy = tool(['udaddy', '-s', addrA, '-b', addrB, '-C', '5', '-S', '64']);
    const srv = track(await served);
    const got = await Promise.all(recvs);
    for (const wc of got)
      expect(wc).toMatchObject({ status: 'SUCCESS', byteLen: GRH + 64, immData: wc.srcQp });
    // udaddy names its QP in the immediate data and waits for as many answers.
    const back = pa.createAhFromWc(got[0], mrA.buffer.subarray(0, GRH), srv.portNum);
    cleanup.push(() => back.close());
    for (let i = 0; i < 5; i++)
      await srv.sendTo(
        { ah: back, qpn: got[0].immData!, qkey: UDP_QKEY },
        { mr: mrA, offset: 40 * 1024, length: 64 },
        srv.qp.qpNum,
      );
    expect(await udaddy.exit, udaddy.output()).toBe(0);
    expect(udaddy.output()).toContain('data transfers complete');
  });

  it("our UD client drives udaddy's server: our datagrams arrive and its answers come back", async () => {
    const pb = await pdFor(addrB);
    const mrB = memory(pb);
    const udaddy = tool(['udaddy', '-b', addrA, '-C', '5', '-S', '64']);
    await udaddy.waitFor('starting server');
    let recvs: Promise<WorkCompletion>[] = [];
    const client = track(
      await connectWhenListening({
        address: addrA,
        port: UDADDY_PORT,
        sourceAddress: addrB,
        pd: pb,
        prepare: (qp) => (recvs = receives({ qp }, mrB, 5, 64)),
      }),
    );
    expect(client.remote!.qkey).toBe(UDP_QKEY);
    for (let i = 0; i < 5; i++)
      await client.sendTo(client.remote!, { mr: mrB, offset: 40 * 1024, length: 64 }, client.qp.qpNum);
    for (const wc of await Promise.all(recvs))
      expect(wc).toMatchObject({
        status: 'SUCCESS',
        byteLen: GRH + 64,
        srcQp: client.remote!.qpn,
        immData: client.remote!.qpn,
      });
    expect(await udaddy.exit, udaddy.output()).toBe(0);
    expect(udaddy.output()).toContain('data transfers complete');
  });

  it("mckey's receiver gets our multicast sends", async () => {
    const pa = await pdFor(addrA);
    const mrA = memory(pa);
    const g = group();
    const mckey = tool(['mckey', '-m', g, '-b', addrB, '-C', '5', '-S', '64']);
    await mckey.waitFor('mckey: joined dgid');
    const sender = track(await openDatagram({ address: addrA, pd: pa }));
    const to = await sender.joinMulticast(g);
    for (let i = 0; i < 5; i++) await sender.sendTo(to, { mr: mrA, offset: 0, length: 64 }, sender.qp.qpNum);
    expect(await mckey.exit, mckey.output()).toBe(0);
    expect(mckey.output()).toContain('data transfers complete');
  });

  it("we receive mckey's multicast sends", async () => {
    const pb = await pdFor(addrB);
    const mrB = memory(pb);
    const g = group();
    const member = track(await openDatagram({ address: addrB, pd: pb }));
    const recvs = receives(member, mrB, 20, 64);
    const arrived: WorkCompletion[] = [];
    for (const r of recvs)
      void r.then(
        (wc) => arrived.push(wc),
        () => {},
      );
    await member.joinMulticast(g);
    // mckey posts its sends unsignaled and destroys its QP at once: rxe drops what is not on the wire
    // yet, and with a few sends often all of them. A thousand keep its device busy long enough for some
    // to leave; a run that still delivered nothing is run again, up to three times.
    for (let run = 1; arrived.length === 0; run++) {
      const mckey = tool(['mckey', '-m', g, '-b', addrA, '-s', '-C', '1000', '-S', '64']);
      expect(await mckey.exit, mckey.output()).toBe(0);
      await until(() => arrived.length > 0, 'a datagram from mckey', 2000).catch((e: Error) => {
        if (run === 3) throw e;
      });
    }
    await new Promise((r) => setTimeout(r, 500));
    // What arrives is whole and names mckey's QP in the immediate data.
    expect(arrived.length).toBeGreaterThan(0);
    for (const wc of arrived)
      expect(wc).toMatchObject({ status: 'SUCCESS', byteLen: GRH + 64, immData: wc.srcQp });
  });
});
