// `rdma-ccm rping` against rdma-core's own `rping`, both directions, with data validation: a peer no
// one here wrote proves the verbs and CM layers speak the wire correctly.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../lib/lab';
import { lab } from './lab';

const env = lab();
const [addrA, addrB] = env.addrs;
const cli = resolve(__dirname, '..', '..', 'dist', 'cli.js');

const pings = (out: string, prefix: string) => out.split('\n').filter((l) => l.startsWith(prefix));

describe('rping interop on rxe', () => {
  it('our server answers the real rping client, which validates the data', async () => {
    const server = runCommand(process.execPath, [
      cli,
      'rping',
      '-s',
      '-a',
      addrA,
      '-p',
      '7301',
      '-S',
      '100',
      '-v',
    ]);
    // Node starts slower than rping: until our server listens, the real client is refused and exits.
    let client: CommandResult = { status: null, stdout: '', stderr: '', output: '' };
    for (let attempt = 0; attempt < 20 && client.status !== 0; attempt++) {
      await new Promise((r) => setTimeout(r, 1000));
      client = await runCommand('rping', [
        '-c',
        '-a',
        addrA,
        '-I',
        addrB,
        '-p',
        '7301',
        '-C',
        '5',
        '-S',
        '100',
        '-v',
        '-V',
      ]);
      if (client.status !== 0 && !/REJECTED|UNREACHABLE|refused/i.test(client.output)) break;
    }
    const s = await server;
    expect(client.status, client.output + s.output).toBe(0);
    const lines = pings(client.output, 'ping data: ');
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatch(/^ping data: rdma-ping-4: [A-z[\\\]^_`]+$/);
    expect(s.status, s.output).toBe(0);
    expect(pings(s.output, 'server ping data: ')).toHaveLength(5);
  });

  it('our client drives the real rping server and validates the echoed data', async () => {
    const server = runCommand('rping', ['-s', '-a', addrA, '-p', '7302', '-S', '100', '-v']);
    await new Promise((r) => setTimeout(r, 2000));
    const client = await runCommand(process.execPath, [
      cli,
      'rping',
      '-c',
      '-a',
      addrA,
      '-I',
      addrB,
      '-p',
      '7302',
      '-C',
      '5',
      '-S',
      '100',
      '-v',
      '-V',
    ]);
    const s = await server;
    expect(client.output).not.toMatch(/mismatch/);
    expect(client.status, client.output + s.output).toBe(0);
    expect(pings(client.output, 'ping data: ')).toHaveLength(5);
    expect(pings(s.output, 'server ping data: rdma-ping-')).toHaveLength(5);
  });
});
