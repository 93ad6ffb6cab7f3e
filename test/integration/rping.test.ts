// `rdma-ccm rping` against rdma-core's own `rping`, both directions, with data validation: a peer no
// one here wrote proves the verbs and CM layers speak the wire correctly.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lab } from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
const cli = resolve(__dirname, '..', '..', 'dist', 'cli.js');

function run(cmd: string, args: string[], timeoutMs = 90_000): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      done({ code, out });
    });
  });
}

const pings = (out: string, prefix: string) => out.split('\n').filter((l) => l.startsWith(prefix));

describe('rping interop on rxe', () => {
  it('our server answers the real rping client, which validates the data', async () => {
    const server = run(process.execPath, [cli, 'rping', '-s', '-a', addrA, '-p', '7301', '-S', '100', '-v']);
    // Node starts slower than rping: until our server listens, the real client is refused and exits.
    let client = { code: null as number | null, out: '' };
    for (let attempt = 0; attempt < 20 && client.code !== 0; attempt++) {
      await new Promise((r) => setTimeout(r, 1000));
      client = await run('rping', ['-c', '-a', addrA, '-I', addrB, '-p', '7301', '-C', '5', '-S', '100', '-v', '-V']);
      if (client.code !== 0 && !/REJECTED|UNREACHABLE|refused/i.test(client.out)) break;
    }
    const s = await server;
    expect(client.code, client.out + s.out).toBe(0);
    const lines = pings(client.out, 'ping data: ');
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatch(/^ping data: rdma-ping-4: [A-z[\\\]^_`]+$/);
    expect(s.code, s.out).toBe(0);
    expect(pings(s.out, 'server ping data: ')).toHaveLength(5);
  });

  it('our client drives the real rping server and validates the echoed data', async () => {
    const server = run('rping', ['-s', '-a', addrA, '-p', '7302', '-S', '100', '-v']);
    await new Promise((r) => setTimeout(r, 2000));
    const client = await run(process.execPath, [cli, 'rping', '-c', '-a', addrA, '-I', addrB, '-p', '7302', '-C', '5', '-S', '100', '-v', '-V']);
    const s = await server;
    expect(client.out).not.toMatch(/mismatch/);
    expect(client.code, client.out + s.out).toBe(0);
    expect(pings(client.out, 'ping data: ')).toHaveLength(5);
    expect(pings(s.out, 'server ping data: rdma-ping-')).toHaveLength(5);
  });
});
