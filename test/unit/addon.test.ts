import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Context, getDevices } from '../../lib';
import { native } from '../../lib/native';
import { Access, Opcode, SendFlags } from '../../lib/verbs';
import { MAX_ACCEPT_PRIVATE_DATA, MAX_CONNECT_PRIVATE_DATA, MAX_REJECT_PRIVATE_DATA } from '../../lib/cm';

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
    let err: NodeJS.ErrnoException | undefined;
    try {
      new Context('rdma-ccm-no-such-device');
    } catch (e) {
      err = e as NodeJS.ErrnoException;
    }
    expect(err).toBeInstanceOf(Error);
    expect(['ENODEV', 'ENOSYS']).toContain(err?.code);
    expect(err?.errno).toBe(err?.code === 'ENODEV' ? 19 : 38);
  });

  it('checks private data against the transport limits in one place, before any device is involved', () => {
    const check = native.CmId.checkPrivateData;
    for (const [kind, max] of [
      ['connect', MAX_CONNECT_PRIVATE_DATA],
      ['accept', MAX_ACCEPT_PRIVATE_DATA],
      ['reject', MAX_REJECT_PRIVATE_DATA],
    ] as const) {
      expect(() => check(new Uint8Array(max), kind)).not.toThrow();
      expect(() => check(Buffer.alloc(max + 1), kind)).toThrow(
        expect.objectContaining({
          code: 'ERR_CM_PRIVATE_DATA_TOO_LONG',
          message: `${kind} private data of ${max + 1} bytes exceeds the ${max} the transport allows`,
        }),
      );
    }
    expect(() => check(undefined, 'connect')).not.toThrow();
    expect(() => check('text', 'connect')).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => check(new Uint16Array(2), 'connect')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => check(new Uint8Array(1), 'other' as 'connect')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
  });

  it('gives the verbs numbers the TypeScript layer uses, as rdma-core defines them (one source: the addon)', () => {
    const c = native.constants;
    expect(Access).toEqual({
      LOCAL_WRITE: 1,
      REMOTE_WRITE: 2,
      REMOTE_READ: 4,
      REMOTE_ATOMIC: 8,
      MW_BIND: 16,
      ZERO_BASED: 32,
      FLUSH_GLOBAL: 256,
      FLUSH_PERSISTENT: 512,
    });
    expect(Access).toEqual(c.access);
    expect(SendFlags).toEqual(c.sendFlags);
    expect(Opcode).toEqual(c.wrOpcode);
    expect(Opcode.SEND_WITH_INV).toBe(9);
    // The memory placement extensions have the kernel's numbers whether or not rdma-core's headers name them.
    expect([Opcode.FLUSH, Opcode.ATOMIC_WRITE, c.wcOpcode.FLUSH, c.wcOpcode.ATOMIC_WRITE]).toEqual([
      14, 15, 8, 9,
    ]);
    expect(Object.keys(c.sendOps).sort()).toEqual(Object.keys(Opcode).sort());
    expect([c.sendOps.RDMA_WRITE, c.sendOps.FLUSH, c.sendOps.ATOMIC_WRITE]).toEqual([1, 1 << 11, 1 << 12]);
    expect(c.wcStatus.WR_FLUSH_ERR).toBe(5);
    expect(c.qpState).toEqual({ RESET: 0, INIT: 1, RTR: 2, RTS: 3, SQD: 4, SQE: 5, ERR: 6 });
    expect([MAX_CONNECT_PRIVATE_DATA, MAX_ACCEPT_PRIVATE_DATA, MAX_REJECT_PRIVATE_DATA]).toEqual([
      56, 196, 148,
    ]);
    expect(Object.isFrozen(c.access)).toBe(true);
  });

  it('reads every integer argument by one rule: not a number is a TypeError, a fraction or a value out of range a RangeError', () => {
    const ctx = { name: 'x' };
    const thrown = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return [(e as Error).name, (e as { code?: string }).code];
      }
      return null;
    };
    // new ProtectionDomain(context) checks its argument's type before any device call.
    expect(thrown(() => new native.ProtectionDomain(ctx as never))).toEqual([
      'TypeError',
      'ERR_INVALID_ARG_TYPE',
    ]);
    expect(thrown(() => native.alignedBuffer('8' as never))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(thrown(() => native.alignedBuffer(1.5))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE']);
    expect(thrown(() => native.alignedBuffer(NaN))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE']);
    expect(thrown(() => native.alignedBuffer(0))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE']);
    expect(thrown(() => native.alignedBuffer(2 ** 31))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE']);
    expect(native.alignedBuffer(8n as never).length).toBe(8);
  });
});

describe("the build's optional verbs (install/features.js)", () => {
  const features = (verbsH: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'features-'));
    mkdirSync(join(dir, 'infiniband'));
    writeFileSync(join(dir, 'infiniband', 'verbs.h'), verbsH);
    const r = spawnSync(process.execPath, [join(__dirname, '..', '..', 'install', 'features.js')], {
      encoding: 'utf8',
      env: { ...process.env, RDMA_CCM_INCLUDE_DIR: dir },
    });
    rmSync(dir, { recursive: true, force: true });
    return r.stdout.trim();
  };

  it('defines RDMA_CCM_HAVE_WR_FLUSH only for headers that declare ibv_wr_flush (rdma-core 45 on)', () => {
    expect(features('static inline void ibv_wr_flush(struct ibv_qp_ex *qp, uint32_t rkey,')).toBe(
      'RDMA_CCM_HAVE_WR_FLUSH=1',
    );
    expect(features('static inline void ibv_wr_atomic_write(struct ibv_qp_ex *qp, uint32_t rkey,')).toBe('');
  });
});
