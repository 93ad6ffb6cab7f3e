import { describe, expect, it } from 'vitest';
import { Context, getDevices } from '../../lib';

// The addon loads and validates arguments on any Linux host, with or without RDMA devices.
describe('native addon on the host', () => {
  it('lists devices as an array (empty without RDMA support)', () => {
    const list = getDevices();
    expect(Array.isArray(list)).toBe(true);
    for (const d of list) expect(typeof d.name).toBe('string');
  });

  it('refuses a wrong argument type before touching the device list', () => {
    expect(() => new Context(5 as unknown as string)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  it('reports a missing device as a system error with code and errno', () => {
    let err: any;
    try {
      new Context('rdma-ccm-no-such-device');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(['ENODEV', 'ENOSYS']).toContain(err.code);
    expect(err.errno).toBe(err.code === 'ENODEV' ? 19 : 38);
  });
});
