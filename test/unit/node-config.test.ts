// Strict configuration: unknown keys (in ClusterNode's options and the node's JSON file) and unknown
// flags of `rdma-ccm node` are refused with the nearest known name, and every error names what the
// operator wrote: the flag, or the key in the file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig, type CcmOptions } from '../../lib/ccm/config';
import { parseNodeArgs } from '../../lib/cli/node-options';
import { nearestName } from '../../lib/nearest-name';

const base: CcmOptions = {
  clusterId: 1n,
  nodeId: 1,
  address: '10.0.0.1',
  port: 7471,
  partners: [{ nodeId: 2, address: '10.0.0.2', port: 7471 }],
};
const required = [
  '--cluster-id',
  '7',
  '--node-id',
  '1',
  '--address',
  '10.0.0.1',
  '--port',
  '7471',
  '--partner',
  '2@10.0.0.2:7471',
];
/** The same, as the keys of a --config file. */
const requiredFile = {
  clusterId: 7,
  nodeId: 1,
  address: '10.0.0.1',
  port: 7471,
  partners: [{ nodeId: 2, address: '10.0.0.2', port: 7471 }],
};

const thrown = (fn: () => unknown): { code?: string; message: string; key?: string } => {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('nothing thrown');
};

function configFile(o: object): string {
  const f = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-config-')), 'node.json');
  writeFileSync(f, JSON.stringify(o));
  return f;
}

/** The error the node would print for these arguments: the parser's, or resolveConfig's as the parser names it. */
function cliError(args: string[]): string {
  let parsed;
  try {
    parsed = parseNodeArgs(args);
  } catch (e) {
    return (e as Error).message;
  }
  try {
    resolveConfig(parsed.options);
  } catch (e) {
    return parsed.explain(e as ConfigError);
  }
  return 'no error';
}

describe('strict node configuration', () => {
  it('finds the nearest known name for typos, case slips and swapped letters, and none for a stranger', () => {
    const keys = ['witness', 'heartbeatMs', 'partnerDownMs', 'linkDownMs', 'port'];
    expect(nearestName('witnes', keys)).toBe('witness');
    expect(nearestName('heartbeatMS', keys)).toBe('heartbeatMs');
    expect(nearestName('prot', keys)).toBe('port');
    expect(nearestName('linkDownMS', keys)).toBe('linkDownMs');
    expect(nearestName('colour', keys)).toBeUndefined();
    expect(nearestName('x', keys)).toBeUndefined();
  });

  it('ClusterNode options refuse unknown keys at any depth with ERR_CCM_CONFIG and the nearest name', () => {
    const e = thrown(() => resolveConfig({ ...base, witnes: { path: '/dev/sdb' } } as CcmOptions));
    expect(e).toMatchObject({
      code: 'ERR_CCM_CONFIG',
      message: 'unknown key "witnes" (did you mean "witness"?)',
      key: 'witnes',
    });
    expect(thrown(() => resolveConfig({ ...base, heartbeatMS: 50 } as CcmOptions)).message).toBe(
      'unknown key "heartbeatMS" (did you mean "heartbeatMs"?)',
    );
    expect(thrown(() => resolveConfig({ ...base, colour: 'blue' } as CcmOptions)).message).toBe(
      'unknown key "colour"',
    );
    expect(
      thrown(() =>
        resolveConfig({ ...base, partners: [{ nodeId: 2, adress: 'x', port: 1 }] } as unknown as CcmOptions),
      ).message,
    ).toBe('unknown key "partners[0].adress" (did you mean "address"?)');
    expect(
      thrown(() => resolveConfig({ ...base, witness: { path: '/w', intervalMS: 10 } } as CcmOptions)).message,
    ).toBe('unknown key "witness.intervalMS" (did you mean "intervalMs"?)');
    expect(
      thrown(() =>
        resolveConfig({ ...base, witness: { path: '/w', watchdg: '/dev/watchdog' } } as CcmOptions),
      ).message,
    ).toBe('unknown key "witness.watchdg" (did you mean "watchdog"?)');
    expect(
      thrown(() => resolveConfig({ ...base, witness: { path: '/w', msgwaitMS: 10_000 } } as CcmOptions))
        .message,
    ).toBe('unknown key "witness.msgwaitMS" (did you mean "msgwaitMs"?)');
    expect(
      thrown(() => resolveConfig({ ...base, nvram: { path: '/n', persistant: true } } as CcmOptions)).message,
    ).toBe('unknown key "nvram.persistant" (did you mean "persistent"?)');
    expect(thrown(() => resolveConfig({ ...base, backoff: { maxMS: 10 } } as CcmOptions)).message).toBe(
      'unknown key "backoff.maxMS" (did you mean "maxMs"?)',
    );
    // A Witness object is the application's own: its members are not ours to check.
    const witness = { start: () => {}, view: () => null, stop: () => {}, extra: 1 };
    expect(resolveConfig({ ...base, witness } as unknown as CcmOptions).witness).toBe(witness);
    expect(resolveConfig(base).nodeId).toBe(1);
  });

  it('the config file: an unknown key is refused before anything runs, naming the file; code-only options too', () => {
    const f = configFile({ ...requiredFile, heartbeatMS: 50, witnes: { path: '/dev/sdb' } });
    const e = thrown(() => parseNodeArgs(['--config', f]));
    expect(e).toMatchObject({
      code: 'ERR_CCM_CONFIG',
      message: `config ${f}: unknown key "heartbeatMS" (did you mean "heartbeatMs"?)`,
    });
    expect(thrown(() => parseNodeArgs(['--config', configFile({ witnes: {} })])).message).toMatch(
      /unknown key "witnes" \(did you mean "witness"\?\)$/,
    );
    expect(thrown(() => parseNodeArgs(['--config', configFile({ fence: 'true' })])).message).toMatch(
      /: unknown key "fence"$/,
    );
    expect(thrown(() => parseNodeArgs(['--config', configFile([1, 2])])).message).toMatch(
      /must hold one JSON object$/,
    );
    // A good file parses, and flags override its keys.
    const good = configFile({ ...requiredFile, heartbeatMs: 50 });
    const p = parseNodeArgs(['--config', good, '--heartbeat-ms', '80', '--partner', '3@10.0.0.3:7471']);
    expect(p.options).toMatchObject({
      clusterId: '7',
      heartbeatMs: 80,
      partners: [{ nodeId: 2 }, { nodeId: 3, address: '10.0.0.3', port: 7471 }],
    });
    expect(resolveConfig(p.options).heartbeatMs).toBe(80);
  });

  it('the command line: unknown flags with the nearest, missing values, and every missing required flag by name', () => {
    expect(thrown(() => parseNodeArgs([...required, '--witnes', '/dev/sdb']))).toMatchObject({
      code: 'ERR_CCM_USAGE',
      message: 'unknown option --witnes (did you mean --witness?)',
    });
    expect(cliError([...required, '--heartbeat-MS', '50'])).toBe(
      'unknown option --heartbeat-MS (did you mean --heartbeat-ms?)',
    );
    expect(cliError([...required, '--bogus'])).toBe('unknown option --bogus');
    expect(cliError([...required, '-x'])).toBe('unknown option -x');
    expect(cliError([...required, 'stray'])).toBe('unexpected argument stray');
    expect(cliError([...required, '--port'])).toBe('--port needs a value');
    expect(cliError(['--port', '--json', ...required.slice(0, 6), ...required.slice(8)])).toBe(
      '--port needs a value',
    );
    expect(cliError([...required, '--json=yes'])).toBe('--json takes no value, got yes');
    expect(cliError([])).toBe(
      'missing --cluster-id, --node-id, --address, --port, --partner (as flags, or keys of a --config file)',
    );
    expect(cliError(['--cluster-id', '7', '--node-id', '1'])).toBe(
      'missing --address, --port, --partner (as flags, or keys of a --config file)',
    );
    const partial = configFile({ clusterId: 7, nodeId: 1 });
    expect(cliError(['--config', partial, '--port', '1'])).toBe(
      `missing --address, --partner (not in ${partial} either)`,
    );
    expect(parseNodeArgs(['--help'])).toMatchObject({ help: true });
    expect(cliError([...required, '--port=7472'])).toBe('no error');
  });

  it("names the flag in the node's own checks, and the key in the file when the file set it", () => {
    const without = (flag: string) => {
      const i = required.indexOf(flag);
      return [...required.slice(0, i), ...required.slice(i + 2)];
    };
    expect(cliError([...without('--cluster-id'), '--cluster-id', 'abc'])).toBe(
      '--cluster-id must be an integer, got abc',
    );
    expect(cliError([...without('--cluster-id'), '--cluster-id', '0'])).toBe(
      '--cluster-id must be from 1 to 2^64-1, got 0',
    );
    expect(cliError([...without('--node-id'), '--node-id', '0'])).toBe(
      '--node-id must be an integer from 1 to 4294967295, got 0',
    );
    expect(cliError([...without('--port'), '--port', '70000'])).toBe(
      '--port must be a port from 1 to 65535, got 70000',
    );
    expect(cliError([...required, '--heartbeat-ms', '0'])).toBe(
      '--heartbeat-ms must be a positive number of milliseconds, got 0',
    );
    expect(cliError([...required, '--heartbeat-ms', '100', '--partner-down-ms', '150'])).toBe(
      '--partner-down-ms must be at least twice --heartbeat-ms',
    );
    expect(cliError([...required, '--link-down-ms', '5000'])).toBe(
      '--link-down-ms must be from twice --heartbeat-ms to --partner-down-ms',
    );
    expect(cliError([...required, '--witness-interval-ms', '100'])).toBe(
      '--witness must be the path of a block device or file',
    );
    expect(
      cliError([
        ...required,
        '--witness',
        '/w',
        '--witness-interval-ms',
        '400',
        '--witness-timeout-ms',
        '500',
      ]),
    ).toBe('--witness-timeout-ms must be at least twice --witness-interval-ms');
    expect(cliError([...required, '--witness', '/w', '--msgwait-ms', '10000'])).toBe(
      '--msgwait-ms needs --watchdog',
    );
    const withWatchdog = [...required, '--witness', '/w', '--watchdog', '/dev/watchdog'];
    expect(cliError([...withWatchdog, '--watchdog-timeout-ms', '2500'])).toBe(
      '--watchdog-timeout-ms must be whole seconds and at least twice --witness-interval-ms',
    );
    expect(cliError([...withWatchdog, '--watchdog-timeout-ms', '5000', '--msgwait-ms', '9000'])).toBe(
      '--msgwait-ms must be at least twice --watchdog-timeout-ms',
    );
    expect(cliError([...required, '--nvram-persistent'])).toBe('--nvram must name a DAX device or a file');
    expect(cliError([...required, '--durability', 'durable'])).toBe(
      '--durability must be one of delivered, placed, persisted, got durable',
    );
    expect(cliError([...required, '--state', 'up'])).toMatch(/^--state must be one of BOOTING, .*, got UP$/);
    expect(cliError([...required, '--partner', '1@10.0.0.9:7471'])).toBe(
      "--partner 1@10.0.0.9:7471 has this node's own id 1",
    );
    expect(cliError([...required, '--partner', '2@10.0.0.9:7471'])).toBe(
      '--partner 2@10.0.0.9:7471 lists partner 2 a second time',
    );
    expect(cliError([...required, '--partner', '0@10.0.0.9:7471'])).toBe(
      '--partner 0@10.0.0.9:7471: the node id must be from 1 to 4294967295',
    );
    expect(cliError([...required, '--secret', 'short'])).toBe('--secret must be at least 8 bytes');
    const shortSecret = join(mkdtempSync(join(tmpdir(), 'rdma-ccm-secret-')), 'secret');
    writeFileSync(shortSecret, 'short\n');
    expect(cliError([...required, '--secret-file', shortSecret])).toBe(
      '--secret-file must be at least 8 bytes',
    );
    // The same checks, where the file set the field: its key, in the file.
    const fileWithPartnerPort = (partnerPort: number) =>
      configFile({
        ...requiredFile,
        partners: [{ nodeId: 2, address: '10.0.0.2', port: partnerPort }],
        heartbeatMs: 0,
      });
    const f = fileWithPartnerPort(0);
    expect(cliError(['--config', f, '--heartbeat-ms', '100'])).toBe(
      `config ${f}: partners[0].port must be a port from 1 to 65535, got 0`,
    );
    const g = fileWithPartnerPort(1);
    expect(cliError(['--config', g, '--partner', '3@10.0.0.3:1'])).toBe(
      `config ${g}: heartbeatMs must be a positive number of milliseconds, got 0`,
    );
    expect(cliError(['--config', g, '--heartbeat-ms', '100', '--partner', '3@10.0.0.3,10.0.0.3:1'])).toBe(
      '--partner 3@10.0.0.3,10.0.0.3:1 lists an address twice',
    );
  });

  it('rdma-ccm node exits 2: a value it refuses in one line with the code, a command line it cannot read in one line and the usage', () => {
    const cli = resolve(__dirname, '..', '..', 'dist', 'cli.js');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [cli, 'node', ...args], { encoding: 'utf8', timeout: 20_000 });
    const none = run();
    expect(none.status).toBe(2);
    const [first, ...usage] = none.stderr.split('\n');
    expect(first).toBe(
      'rdma-ccm node: missing --cluster-id, --node-id, --address, --port, --partner (as flags, or keys of a --config file)',
    );
    expect(usage.join('\n')).toBe(run('--help').stdout);
    const typo = run('--config', configFile({ ...base, clusterId: 7, witnes: { path: '/dev/sdb' } }));
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(
      /^rdma-ccm node: config \S+: unknown key "witnes" \(did you mean "witness"\?\) \(ERR_CCM_CONFIG\); see rdma-ccm node --help\n$/,
    );
    const bad = run(...required.slice(2), '--cluster-id', 'abc');
    expect(bad.stderr).toBe(
      'rdma-ccm node: --cluster-id must be an integer, got abc (ERR_CCM_CONFIG); see rdma-ccm node --help\n',
    );
    const unreadable = run('--config', '/nonexistent/node.json');
    expect(unreadable.status).toBe(2);
    expect(unreadable.stderr).toMatch(
      /^rdma-ccm node: cannot read config \/nonexistent\/node\.json: .*ENOENT.* \(ERR_CCM_CONFIG\); see rdma-ccm node --help\n$/,
    );
    expect(run('--help').stdout).toMatch(/^usage: rdma-ccm node /);
  }, 60_000); // six CLI processes, each a second or more on a loaded host
});
