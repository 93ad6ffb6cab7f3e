// The quick start's examples, each run as its own process the way the README tells a newcomer to run it
// (`node examples/…` inside the lab), on the lab's two rxe devices. Each checks its own bytes and exits
// non-zero when they differ; this also checks what it printed.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lab } from './lab';

const env = lab();
const [devA, devB] = env.devices;
const [addrA, addrB] = env.addrs;

/** Runs examples/`file` with node; its exit status and output. */
function run(file: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [resolve(__dirname, '..', '..', 'examples', file)], {
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, ...extraEnv },
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

// The examples' verbs, CM and CCM calls are the other tests' own: the sanitizer run (RDMA_CCM_SANITIZED)
// leaves them out rather than repeat them in four more processes.
describe.skipIf(process.env.RDMA_CCM_SANITIZED === '1')('examples on rxe', () => {
  it('hello-verbs: a WRITE and a READ between two RC queue pairs, bytes as sent', () => {
    const r = run('hello-verbs.mjs');
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toBe(`write: ${devB} holds "hello from ${devA}"\nread: ${devA} got "hello from ${devB}"\n`);
  });

  it('hello-cm: listen, connect with private data, one SEND into a posted receive', () => {
    const r = run('hello-cm.mjs', { HELLO_PORT: '7460' });
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toBe(
      `connect: ${addrB} → ${addrA}:7460, private data "hello" / "welcome"\nsend/recv: ${addrA} received "hello over RDMA CM from ${addrB}"\n`,
    );
  });

  it('hello-ccm: two cluster nodes, one record mirrored and printed by the partner', () => {
    const r = run('hello-ccm.mjs', { HELLO_PORT: '7461' });
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^session: node 2 established with node 1 as (initiator|responder)\n/);
    expect(r.out).toContain('mirror: node 2 received record 1: "hello, partner: log record 1"\n');
  });

  it('flush: a WRITE made durable by a FLUSH where the stack has it, one clear line where not', () => {
    const r = run('flush.mjs');
    // Debian 13's stack places FLUSH; Debian 12's (kernel 6.1, rdma-core 44) refuses it up front.
    if (process.env.RDMA_CCM_LAB_STACK === 'trixie') expect(r.status).toBe(0);
    if (r.status === 0) expect(r.out).toBe('flush: 4096 bytes placed\n');
    else {
      expect(r.status).toBe(1);
      expect(r.err).toMatch(/^flush: not on this stack .*run it with rdma-ccm lab --stack trixie\n$/);
    }
  });
});
