// GID text helpers: RoCE v2 GIDs of IPv4 addresses are IPv4-mapped IPv6 addresses.
import { isIPv4, isIPv6 } from 'node:net';
import { codeError } from '../errors';

/** Parses a GID or IP address into 16 bytes; IPv4 becomes its IPv4-mapped form (::ffff:a.b.c.d). */
export function gidBytes(text: string): Buffer {
  if (isIPv4(text))
    return Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...text.split('.').map(Number)]);
  if (!isIPv6(text)) throw codeError('ERR_INVALID_GID', `not a GID or IP address: ${JSON.stringify(text)}`);
  const [head, tail = ''] = text.includes('::') ? text.split('::') : [text, undefined as unknown as string];
  const parse = (s: string) => {
    const out: number[] = [];
    for (const part of s ? s.split(':') : []) {
      if (isIPv4(part)) {
        const b = part.split('.').map(Number);
        out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      } else out.push(parseInt(part, 16));
    }
    return out;
  };
  const h = parse(head);
  const t = text.includes('::') ? parse(tail) : [];
  const groups = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const buf = Buffer.alloc(16);
  groups.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}

/** The full eight-group text form used by queryGidTable(). */
export function gidString(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((bytes[i] << 8) | bytes[i + 1]).toString(16).padStart(4, '0'));
  return parts.join(':');
}

/** Normalises any GID/IP text to the eight-group form. */
export function normalizeGid(text: string): string {
  return gidString(gidBytes(text));
}
