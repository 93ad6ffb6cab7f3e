import { describe, expect, it } from 'vitest';
import { gidBytes, gidString, normalizeGid } from '../../lib/verbs/gid';

describe('GID text', () => {
  it('maps IPv4 to its RoCE v2 (IPv4-mapped) GID', () => {
    expect(normalizeGid('10.99.0.1')).toBe('0000:0000:0000:0000:0000:ffff:0a63:0001');
    expect(normalizeGid('::ffff:10.99.0.1')).toBe('0000:0000:0000:0000:0000:ffff:0a63:0001');
  });

  it('expands IPv6 forms and round-trips the eight-group form', () => {
    expect(normalizeGid('fe80::1')).toBe('fe80:0000:0000:0000:0000:0000:0000:0001');
    const full = 'fe80:0000:0000:0000:0c16:72ff:fe1d:c28a';
    expect(normalizeGid(full)).toBe(full);
    expect(gidString(gidBytes(full))).toBe(full);
    expect(gidBytes('::').equals(Buffer.alloc(16))).toBe(true);
  });

  it('rejects text that is no address with ERR_INVALID_GID', () => {
    for (const bad of ['', 'rxe0', '10.99.0', '1:2:3:4:5:6:7:8:9', 'fe80:::1'])
      expect(() => gidBytes(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_INVALID_GID' }));
  });
});
