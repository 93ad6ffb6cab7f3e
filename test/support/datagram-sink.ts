// A real AF_UNIX datagram socket for tests of systemd notifications (Node.js cannot bind one): Python's
// socket module receives, and each datagram comes back as one JSON line.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const RECEIVER = `
import json, socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps('bound'), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

export interface DatagramSink {
  /** Every datagram received so far, in order. */
  readonly messages: string[];
  /** Resolves with the first datagram received (from `from` on) that `pred` accepts. */
  next(pred: (m: string) => boolean, ms?: number, from?: number): Promise<string>;
  close(): void;
}

/** Binds `address` (a path, or @name in the abstract namespace) and collects what arrives there. */
export async function datagramSink(address: string): Promise<DatagramSink> {
  // Not under a sanitizer runtime preloaded for this process (the ASan run): Python is not ours to check.
  const { LD_PRELOAD: _preload, ...env } = process.env;
  const child: ChildProcess = spawn('/usr/bin/python3', ['-c', RECEIVER, address], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env,
  });
  const messages: string[] = [];
  let bound!: () => void;
  const ready = new Promise<void>((r) => (bound = r));
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const m = JSON.parse(l) as string;
    if (m === 'bound') bound();
    else messages.push(m);
  });
  await Promise.race([
    ready,
    new Promise((_, rej) =>
      setTimeout(() => rej(new Error(`no datagram socket bound at ${address}`)), 10_000),
    ),
  ]);
  return {
    messages,
    async next(pred, ms = 30_000, from = 0) {
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
        const m = messages.slice(from).find(pred);
        if (m !== undefined) return m;
      }
      throw new Error(`no matching datagram within ${ms} ms; got ${JSON.stringify(messages)}`);
    },
    close: () => void child.kill('SIGKILL'),
  };
}
