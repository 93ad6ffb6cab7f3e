// The operators' commands' pure parts: listen addresses for --metrics, and the status table's layout.
import { describe, expect, it } from 'vitest';
import { parseListen } from '../../lib/cli/metrics-server';
import { formatStatus } from '../../lib/cli/status';
import type { NodeStatus } from '../../lib/ccm';

describe("operators' commands", () => {
  it('reads --metrics as PORT, ADDR:PORT or [IPv6]:PORT, on 127.0.0.1 unless told otherwise', () => {
    expect(parseListen('9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListen('0.0.0.0:9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseListen('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    for (const bad of ['', 'x', '70000', '1.2.3.4:', ':9464', '::1:9464', '9464x'])
      expect(parseListen(bad)).toBeNull();
  });

  it('prints the session table with one line for the node, one per partner and two per session plus one per link', () => {
    const s: NodeStatus = {
      node: 1,
      clusterId: '42',
      generation: '7',
      state: 'ACTIVE',
      phase: 'running',
      address: '10.0.0.1',
      port: 7471,
      uptimeMs: 65_000,
      authenticated: true,
      witness: 'none',
      takeover: null,
      waitingForGiveback: [],
      partners: [
        {
          partner: 2,
          address: '10.0.0.2',
          addresses: ['10.0.0.2', '10.0.1.2'],
          port: 7471,
          state: 'ESTABLISHED',
          attempts: 3,
          lastGeneration: '9',
          heldRecords: 0,
          witness: null,
          session: {
            role: 'initiator',
            partnerGeneration: '9',
            partnerState: 'READY',
            establishedAt: '2026-12-01T00:00:00.000Z',
            heartbeatAgeMs: 42,
            links: [
              {
                link: 0,
                localAddress: '10.0.0.1',
                remoteAddress: '10.0.0.2',
                state: 'carrier',
                heartbeatAgeMs: 42,
              },
              {
                link: 1,
                localAddress: '10.0.1.1',
                remoteAddress: '10.0.1.2',
                state: 'down',
                heartbeatAgeMs: null,
                lastError: 'connect timed out',
              },
            ],
            mirror: { pending: 2, sent: '100', received: '50', duplicates: '0' },
          },
        },
        {
          partner: 3,
          address: '10.0.0.3',
          addresses: ['10.0.0.3'],
          port: 7471,
          state: 'CONNECTING',
          attempts: 12,
          lastGeneration: null,
          heldRecords: 4,
          witness: null,
          session: null,
        },
      ],
    };
    expect(formatStatus(s)).toBe(
      [
        'node 1 ACTIVE cluster:42 generation:7 address:10.0.0.1:7471 up:65.0s auth:secret witness:none',
        '  partner 2 10.0.0.2:7471 ESTABLISHED role:initiator',
        '    partner-state:READY generation:9 heartbeat-age:42ms since:2026-12-01T00:00:00.000Z',
        '    link 0 10.0.0.1 → 10.0.0.2 carrier heartbeat-age:42ms',
        '    link 1 10.0.1.1 → 10.0.1.2 down last-error:connect timed out',
        '    mirror pending:2 acknowledged:100 received:50 duplicates:0 held:0',
        '  partner 3 10.0.0.3:7471 CONNECTING attempts:12',
        '    last-generation:- held:4',
        '',
      ].join('\n'),
    );
  });
});
