// An addon as a newer system would have built it: one glibc symbol version it requires renamed to one
// no glibc has (same length, so the ELF stays whole), which makes dlopen fail for real with
// "version `GLIBC_9.99' not found".
export function requiringNewerGlibc(addon: Buffer): Buffer {
  const bytes = addon.toString('latin1');
  const needed = /GLIBC_2\.\d\d\0/.exec(bytes);
  if (!needed) throw new Error('the addon names no GLIBC_2.xx version');
  return Buffer.from(bytes.split(needed[0]).join('GLIBC_9.99\0'), 'latin1');
}
