// `rdma-ccm node`: runs one node's cluster connection manager from flags or a JSON config and prints
// its events, one JSON line each (--json) or a readable log. Bad configuration exits 2 with one line.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ClusterNode, ConfigError, readNvramLog, type CcmOptions } from '../ccm';
import { eventJson, formatEvent } from '../ccm/format';
import { missingRdma } from './no-rdma';
import { SystemdNotifier } from './systemd';
import { defaultControlPath, serveControl } from './control';
import { parseListen, serveMetrics } from './metrics-server';
import type { Server } from 'node:net';
import { codeError } from '../errors';
import { UsageError } from './usage-error';

export const NODE_USAGE = `usage: rdma-ccm node [--config FILE] [options]
  --cluster-id N          cluster id (shared by all partners)
  --node-id N             this node's id
  --address A             this node's address (IPv4, IPv6 or RoCE GID): selects the RDMA device;
                          repeat it for one address per link (link k runs from the k-th)
  --port P                this node's CM port
  --partner ID@ADDR[,ADDR…]:PORT  a partner, with its address of each link (repeat for several)
  --secret S | --secret-file F   shared cluster secret (hellos and echoes carry an HMAC)
  --heartbeat-ms N        heartbeat interval (default 100)
  --partner-down-ms N     partner-down threshold: every link silent (default 10 heartbeats)
  --link-down-ms N        one link's threshold (default: --partner-down-ms)
  --witness PATH          a disk (block device or file) every partner reaches: partner-down only once
                          the partner's heartbeat there stopped too, else interconnect-down
  --witness-interval-ms N / --witness-timeout-ms N   its timing (default 500; max(partner-down, 4 intervals))
  --fence-cmd CMD         fences a partner declared down (sh -c CMD, RDMA_CCM_PARTNER set; exit 0 when
                          it is off) before takeover-safe; the higher id waits --fence-delay-ms first
  --fence-delay-ms N      (default 5000)
  --mirror-hold-ms N      how long unacknowledged appends wait for the next session (default 30000)
  --nvram PATH            keep the partners' mirrored logs in this DAX device, DAX file or plain file
                          (plain files are not power-safe), so they outlive this node's crash or reboot
  --nvram-persistent      the --nvram memory survives power loss (default: only a /dev/dax device)
  --dump-log PARTNER      print the log of PARTNER found in the --nvram region (one JSON line per
                          record, then a summary) and exit, without starting the node
  --durability LEVEL      how far an append goes before it resolves: delivered (default: the partner's
                          application has it), placed (one-sided, in the partner's memory) or persisted
                          (in its persistent memory; a partner without it is refused at the handshake)
  --state S               initial state: booting (default), ready, active
  --active-after MS       publish ACTIVE this long after start (after the giveback, while a partner
                          holds this node's resources)
  --exit-after MS         stop after this long
  --metrics [ADDR:]PORT   serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR 127.0.0.1 unless given)
  --control PATH          the control socket \`rdma-ccm status\` asks (default: see status --help)
  --no-control            no control socket
  --json                  one JSON line per event
  --records               also print each mirrored record received (JSON: partner, seq, payload)
`;


function parse(args: string[]): { options: CcmOptions; json: boolean; records: boolean; activeAfter?: number; exitAfter?: number; control: string | null; metrics?: { host: string; port: number }; dumpLog?: number } {
  let options: Partial<CcmOptions> & { partners?: CcmOptions['partners'] } = {};
  const partners: CcmOptions['partners'] = [];
  let json = false;
  let records = false;
  let dumpLog: number | undefined;
  let activeAfter: number | undefined;
  let exitAfter: number | undefined;
  let control: string | null = defaultControlPath();
  let metrics: { host: string; port: number } | undefined;
  const num = (v: string | undefined, name: string) => {
    if (v === undefined || !/^\d+$/.test(v)) throw new UsageError(`${name} needs a non-negative integer, got ${v ?? 'nothing'}`);
    return Number(v);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = () => {
      const x = args[++i];
      if (x === undefined) throw new UsageError(`${a} needs a value`);
      return x;
    };
    switch (a) {
      case '--config': {
        const file = v();
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read config ${file}: ${(e as Error).message}`);
        }
        try {
          options = { ...options, ...JSON.parse(text) };
        } catch (e) {
          throw new UsageError(`config ${file} is not valid JSON: ${(e as Error).message}`);
        }
        break;
      }
      case '--cluster-id':
        options.clusterId = v();
        break;
      case '--node-id':
        options.nodeId = num(v(), a);
        break;
      case '--address': {
        const addr = v();
        options.address = options.address === undefined ? addr : [...[options.address].flat(), addr];
        break;
      }
      case '--port':
        options.port = num(v(), a);
        break;
      case '--partner': {
        const p = v();
        const m = /^(\d+)@(.+):(\d+)$/.exec(p);
        if (!m) throw new UsageError(`--partner wants ID@ADDRESS[,ADDRESS…]:PORT, got ${p}`);
        const addrs = m[2].split(',').map((x) => x.replace(/^\[(.*)\]$/, '$1'));
        partners.push({ nodeId: Number(m[1]), address: addrs.length === 1 ? addrs[0] : addrs, port: Number(m[3]) });
        break;
      }
      case '--secret':
        options.secret = v();
        break;
      case '--secret-file': {
        const file = v();
        try {
          options.secret = readFileSync(file, 'utf8').trim();
        } catch (e) {
          throw new UsageError(`cannot read secret file ${file}: ${(e as Error).message}`);
        }
        break;
      }
      case '--heartbeat-ms':
        options.heartbeatMs = num(v(), a);
        break;
      case '--partner-down-ms':
        options.partnerDownMs = num(v(), a);
        break;
      case '--fence-cmd': {
        const cmd = v();
        options.fence = (partner: number) => runFence(cmd, partner);
        break;
      }
      case '--fence-delay-ms':
        options.fenceDelayMs = num(v(), a);
        break;
      case '--witness':
        options.witness = { ...(options.witness as object), path: v() };
        break;
      case '--witness-interval-ms':
        options.witness = { ...(options.witness as { path: string }), intervalMs: num(v(), a) };
        break;
      case '--witness-timeout-ms':
        options.witness = { ...(options.witness as { path: string }), timeoutMs: num(v(), a) };
        break;
      case '--link-down-ms':
        options.linkDownMs = num(v(), a);
        break;
      case '--mirror-hold-ms':
        options.mirrorHoldMs = num(v(), a);
        break;
      case '--nvram':
        options.nvram = { ...options.nvram, path: v() };
        break;
      case '--nvram-persistent':
        options.nvram = { path: '', ...options.nvram, persistent: true };
        break;
      case '--dump-log':
        dumpLog = num(v(), a);
        break;
      case '--durability':
        options.durability = v() as CcmOptions['durability'];
        break;
      case '--state':
        options.initialState = v().toUpperCase() as CcmOptions['initialState'];
        break;
      case '--active-after':
        activeAfter = num(v(), a);
        break;
      case '--exit-after':
        exitAfter = num(v(), a);
        break;
      case '--json':
        json = true;
        break;
      case '--control':
        control = v();
        break;
      case '--no-control':
        control = null;
        break;
      case '--metrics': {
        const spec = v();
        const l = parseListen(spec);
        if (!l) throw new UsageError(`--metrics wants PORT or ADDR:PORT, got ${spec}`);
        metrics = l;
        break;
      }
      case '--records':
        records = true;
        break;
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  if (partners.length > 0) options.partners = [...(options.partners ?? []), ...partners];
  if (typeof options.clusterId === 'number' || typeof options.clusterId === 'string') options.clusterId = String(options.clusterId);
  return { options: options as CcmOptions, json, records, activeAfter, exitAfter, control, metrics, dumpLog };
}

/** `--dump-log PARTNER`: the partner's log as this node's NVRAM region holds it, one JSON line per record. */
function dumpLog(options: CcmOptions, partner: number): number {
  let log;
  try {
    log = readNvramLog(options, partner);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    // A region refused by its header, or one that cannot be mapped: said, not a crash.
    process.stderr.write(`rdma-ccm node: --dump-log ${partner}: ${(e as Error).message}\n`);
    return 1;
  }
  let acknowledged = 0;
  for (const r of log.records) {
    if (r.acknowledged) acknowledged++;
    process.stdout.write(`${JSON.stringify({ type: 'log-record', partner, sequence: String(r.sequence), durability: r.durability, acknowledged: r.acknowledged, bytes: r.payload.byteLength, payload: r.payload.toString('base64') })}\n`);
  }
  const error = log.error ? { code: log.error.code, sequence: String(log.error.sequence), message: log.error.message } : null;
  process.stdout.write(`${JSON.stringify({ type: 'log-end', partner, stream: log.stream, released: String(log.released), records: log.records.length, acknowledged, error })}\n`);
  return error ? 1 : 0;
}

export async function nodeCommand(args: string[]): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(NODE_USAGE);
    return 0;
  }
  let node: ClusterNode;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
    if (parsed.dumpLog !== undefined) return dumpLog(parsed.options, parsed.dumpLog);
    node = new ClusterNode(parsed.options);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) {
      process.stderr.write(`rdma-ccm node: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const missing = missingRdma();
  if (missing) {
    process.stderr.write(`rdma-ccm node: ${missing}\n`);
    return 1;
  }
  // Under systemd (Type=notify): ready once listening, a status line per session change, a watchdog.
  const systemd = new SystemdNotifier();
  const partners = parsed.options.partners.length;
  const sessionStatus = () => {
    const up = node.sessions.map((s) => s.partner).sort((x, y) => x - y);
    return `node ${node.nodeId} ${node.state}: ${up.length} of ${partners} partners in session${up.length ? ` (${up.join(', ')})` : ''}`;
  };
  node.on('event', (e) => {
    process.stdout.write(`${parsed.json ? eventJson(e) : formatEvent(e)}\n`);
    if (e.type === 'listening') systemd.ready(`listening on ${e.address}:${e.port}; ${sessionStatus()}`);
    else if (e.type === 'established' || e.type === 'session-closed' || e.type === 'state') systemd.status(sessionStatus());
    if (parsed.records && e.type === 'established')
      node.session(e.partner)?.mirror.on('record', (seq: bigint, payload: Buffer) =>
        process.stdout.write(`${JSON.stringify({ type: 'record', partner: e.partner, seq: String(seq), payload: payload.toString('utf8') })}\n`),
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
      process.stderr.write(`rdma-ccm node: no metrics at ${parsed.metrics.host}:${parsed.metrics.port}: ${(e as Error).message}\n`);
    }
  }
  // The control socket comes after start: a status answer always describes a listening node. A node
  // that cannot serve one still runs (its events say everything), with one warning.
  let control: Server | null = null;
  if (parsed.control) {
    try {
      control = await serveControl(parsed.control, async (cmd) => {
        if (cmd === 'status') return node.status();
        // An operator's takeover or giveback (rdma-ccm takeover|giveback): the node's own checks decide.
        const handover = /^(takeover|giveback) ([0-9]{1,10})$/.exec(cmd);
        if (handover) {
          const partner = Number(handover[2]);
          await (handover[1] === 'takeover' ? node.takeover(partner) : node.giveback(partner));
          return { ok: true, [handover[1]]: partner, takeover: node.status().takeover };
        }
        throw codeError('ERR_CCM_CONTROL', `unknown command ${cmd}`);
      });
    } catch (e) {
      process.stderr.write(`rdma-ccm node: no control socket at ${parsed.control}: ${(e as Error).message}\n`);
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
      // After a stall of this node's, ACTIVE waits for a new session with each partner.
      const activate = () => {
        if (node.waitingForGiveback.length === 0 && node.unheardSinceStall.length === 0) node.setState('ACTIVE');
      };
      setTimeout(() => {
        activate();
        node.on('giveback', activate);
        node.on('established', activate);
      }, parsed.activeAfter);
    }
    if (parsed.exitAfter !== undefined) setTimeout(stop, parsed.exitAfter);
  });
}

/** Runs the fencing command for `partner`; resolves when it exits 0, rejects with its exit and last line of output otherwise. */
function runFence(cmd: string, partner: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RDMA_CCM_PARTNER: String(partner) } });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd}: ${signal ? `killed by ${signal}` : `exit ${code}`}${out.trim() ? `: ${out.trim().split('\n').pop()}` : ''}`));
    });
  });
}
