// A running node's control socket: a unix stream socket in a directory only its owner can enter (0700;
// the socket itself 0600). A client writes one command line; the node answers one JSON line and closes.
// `rdma-ccm status`, `takeover` and `giveback` are its clients.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { codeError } from '../errors';

/** Where the node's control socket is unless --control says otherwise. */
export function defaultControlPath(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.getuid?.() ?? 0;
  const dir =
    env.RUNTIME_DIRECTORY ||
    (uid === 0 ? '/run/rdma-ccm' : join(env.XDG_RUNTIME_DIR || tmpdir(), `rdma-ccm-${uid}`));
  return join(dir, 'node.sock');
}

function controlError(message: string, code = 'ERR_CCM_CONTROL'): Error {
  return codeError(code, message);
}

/** Makes the socket's directory if needed and refuses one that others could enter or that is not ours. */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0)
    throw controlError(
      `control directory ${dir} must be a directory owned by uid ${uid} with mode 0700 (it is ${(st.mode & 0o777).toString(8)}, uid ${st.uid})`,
    );
}

/** Serves `answer(command)` (a value, or a promise of one) on `path`; a socket file left by a node that is gone is replaced. */
export async function serveControl(path: string, answer: (command: string) => unknown): Promise<Server> {
  privateDir(dirname(path));
  if (await alive(path)) throw controlError(`another node answers on ${path}`, 'EADDRINUSE');
  try {
    unlinkSync(path);
  } catch {
    // nothing left behind
  }
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    let line = '';
    sock.setEncoding('utf8');
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('data', (d: string) => {
      line += d;
      if (line.length > 4096) sock.destroy();
      const nl = line.indexOf('\n');
      if (nl < 0) return;
      sock.removeAllListeners('data');
      const failed = (e: unknown) => ({ error: (e as Error).message, code: (e as { code?: string }).code });
      new Promise((resolve) => resolve(answer(line.slice(0, nl).trim()))).then(
        (reply) => sock.end(`${JSON.stringify(reply)}\n`),
        (e) => sock.end(`${JSON.stringify(failed(e))}\n`),
      );
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  server.unref();
  return server;
}

function alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Sends `command` to the node at `path` and resolves with its answer. */
export function queryControl(path: string, command: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let data = '';
    const t = setTimeout(() => {
      c.destroy();
      reject(controlError(`no answer from the node at ${path} within ${timeoutMs} ms`, 'ERR_CCM_TIMEOUT'));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(`${command}\n`));
    c.on('data', (d: string) => (data += d));
    c.on('end', () => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(data));
      } catch {
        reject(controlError(`the node at ${path} answered something that is not JSON`));
      }
    });
    c.on('error', (e: Error & { code?: string }) => {
      clearTimeout(t);
      reject(codeError(e.code ?? 'ERR_CCM_CONTROL', `no node answers on ${path}: ${e.code ?? e.message}`));
    });
  });
}
