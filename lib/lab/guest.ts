// One qemu guest (TCG) running Debian's kernel with the host's root (or a stack's) shared read-only over
// virtio-9p.
import { StringDecoder } from 'node:string_decoder';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError } from './exec';
import { LabKernel } from './kernel';

/** Options of a {@link Guest}. */
export interface GuestOptions {
  /** Guest name, used in its temporary folder and passed on its kernel command line (lab.node). */
  name: string;
  /** Kernel and initramfs to boot, from ensureKernel(). */
  kernel: LabKernel;
  /** Contents of run.sh, executed in the guest's chroot. */
  script: string;
  /** Host folder shared writable at the same path (the project). */
  workdir: string;
  /**
   * Host folder the guest mounts read-only as its root (default '/', the host's own): a stack's root
   * (stack.ts). The work folder's path is made in it, as the guest mounts the work folder there.
   */
  root?: string;
  /** Guest memory in MiB (default 2048). */
  memoryMiB?: number;
  /** Number of vCPUs (default 2). */
  cpus?: number;
  /** UDP links to the partner guest (both ends on 127.0.0.1), one NIC each: `nic0`, `nic1`, … in QMP. */
  links?: GuestLink[];
  /** One UDP link to the partner guest (the same as `links` with one entry). */
  link?: GuestLink;
  /**
   * A raw disk image on the host that every guest of the lab gets as its first virtio disk (/dev/vda):
   * shared read-write, no host cache, no image locking, as a shared SAN LUN would be (the witness).
   */
  disk?: string;
  /**
   * An emulated NVDIMM backed by this host file (made, or grown, to `sizeMiB`; shared, so that the bytes
   * the guest stores are in the file the moment it stores them, and a guest killed hard and booted again
   * with the same file finds them). The guest sees it as ACPI NFIT persistent memory: /dev/pmem0 until a
   * namespace is made device DAX (/dev/dax0.0), which it stays across boots.
   */
  nvdimm?: GuestNvdimm;
  /**
   * A TCG plugin for qemu's -plugin (`path.so,arg=value,...`): the guest then runs on one vCPU with
   * single-threaded TCG, so that a plugin that counts sees every instruction in order, and its clock
   * follows the instructions it executes (-icount shift=0: 1 ns each), so that a loop bounded by the
   * clock runs the same instructions in every run.
   */
  tcgPlugin?: string;
  /** Seconds until the guest is killed; the result then has timedOut set. */
  timeoutSec?: number;
  /** Seconds the guest may take to reach its command (default 180). */
  bootTimeoutSec?: number;
  /** Receives each line the guest prints. */
  onLine?: (line: string) => void;
}

/** A guest's emulated NVDIMM: the host file that backs it. */
export interface GuestNvdimm {
  /** Host path of the backing file (made, or grown, to `sizeMiB` by qemu). */
  path: string;
  /** Size of the NVDIMM in MiB. */
  sizeMiB: number;
}

/** One point-to-point UDP link of a guest to its partner guest, on 127.0.0.1. */
export interface GuestLink {
  /** UDP port this guest's end listens on. */
  localPort: number;
  /** UDP port of the partner's end. */
  remotePort: number;
  /** MAC address of this guest's virtio-net device on the link. */
  mac: string;
}

/** How a guest ended. */
export interface GuestResult {
  /** The command's exit status; 125 when the guest did not report one. */
  code: number;
  /** True when `timeoutSec` ran out and the guest was killed. */
  timedOut: boolean;
  /** True when kill() ended the guest. */
  killed: boolean;
  /** Set when the guest never reached the command. */
  bootFailure?: string;
}

const EXIT_MARK = /RDMA_CCM_LAB_EXIT=(\d+)/;

/**
 * One qemu guest (TCG, x86_64) that boots the lab kernel, shares the host's root read-only and runs
 * `script` in it; it starts at construction. Needs qemu-system-x86_64.
 */
export class Guest {
  /** The guest's name, from its options. */
  readonly name: string;
  /** Temporary host folder holding run.sh, the QMP socket and the exit file; removed when the guest ends. */
  readonly runDir: string;
  /** Resolves (never rejects) when qemu exits. */
  readonly done: Promise<GuestResult>;
  private proc: ChildProcess;
  private killedByUs = false;
  private timedOut = false;
  private ready = false;
  private tail: string[] = [];

  /** Writes run.sh and starts qemu. */
  constructor(private readonly opts: GuestOptions) {
    this.name = opts.name;
    this.runDir = mkdtempSync(join(tmpdir(), `rdma-ccm-lab-${opts.name}-`));
    writeFileSync(join(this.runDir, 'run.sh'), opts.script, { mode: 0o755 });
    const root = opts.root ?? '/';
    const memoryMiB = opts.memoryMiB ?? 2048;
    if (root !== '/') mkdirSync(join(root, opts.workdir), { recursive: true });
    const args = [
      '-accel',
      opts.tcgPlugin ? 'tcg,thread=single' : 'tcg,thread=multi',
      '-machine',
      opts.nvdimm ? 'q35,nvdimm=on' : 'q35',
      '-cpu',
      'max',
      // An NVDIMM is a memory device: it needs a hotplug slot and room above the RAM.
      '-m',
      opts.nvdimm ? `${memoryMiB},slots=1,maxmem=${memoryMiB + opts.nvdimm.sizeMiB}M` : String(memoryMiB),
      '-smp',
      String(opts.tcgPlugin ? 1 : (opts.cpus ?? 2)),
      ...(opts.tcgPlugin ? ['-plugin', opts.tcgPlugin, '-icount', 'shift=0,sleep=on'] : []),
      '-nodefaults',
      '-no-user-config',
      '-no-reboot',
      '-display',
      'none',
      '-chardev',
      'stdio,id=con,signal=off',
      '-serial',
      'chardev:con',
      '-qmp',
      `unix:${join(this.runDir, 'qmp.sock')},server=on,wait=off`,
      '-kernel',
      opts.kernel.vmlinuz,
      '-initrd',
      opts.kernel.initrd,
      // tsc=reliable: under TCG the kernel finds the vCPUs' TSCs unsynchronized and falls back to the HPET,
      // which makes every clock read (libuv's loop, timers, a benchmark's clock) an emulated device access
      // (1.8 µs instead of 0.14 µs); real hosts read the TSC.
      '-append',
      `console=ttyS0 quiet loglevel=1 panic=-1 tsc=reliable lab.node=${opts.name} lab.workdir=${opts.workdir}`,
      '-virtfs',
      `local,path=${root},mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap`,
      '-virtfs',
      `local,path=${opts.workdir},mount_tag=work,security_model=none,multidevs=remap`,
      '-virtfs',
      `local,path=${this.runDir},mount_tag=labrun,security_model=none`,
    ];
    // The only network devices: point-to-point UDP links on loopback to the partner guest.
    const links = opts.links ?? (opts.link ? [opts.link] : []);
    links.forEach((l, k) =>
      args.push(
        '-netdev',
        `dgram,id=lab${k},local.type=inet,local.host=127.0.0.1,local.port=${l.localPort},remote.type=inet,remote.host=127.0.0.1,remote.port=${l.remotePort}`,
        '-device',
        `virtio-net-pci,netdev=lab${k},mac=${l.mac},id=nic${k}`,
      ),
    );
    if (links.length === 0) args.push('-nic', 'none');
    if (opts.nvdimm) {
      const { path, sizeMiB } = opts.nvdimm;
      args.push(
        '-object',
        `memory-backend-file,id=nvmem0,share=on,mem-path=${path},size=${sizeMiB}M`,
        '-device',
        'nvdimm,id=nvdimm0,memdev=nvmem0',
      );
    }
    if (opts.disk)
      args.push(
        '-drive',
        `file=${opts.disk},if=none,id=shared,format=raw,cache=none,file.locking=off`,
        '-device',
        'virtio-blk-pci,drive=shared,share-rw=on,serial=rdma-ccm-shared',
      );
    this.proc = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.done = this.watch();
  }

  private watch(): Promise<GuestResult> {
    const { opts } = this;
    return new Promise((resolve) => {
      let marked: number | undefined;
      let spawnError: string | undefined;
      let buf = '';
      // A multi-byte character may straddle two chunks: decode the stream, not each chunk.
      const decoder = new StringDecoder('utf8');
      const onData = (chunk: Buffer) => {
        buf += decoder.write(chunk);
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).replace(/\r/g, '');
          buf = buf.slice(i + 1);
          const m = EXIT_MARK.exec(line);
          if (m) {
            marked = Number(m[1]);
            continue;
          }
          if (line.startsWith('lab: ready:')) this.ready = true;
          if (/^\[\s*\d+\.\d+\] reboot: Power down/.test(line)) continue;
          this.tail.push(line);
          if (this.tail.length > 20) this.tail.shift();
          opts.onLine?.(line);
        }
      };
      this.proc.stdout!.on('data', onData);
      this.proc.stderr!.on('data', onData);
      this.proc.on('error', (e: NodeJS.ErrnoException) => {
        spawnError = e.code === 'ENOENT' ? 'qemu-system-x86_64 is not installed' : e.message;
      });
      const timers: NodeJS.Timeout[] = [];
      if (opts.timeoutSec) {
        timers.push(
          setTimeout(() => {
            this.timedOut = true;
            this.proc.kill('SIGKILL');
          }, opts.timeoutSec * 1000),
        );
      }
      timers.push(
        setTimeout(
          () => {
            if (!this.ready) {
              this.tail.push(`lab: guest ${this.name} did not boot within ${opts.bootTimeoutSec ?? 180} s`);
              this.proc.kill('SIGKILL');
            }
          },
          (opts.bootTimeoutSec ?? 180) * 1000,
        ),
      );
      this.proc.on('close', () => {
        for (const t of timers) clearTimeout(t);
        if (buf) onData(Buffer.from('\n'));
        let code = marked;
        try {
          code = Number(readFileSync(join(this.runDir, 'exit'), 'utf8').trim());
        } catch {
          /* no exit file: the guest did not finish its command */
        }
        rmSync(this.runDir, { recursive: true, force: true });
        const result: GuestResult = { code: code ?? 125, timedOut: this.timedOut, killed: this.killedByUs };
        if (!this.ready && !this.killedByUs && !this.timedOut)
          result.bootFailure =
            spawnError ?? this.tail.filter((l) => l.trim()).slice(-1)[0] ?? 'qemu exited with no output';
        resolve(result);
      });
    });
  }

  /** Kills the guest at once, as a power cut would. */
  kill(): void {
    this.killedByUs = true;
    this.proc.kill('SIGKILL');
  }

  /**
   * Pulls link `k`'s cable (the guest's NIC loses carrier, as on a direct cable pulled out) or plugs it
   * back in (QMP set_link).
   */
  setLink(k: number, up: boolean): Promise<unknown> {
    return this.qmp('set_link', { name: `nic${k}`, up });
  }

  /** Sends one QMP command (e.g. 'stop', 'cont', or 'set_link' with its arguments) to the running guest. */
  async qmp(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const sock = connect(join(this.runDir, 'qmp.sock'));
    return new Promise((resolve, reject) => {
      let buf = '';
      let step = 0;
      sock.on('data', (d) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buf.slice(0, i));
          buf = buf.slice(i + 1);
          if (step === 0 && msg.QMP) {
            step = 1;
            sock.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
          } else if (step === 1 && 'return' in msg) {
            step = 2;
            sock.write(
              JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n',
            );
          } else if (step === 2 && ('return' in msg || 'error' in msg)) {
            sock.end();
            if (msg.error) reject(new LabError('ERR_LAB_QMP', `lab: qmp ${command}: ${msg.error.desc}`));
            else resolve(msg.return);
          }
        }
      });
      sock.on('error', (e) => reject(new LabError('ERR_LAB_QMP', `lab: qmp ${command}: ${e.message}`)));
    });
  }

  /** Freezes the guest (QMP 'stop'): its vCPUs stay stopped until resume(). */
  pause(): Promise<unknown> {
    return this.qmp('stop');
  }

  /** Lets a paused guest run again (QMP 'cont'). */
  resume(): Promise<unknown> {
    return this.qmp('cont');
  }
}
