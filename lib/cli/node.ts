// `rdma-ccm node`: runs one node's cluster connection manager from flags or a JSON config and prints
// its events, one JSON line each (--json) or a readable log. Bad configuration exits 2 with one line.
import { spawn } from 'node:child_process';
import type { ClusterNode, CcmOptions } from '../ccm';
import { ConfigError } from '../ccm/config';
import { eventJson, formatEvent } from '../ccm/format';
import { defaultControlPath, serveControl } from './control';
import { serveMetrics } from './metrics-server';
import type { Server } from 'node:net';
import { codeError } from '../errors';
import { runCommand, type CommandLine } from './command-line';
import { NODE_COMMAND, nodeArgs, type NodeArgs } from './node-options';
import { packageVersion } from './version';

/** `--dump-log PARTNER`: the partner's log as this node's NVRAM region holds it, one JSON line per record. */
async function dumpLog(options: CcmOptions, partner: number): Promise<number> {
  let log;
  try {
    log = (await import('../ccm')).readNvramLog(options, partner);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    // A region refused by its header, or one that cannot be mapped: said, not a crash.
    process.stderr.write(`rdma-ccm node: --dump-log ${partner}: ${(e as Error).message}\n`);
    return 1;
  }
  let acknowledged = 0;
  for (const r of log.records) {
    if (r.acknowledged) acknowledged++;
    process.stdout.write(
      `${JSON.stringify({ type: 'log-record', partner, sequence: String(r.sequence), durability: r.durability, acknowledged: r.acknowledged, bytes: r.payload.byteLength, payload: r.payload.toString('base64') })}\n`,
    );
  }
  const error = log.error
    ? { code: log.error.code, sequence: String(log.error.sequence), message: log.error.message }
    : null;
  process.stdout.write(
    `${JSON.stringify({ type: 'log-end', partner, stream: log.stream, released: String(log.released), records: log.records.length, acknowledged, error })}\n`,
  );
  return error ? 1 : 0;
}

export function nodeCommand(args: string[]): Promise<number> {
  return runCommand(NODE_COMMAND, args, runNode);
}

async function runNode(line: CommandLine<(typeof NODE_COMMAND)['flags']>): Promise<number> {
  let node: ClusterNode;
  let parsed: NodeArgs | undefined;
  try {
    parsed = nodeArgs(line);
    const { fenceCmd } = parsed;
    if (fenceCmd !== undefined) parsed.options.fence = (partner: number) => runFence(fenceCmd, partner);
    if (parsed.dumpLog !== undefined) return await dumpLog(parsed.options, parsed.dumpLog);
    // The CCM (and with it the addon) loads once the arguments are known good: --help needs neither.
    node = new (await import('../ccm')).ClusterNode(parsed.options);
  } catch (e) {
    // A value the node refuses: one line (a command line it cannot read has the usage too, from runCommand).
    if (e instanceof ConfigError) {
      const message = parsed ? parsed.explain(e) : e.message;
      process.stderr.write(`rdma-ccm node: ${message} (${e.code}); see rdma-ccm node --help\n`);
      return 2;
    }
    throw e;
  }
  const missing = (await import('./no-rdma')).missingRdma();
  if (missing) {
    process.stderr.write(`rdma-ccm node: ${missing}\n`);
    return 1;
  }
  // Under systemd (Type=notify): ready once listening, a status line per session change, a watchdog.
  const systemd = new (await import('./systemd')).SystemdNotifier();
  const partners = parsed.options.partners.length;
  const sessionStatus = () => {
    const up = node.sessions.map((s) => s.partner).sort((x, y) => x - y);
    return `node ${node.nodeId} ${node.state}: ${up.length} of ${partners} partners in session${up.length ? ` (${up.join(', ')})` : ''}`;
  };
  node.on('event', (e) => {
    process.stdout.write(`${parsed.json ? eventJson(e) : formatEvent(e)}\n`);
    if (e.type === 'listening') systemd.ready(`listening on ${e.address}:${e.port}; ${sessionStatus()}`);
    else if (e.type === 'established' || e.type === 'session-closed' || e.type === 'state')
      systemd.status(sessionStatus());
    if (parsed.records && e.type === 'established')
      node
        .session(e.partner)
        ?.mirror.on('record', (seq: bigint, payload: Buffer) =>
          process.stdout.write(
            `${JSON.stringify({ type: 'record', partner: e.partner, seq: String(seq), payload: payload.toString('utf8') })}\n`,
          ),
        );
  });
  // Metrics are wired before start, so the first handshake is measured too.
  const registry = parsed.metrics ? node.metrics : null;
  await node.start();
  let metricsServer: Server | null = null;
  if (parsed.metrics && registry) {
    try {
      metricsServer = await serveMetrics(registry, parsed.metrics.host, parsed.metrics.port);
    } catch (e) {
      process.stderr.write(
        `rdma-ccm node: no metrics at ${parsed.metrics.host}:${parsed.metrics.port}: ${(e as Error).message}\n`,
      );
    }
  }
  // The control socket comes after start: a status answer always describes a listening node. A node
  // that cannot serve one still runs (its events say everything), with one warning.
  let control: Server | null = null;
  const controlPath = parsed.control === undefined ? defaultControlPath() : parsed.control;
  if (controlPath) {
    try {
      control = await serveControl(controlPath, async (cmd) => {
        // The version first: a script reading the JSON knows which node answered.
        if (cmd === 'status') return { version: packageVersion(), ...node.status() };
        // An operator's takeover or giveback (rdma-ccm takeover|giveback): the node's own checks decide.
        const handover = /^(takeover|giveback) ([0-9]{1,10})$/.exec(cmd);
        if (handover) {
          const partner = Number(handover[2]);
          await (handover[1] === 'takeover' ? node.takeover(partner) : node.giveback(partner));
          return {
            version: packageVersion(),
            ok: true,
            action: handover[1],
            partner,
            takeover: node.status().takeover,
          };
        }
        throw codeError('ERR_CCM_CONTROL', `unknown command ${cmd}`);
      });
    } catch (e) {
      process.stderr.write(`rdma-ccm node: no control socket at ${controlPath}: ${(e as Error).message}\n`);
    }
  }
  return new Promise<number>((resolve) => {
    const stop = () => {
      systemd.stopping(`node ${node.nodeId} stopping`);
      control?.close();
      metricsServer?.close();
      void node.stop().then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (parsed.activeAfter !== undefined) {
      // A partner that holds this node's resources must give them back first: ACTIVE follows its giveback.
      // After a stall of this node's, ACTIVE waits until each partner is heard again.
      const activate = () => {
        if (node.waitingForGiveback.length === 0 && node.unheardSinceStall.length === 0)
          node.setState('ACTIVE');
      };
      setTimeout(() => {
        activate();
        node.on('giveback', activate);
        node.on('heard-since-stall', activate);
      }, parsed.activeAfter);
    }
    if (parsed.exitAfter !== undefined) setTimeout(stop, parsed.exitAfter);
  });
}

/** Runs the fencing command for `partner`; resolves when it exits 0, rejects with its exit and last line of output otherwise. */
function runFence(cmd: string, partner: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('sh', ['-c', cmd], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RDMA_CCM_PARTNER: String(partner) },
    });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${cmd}: ${signal ? `killed by ${signal}` : `exit ${code}`}${out.trim() ? `: ${out.trim().split('\n').pop()}` : ''}`,
          ),
        );
    });
  });
}
