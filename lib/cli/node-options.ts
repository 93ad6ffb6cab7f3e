// `rdma-ccm node`'s command line and configuration file as CcmOptions. Strict: an unknown flag or key is
// refused with the nearest known one, since a typo would otherwise turn a setting (the witness) off in
// silence; and every error names what the operator wrote (`--cluster-id`, or the key in the file).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkOptionKeys, ConfigError, type CcmOptions } from '../ccm/config';
import { didYouMean } from '../nearest-name';
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
  'node-id': { type: 'string' },
  address: { type: 'string' },
  port: { type: 'string' },
  partner: { type: 'string' },
  secret: { type: 'string' },
  'secret-file': { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'partner-down-ms': { type: 'string' },
  'link-down-ms': { type: 'string' },
  witness: { type: 'string' },
  'witness-interval-ms': { type: 'string' },
  'witness-timeout-ms': { type: 'string' },
  watchdog: { type: 'string' },
  'watchdog-timeout-ms': { type: 'string' },
  'msgwait-ms': { type: 'string' },
  'fence-cmd': { type: 'string' },
  'fence-delay-ms': { type: 'string' },
  'mirror-hold-ms': { type: 'string' },
  nvram: { type: 'string' },
  'nvram-persistent': { type: 'boolean' },
  'dump-log': { type: 'string' },
  durability: { type: 'string' },
  state: { type: 'string' },
  'active-after': { type: 'string' },
  'exit-after': { type: 'string' },
  metrics: { type: 'string' },
  control: { type: 'string' },
  'no-control': { type: 'boolean' },
  json: { type: 'boolean' },
  records: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flag = keyof typeof FLAGS;

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
    throw new UsageError(`cannot read config ${file}: ${(e as Error).message}`);
  }
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`config ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new UsageError(`config ${file} must hold one JSON object`);
  try {
    checkOptionKeys(o, { json: true });
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`config ${file}: ${e.message}`, e.key);
    throw e;
  }
  return o as Record<string, unknown>;
}

const integer = (flag: string, v: string, max = Number.MAX_SAFE_INTEGER) => {
  if (!/^\d+$/.test(v) || Number(v) > max)
    throw new UsageError(
      `--${flag} needs a non-negative integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${v}`,
    );
  return Number(v);
};

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

/**
 * Reads `rdma-ccm node`'s arguments: the --config file first, then the flags over it (a flag wins over
 * the file's key; --address and --partner add to the file's lists). Throws a UsageError (or, for the
 * file's keys, a ConfigError) naming the flag or key.
 */
export function parseNodeArgs(args: string[]): NodeArgs {
  let tokens;
  try {
    ({ tokens } = parseArgs({ args, options: FLAGS, strict: false, allowPositionals: true, tokens: true }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const known = Object.keys(FLAGS);
  const given: { flag: Flag; raw: string; value: string }[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') throw new UsageError(`unexpected argument ${t.value}`);
    if (t.kind !== 'option') continue;
    if (!(t.name in FLAGS))
      throw new UsageError(`unknown option ${t.rawName}${didYouMean(t.name, known, (n) => `--${n}`)}`);
    const flag = t.name as Flag;
    if (FLAGS[flag].type === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value, got ${t.value}`);
      given.push({ flag, raw: t.rawName, value: '' });
    } else {
      // Without a value parseArgs would take the next flag as one: `--port --json` means a forgotten port.
      if (
        t.value === undefined ||
        (!t.inlineValue && /^--?[a-z]/.test(t.value) && t.value.replace(/^--?/, '').split('=')[0] in FLAGS)
      )
        throw new UsageError(`${t.rawName} needs a value`);
      given.push({ flag, raw: t.rawName, value: t.value });
    }
  }
  const help = given.some((g) => g.flag === 'help');
  // Which option came from where: the file's key, or the flag (the last one wins).
  const from = new Map<string, 'file' | Flag>();
  const configFile = given.filter((g) => g.flag === 'config').pop()?.value;
  const file = configFile === undefined || help ? {} : readConfig(configFile);
  const options: Record<string, unknown> = { ...file };
  for (const k of Object.keys(file)) from.set(k, 'file');
  const filePartners = Array.isArray(file.partners) ? file.partners.length : 0;
  const cliPartners: string[] = [];
  const out: Omit<NodeArgs, 'options' | 'explain'> = { json: false, records: false, help };
  const witness = () => (options.witness ??= {}) as Record<string, unknown>;
  const nvram = () => (options.nvram ??= {}) as Record<string, unknown>;
  for (const { flag, value } of given) {
    const set = (key: string, v: unknown) => {
      options[key] = v;
      from.set(key, flag);
    };
    switch (flag) {
      case 'config':
      case 'help':
        break;
      case 'cluster-id':
        set('clusterId', value);
        break;
      case 'node-id':
        set('nodeId', integer(flag, value));
        break;
      case 'address':
        // Repeated: one address per link, after any the file gives.
        set('address', options.address === undefined ? value : [...[options.address].flat(), value]);
        break;
      case 'port':
        set('port', integer(flag, value));
        break;
      case 'partner':
        cliPartners.push(value);
        set('partners', [...((options.partners as unknown[]) ?? []), partnerSpec(value)]);
        break;
      case 'secret':
        set('secret', value);
        break;
      case 'secret-file':
        try {
          set('secret', readFileSync(value, 'utf8').trim());
        } catch (e) {
          throw new UsageError(`cannot read secret file ${value}: ${(e as Error).message}`);
        }
        break;
      case 'heartbeat-ms':
        set('heartbeatMs', integer(flag, value));
        break;
      case 'partner-down-ms':
        set('partnerDownMs', integer(flag, value));
        break;
      case 'link-down-ms':
        set('linkDownMs', integer(flag, value));
        break;
      case 'fence-delay-ms':
        set('fenceDelayMs', integer(flag, value));
        break;
      case 'mirror-hold-ms':
        set('mirrorHoldMs', integer(flag, value));
        break;
      case 'witness':
        witness().path = value;
        from.set('witness', flag);
        break;
      case 'witness-interval-ms':
        witness().intervalMs = integer(flag, value);
        from.set('witness.intervalMs', flag);
        break;
      case 'witness-timeout-ms':
        witness().timeoutMs = integer(flag, value);
        from.set('witness.timeoutMs', flag);
        break;
      case 'watchdog':
        witness().watchdog = value;
        from.set('witness.watchdog', flag);
        break;
      case 'watchdog-timeout-ms':
        witness().watchdogTimeoutMs = integer(flag, value);
        from.set('witness.watchdogTimeoutMs', flag);
        break;
      case 'msgwait-ms':
        witness().msgwaitMs = integer(flag, value);
        from.set('witness.msgwaitMs', flag);
        break;
      case 'nvram':
        nvram().path = value;
        from.set('nvram', flag);
        break;
      case 'nvram-persistent':
        nvram().persistent = true;
        from.set('nvram.persistent', flag);
        break;
      case 'durability':
        set('durability', value);
        break;
      case 'state':
        set('initialState', value.toUpperCase());
        break;
      case 'fence-cmd':
        out.fenceCmd = value;
        from.set('fence', flag);
        break;
      case 'dump-log':
        out.dumpLog = integer(flag, value, 0xffffffff);
        break;
      case 'active-after':
        out.activeAfter = integer(flag, value);
        break;
      case 'exit-after':
        out.exitAfter = integer(flag, value);
        break;
      case 'metrics': {
        const l = parseListen(value);
        if (!l) throw new UsageError(`--metrics wants PORT or ADDR:PORT, got ${value}`);
        out.metrics = l;
        break;
      }
      case 'control':
        out.control = value;
        break;
      case 'no-control':
        out.control = null;
        break;
      case 'json':
        out.json = true;
        break;
      case 'records':
        out.records = true;
        break;
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
      // A plain word (port, address) is a key only as the message's subject; heartbeatMs or witness.path anywhere.
      const at = /^[a-z]+$/.test(key) ? '^' : '(?<![\\w.-])';
      m = m.replace(new RegExp(`${at}${key.replace('.', '\\.')}(?![\\w.])`, 'g'), `--${FLAG_OF[key]}`);
    }
    return m;
  };
  return { ...out, options: options as unknown as CcmOptions, explain };
}
