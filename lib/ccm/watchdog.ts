// A kernel watchdog (/dev/watchdog: a hardware one, or softdog), as SBD uses it: opening it arms it, and
// unless it is written to within its timeout the kernel resets the host. The node writes to it only from
// its witness round, after its sector reached the disk, so a node whose event loop stalls (a paused VM,
// SIGSTOP, a hung disk) is reset instead of coming back to act, and a partner that saw its last
// heartbeat knows by when. A clean stop disarms it (the magic close, 'V'); a process that dies does not.
import { basename } from 'node:path';
import { closeSync, constants, fstatSync, openSync, readFileSync, realpathSync, writeSync } from 'node:fs';
import { codeError } from '../errors';

/** An armed kernel watchdog. */
export class Watchdog {
  private fd: number | null;

  /**
   * Arms the watchdog at `path`, whose timeout must be `timeoutMs` (read from sysfs where the kernel
   * shows it). Throws ERR_CCM_WATCHDOG: not a character device, cannot be opened (missing, busy:
   * another process holds it, no permission), or a timeout other than the one configured.
   */
  constructor(
    readonly path: string,
    readonly timeoutMs: number,
  ) {
    const fail = (why: string) => codeError('ERR_CCM_WATCHDOG', `watchdog ${path}: ${why}`);
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY);
    } catch (e) {
      throw fail((e as Error).message);
    }
    this.fd = fd;
    try {
      if (!fstatSync(fd).isCharacterDevice()) throw fail('not a character device');
      const s = deviceTimeoutSeconds(path);
      if (s !== null && s * 1000 !== timeoutMs)
        throw fail(
          `its timeout is ${s} s, not the ${timeoutMs} ms configured (set it with wdctl -s, or softdog's soft_margin)`,
        );
      this.pet();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Restarts the watchdog's countdown. */
  pet(): void {
    if (this.fd !== null) writeSync(this.fd, '.');
  }

  /** Disarms it (the magic close) and lets it go. */
  close(): void {
    if (this.fd === null) return;
    try {
      writeSync(this.fd, 'V');
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

/** The timeout (s) the kernel shows for the watchdog at `path` (sysfs), or null where it shows none. */
function deviceTimeoutSeconds(path: string): number | null {
  try {
    const dev = basename(realpathSync(path));
    // /dev/watchdog is the first watchdog's legacy node.
    const name = dev === 'watchdog' ? 'watchdog0' : dev;
    const n = Number(readFileSync(`/sys/class/watchdog/${name}/timeout`, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}
