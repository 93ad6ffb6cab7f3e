import { describe, expect, it } from 'vitest';
import { Context, getDevices, isRdmaError } from '../../lib';
import { ipv4Gid, lab } from './lab';

const { devices, netdevs, addrs } = lab();

describe('devices on rxe', () => {
  it('lists every lab device as an RDMA CA', () => {
    const list = getDevices();
    for (const name of devices) {
      const d = list.find((x) => x.name === name);
      expect(d, name).toBeDefined();
      expect(d!.nodeType).toBe('CA');
      expect(d!.guid).toMatch(/^[0-9a-f]{4}(:[0-9a-f]{4}){3}$/);
    }
  });

  it.each(devices.map((d, i) => [d, i] as const))(
    '%s: port 1 is ACTIVE Ethernet, GID matches the address',
    (name, i) => {
      const ctx = new Context(name);
      try {
        const attr = ctx.queryDevice();
        expect(attr.physPortCnt).toBe(1);
        expect(attr.maxQp).toBeGreaterThan(0);
        expect(attr.maxMrSize).toBeTypeOf('bigint');
        const port = ctx.queryPort(1);
        expect(port.state).toBe('ACTIVE');
        expect(port.linkLayer).toBe('Ethernet');
        expect(port.activeMtu).toBeGreaterThanOrEqual(256);
        const gids = ctx.queryGidTable();
        const v2 = gids.find((g) => g.gid === ipv4Gid(addrs[i]));
        expect(v2, `GID for ${addrs[i]}`).toMatchObject({ type: 'RoCEv2', netdev: netdevs[i], port: 1 });
        // findGid: the same entry by address, in any text form; another device's address is not here.
        expect(ctx.findGid(addrs[i])).toEqual(v2);
        expect(ctx.findGid(`::ffff:${addrs[i]}`, { port: 1 }).index).toBe(v2!.index);
        // The type is part of the match: this kernel's rxe lists the address as RoCE v2 only.
        const v1 = gids.find((g) => g.gid === v2!.gid && g.type === 'RoCEv1');
        if (v1) expect(ctx.findGid(addrs[i], { type: 'RoCEv1' })).toEqual(v1);
        else
          expect(() => ctx.findGid(addrs[i], { type: 'RoCEv1' })).toThrow(
            expect.objectContaining({
              code: 'ERR_NO_GID',
              message: `${name} has no RoCEv1 GID for ${addrs[i]}`,
            }),
          );
        expect(() => ctx.findGid(addrs[1 - i])).toThrow(
          expect.objectContaining({
            code: 'ERR_NO_GID',
            message: `${name} has no RoCEv2 GID for ${addrs[1 - i]}`,
          }),
        );
        expect(() => ctx.findGid(addrs[i], { port: 2 })).toThrow(
          expect.objectContaining({ code: 'ERR_NO_GID' }),
        );
        const guid = getDevices().find((d) => d.name === name)!.guid;
        expect(attr.nodeGuid).toBe(guid);
      } finally {
        ctx.close();
      }
    },
  );

  it('an unknown device is ENODEV, a bad port is a RangeError, a closed context is ERR_CLOSED', () => {
    let err: unknown;
    try {
      new Context('no-such-device');
    } catch (e) {
      err = e;
    }
    expect(isRdmaError(err, 'ENODEV')).toBe(true);
    expect((err as { errno: number }).errno).toBe(19);

    const ctx = new Context(devices[0]);
    expect(() => ctx.queryPort(0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => ctx.queryPort('1' as unknown as number)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => ctx.queryPort(9)).toThrow(expect.objectContaining({ code: 'EINVAL', errno: 22 }));
    ctx.close();
    ctx.close();
    expect(ctx.closed).toBe(true);
    expect(() => ctx.queryDevice()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });
});
