// `rdma-ccm node`'s command line and configuration file as CcmOptions. Strict: an unknown flag or key is
// refused with the nearest known one, since a typo would otherwise turn a setting (the witness) off in
// silence; and every error names what the operator wrote (`--cluster-id`, or the key in the file). A
// command line that cannot be read is a UsageError (printed with the usage); a file that cannot be read or
// a value the node refuses, a ConfigError (one line).
import { readFileSync } from 'node:fs';
import { checkOptionKeys, ConfigError, type CcmOptions } from '../ccm/config';
import { defineCommand, readCommandLine, type CommandLine, type FlagSpec } from './command-line';
import { parseListen } from './metrics-server';
import { UsageError } from './usage-error';

/** What the command line asks of `rdma-ccm node`, besides the node's options. */
export interface NodeArgs {
  options: CcmOptions;
  json: boolean;
  records: boolean;
  activeAfter?: number;
  exitAfter?: number;
  /** The control socket's path; null: none (--no-control); undefined: the default. */
  control?: string | null;
  metrics?: { host: string; port: number };
  dumpLog?: number;
  /** The fencing command (--fence-cmd), run for a partner declared down. */
  fenceCmd?: string;
  help: boolean;
  /** Names an error of {@link resolveConfig} the way the operator wrote the field: the flag, or the key in the file. */
  explain(e: ConfigError): string;
}

const FLAGS = {
  config: { type: 'string' },
  'cluster-id': { type: 'string' },
  'node-id': { type: 'integer' },
  address: { type: 'string' },
  port: { type: 'integer' },
  partner: { type: 'string' },
  secret: { type: 'string' },
  'secret-file': { type: 'string' },
  'heartbeat-ms': { type: 'integer' },
  'partner-down-ms': { type: 'integer' },
  'link-down-ms': { type: 'integer' },
  witness: { type: 'string' },
  'witness-interval-ms': { type: 'integer' },
  'witness-timeout-ms': { type: 'integer' },
  watchdog: { type: 'string' },
  'watchdog-timeout-ms': { type: 'integer' },
  'msgwait-ms': { type: 'integer' },
  'require-partner-watchdog': { type: 'boolean' },
  'fence-cmd': { type: 'string' },
  'fence-delay-ms': { type: 'integer' },
  'mirror-hold-ms': { type: 'integer' },
  nvram: { type: 'string' },
  'nvram-persistent': { type: 'boolean' },
  'dump-log': { type: 'integer', max: 0xffffffff },
  durability: { type: 'string' },
  state: { type: 'string' },
  'active-after': { type: 'integer' },
  'exit-after': { type: 'integer' },
  metrics: { type: 'string' },
  control: { type: 'string' },
  'no-control': { type: 'boolean' },
  json: { type: 'boolean' },
  records: { type: 'boolean' },
} as const satisfies Record<string, FlagSpec>;

type Flag = keyof typeof FLAGS;

const NODE_USAGE = `usage: rdma-ccm node [--config FILE] [options]
  --config FILE           a JSON object of the node's options (clusterId, nodeId, address, port,
                          partners, heartbeatMs, witness, …: the ClusterNode options); flags override
                          its keys; an unknown key is refused
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
  --watchdog PATH         arm this kernel watchdog (/dev/watchdog, softdog), written only after a witness
                          round: a stalled node is reset; partners wait --msgwait-ms after its last
                          witness heartbeat before a takeover by the witness alone is safe
  --watchdog-timeout-ms N / --msgwait-ms N   the device's timeout (default 5000) and msgwait (2 × that)
  --require-partner-watchdog   with no --fence-cmd, take over by the witness alone only a partner that
                          arms a watchdog (else takeover-unsafe: it could stall and come back acting)
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

/** `rdma-ccm node`'s command line. */
export const NODE_COMMAND = defineCommand({ name: 'rdma-ccm node', usage: NODE_USAGE, flags: FLAGS });

/** The flag that sets each option (a dotted path for nested ones), for errors about it. */
const FLAG_OF: Record<string, Flag> = {
  clusterId: 'cluster-id',
  nodeId: 'node-id',
  address: 'address',
  port: 'port',
  partners: 'partner',
  secret: 'secret',
  heartbeatMs: 'heartbeat-ms',
  partnerDownMs: 'partner-down-ms',
  linkDownMs: 'link-down-ms',
  'witness.path': 'witness',
  'witness.intervalMs': 'witness-interval-ms',
  'witness.timeoutMs': 'witness-timeout-ms',
  'witness.watchdog': 'watchdog',
  'witness.watchdogTimeoutMs': 'watchdog-timeout-ms',
  'witness.msgwaitMs': 'msgwait-ms',
  'witness.requirePartnerWatchdog': 'require-partner-watchdog',
  witness: 'witness',
  fence: 'fence-cmd',
  fenceDelayMs: 'fence-delay-ms',
  mirrorHoldMs: 'mirror-hold-ms',
  'nvram.path': 'nvram',
  'nvram.persistent': 'nvram-persistent',
  nvram: 'nvram',
  durability: 'durability',
  initialState: 'state',
};

/** The options a node cannot run without, each with the flag that gives it. */
const REQUIRED: [keyof CcmOptions, Flag][] = [
  ['clusterId', 'cluster-id'],
  ['nodeId', 'node-id'],
  ['address', 'address'],
  ['port', 'port'],
  ['partners', 'partner'],
];

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${file}: ${(e as Error).message}`);
  }
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new ConfigError(`config ${file} must hold one JSON object`);
  try {
    checkOptionKeys(o, { json: true });
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`config ${file}: ${e.message}`, e.key);
    throw e;
  }
  return o as Record<string, unknown>;
}

/** `ID@ADDR[,ADDR…]:PORT` (an IPv6 address in brackets) as a partner. */
function partnerSpec(spec: string): CcmOptions['partners'][number] {
  const m = /^(\d+)@(.+):(\d+)$/.exec(spec);
  if (!m) throw new UsageError(`--partner wants ID@ADDRESS[,ADDRESS…]:PORT, got ${spec}`);
  const nodeId = Number(m[1]);
  const port = Number(m[3]);
  if (nodeId < 1 || nodeId > 0xffffffff)
    throw new UsageError(`--partner ${spec}: the node id must be from 1 to 4294967295`);
  if (port < 1 || port > 65535) throw new UsageError(`--partner ${spec}: the port must be from 1 to 65535`);
  const addrs = m[2].split(',').map((x) => x.replace(/^\[(.*)\]$/, '$1'));
  return { nodeId, address: addrs.length === 1 ? addrs[0] : addrs, port };
}

/** The option each flag sets (a dotted path for nested ones): the inverse of {@link FLAG_OF}, whose first key of a flag wins (`--witness` sets `witness.path`). */
const KEY_OF: Partial<Record<Flag, string>> = {};
for (const [key, flag] of Object.entries(FLAG_OF)) KEY_OF[flag] ??= key;

/** What the command line sets besides the node's options, by the flag. */
const ARG_OF: Partial<Record<Flag, keyof NodeArgs>> = {
  'fence-cmd': 'fenceCmd',
  'dump-log': 'dumpLog',
  'active-after': 'activeAfter',
  'exit-after': 'exitAfter',
  control: 'control',
  json: 'json',
  records: 'records',
};

/**
 * Reads `rdma-ccm node`'s arguments: the --config file first, then the flags over it (a flag wins over
 * the file's key; --address and --partner add to the file's lists). Throws a UsageError (or, for the
 * file's keys, a ConfigError) naming the flag or key.
 */
export function parseNodeArgs(args: string[]): NodeArgs {
  return nodeArgs(readCommandLine(NODE_COMMAND, args));
}

/** {@link parseNodeArgs} for a command line already read. */
export function nodeArgs({ help, given, values }: CommandLine<typeof FLAGS>): NodeArgs {
  // Which option came from where: the file's key, or the flag (the last one wins).
  const from = new Map<string, 'file' | Flag>();
  const configFile = values.config;
  const file = configFile === undefined || help ? {} : readConfig(configFile);
  const options: Record<string, unknown> = { ...file };
  for (const k of Object.keys(file)) from.set(k, 'file');
  const filePartners = Array.isArray(file.partners) ? file.partners.length : 0;
  const cliPartners: string[] = [];
  const out: Record<string, unknown> = { json: false, records: false, help };
  for (const { flag, value } of given) {
    const set = (key: string, v: unknown) => {
      const [top, sub] = key.split('.');
      if (sub === undefined) options[top] = v;
      else ((options[top] ??= {}) as Record<string, unknown>)[sub] = v;
      // A nested option's path is recorded for its object (`witness`), its other keys under their own.
      from.set(key.endsWith('.path') ? top : key, flag);
    };
    switch (flag) {
      case 'address':
        // Repeated: one address per link, after any the file gives.
        set('address', options.address === undefined ? value : [...[options.address].flat(), value]);
        break;
      case 'partner':
        cliPartners.push(value as string);
        set('partners', [...((options.partners as unknown[]) ?? []), partnerSpec(value as string)]);
        break;
      case 'secret-file':
        try {
          set('secret', readFileSync(value as string, 'utf8').trim());
        } catch (e) {
          throw new ConfigError(`cannot read secret file ${value}: ${(e as Error).message}`);
        }
        break;
      case 'state':
        set('initialState', (value as string).toUpperCase());
        break;
      case 'fence-cmd':
        out.fenceCmd = value;
        from.set('fence', flag);
        break;
      case 'metrics': {
        const l = parseListen(value as string);
        if (!l) throw new UsageError(`--metrics wants PORT or ADDR:PORT, got ${value}`);
        out.metrics = l;
        break;
      }
      case 'no-control':
        out.control = null;
        break;
      default: {
        const key = KEY_OF[flag];
        const arg = ARG_OF[flag];
        if (key !== undefined) set(key, value);
        else if (arg !== undefined) out[arg] = value;
      }
    }
  }
  if (typeof options.clusterId === 'number') options.clusterId = String(options.clusterId);
  if (!help) {
    const missing = REQUIRED.filter(([key]) => options[key] === undefined).map(([, flag]) => `--${flag}`);
    if (missing.length)
      throw new UsageError(
        `missing ${missing.join(', ')}${configFile === undefined ? ' (as flags, or keys of a --config file)' : ` (not in ${configFile} either)`}`,
      );
  }

  const explain = (e: ConfigError): string => {
    const source = (key: string) => from.get(key) ?? from.get(key.split('.')[0]);
    const partner = e.key === undefined ? null : /^partners\[(\d+)\]/.exec(e.key);
    const fromFile =
      e.key !== undefined &&
      (partner ? Number(partner[1]) < filePartners : source(e.key.split('[')[0]) === 'file');
    if (fromFile) return `config ${configFile}: ${e.message}`;
    // Each key the message names becomes the flag that sets it, unless the file set it.
    let m = e.message.replace(/partners\[(\d+)\](?:\.\w+)?/g, (all, i: string) =>
      Number(i) >= filePartners ? `--partner ${cliPartners[Number(i) - filePartners]}` : all,
    );
    for (const key of Object.keys(FLAG_OF).sort((a, b) => b.length - a.length)) {
      if (source(key) === 'file') continue;
      const given = from.get(key);
      // A plain word (port, address) is a key only as the message's subject; heartbeatMs or witness.path anywhere.
      // It becomes the flag the operator gave (--secret-file for the secret read from it).
      const at = /^[a-z]+$/.test(key) ? '^' : '(?<![\\w.-])';
      m = m.replace(
        new RegExp(`${at}${key.replace('.', '\\.')}(?![\\w.])`, 'g'),
        `--${given ?? FLAG_OF[key]}`,
      );
    }
    return m;
  };
  return {
    ...(out as Omit<NodeArgs, 'options' | 'explain'>),
    options: options as unknown as CcmOptions,
    explain,
  };
}
