// systemd integration of `rdma-ccm node` (Type=notify, WatchdogSec=): READY=1 once the node listens,
// STATUS= lines as sessions change, STOPPING=1 on the way out, and WATCHDOG=1 at half of WATCHDOG_USEC
// for as long as the event loop turns (a blocked loop sends nothing, and systemd restarts the unit).
// Without $NOTIFY_SOCKET every call does nothing.
import { native } from '../native';

export class SystemdNotifier {
  private readonly socket: string | undefined;
  /** Half the watchdog period systemd asked for (ms), or undefined without a watchdog. */
  readonly watchdogMs: number | undefined;
  private watchdog: NodeJS.Timeout | null = null;
  /** The last failure to notify (a socket gone): reported once, never thrown at the node. */
  lastError: (Error & { code?: string }) | null = null;

  constructor(env: NodeJS.ProcessEnv = process.env, pid = process.pid) {
    this.socket = env.NOTIFY_SOCKET || undefined;
    const usec = Number(env.WATCHDOG_USEC);
    // WATCHDOG_PID, when set, names the process the watchdog is for (a wrapper may have started us).
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
    this.watchdogMs =
      this.socket && forUs && Number.isFinite(usec) && usec > 0 ? Math.max(1, usec / 2000) : undefined;
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /** Sends `fields` (KEY=value lines) as one notification. */
  notify(fields: Record<string, string | number>): void {
    if (!this.socket) return;
    const text = Object.entries(fields)
      .map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`)
      .join('\n');
    try {
      native.sdNotify(this.socket, text);
    } catch (e) {
      this.lastError = e as Error & { code?: string };
    }
  }

  ready(status: string): void {
    this.notify({ READY: 1, STATUS: status, MAINPID: process.pid });
    this.startWatchdog();
  }

  status(status: string): void {
    this.notify({ STATUS: status });
  }

  stopping(status: string): void {
    this.stopWatchdog();
    this.notify({ STOPPING: 1, STATUS: status });
  }

  private startWatchdog(): void {
    if (this.watchdogMs === undefined || this.watchdog) return;
    this.notify({ WATCHDOG: 1 });
    this.watchdog = setInterval(() => this.notify({ WATCHDOG: 1 }), this.watchdogMs);
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }
}
