// The node's Prometheus metrics (prom-client), made on first use of ClusterNode.metrics: sessions, links
// and partner states as they stand, heartbeat gaps, detection and handshake times, handshake steps and
// failures, log mirroring (appends, bytes, acks, latency, per durability level), protocol errors and
// refused connections. An application merges the registry into its own (prom-client's Registry.merge).
import type { Registry } from 'prom-client';
import type { CcmEvent } from './events';
import type { ClusterNode } from './node';
import type { CcmObserver } from './observer';

export function createMetrics(node: ClusterNode): { registry: Registry; observer: CcmObserver } {
  // Loaded only here: a node that never asks for metrics does not pay for the module at boot.
  const prom: typeof import('prom-client') = require('prom-client');
  const registry = new prom.Registry();
  const registers = [registry];
  const status = () => node.status();

  new prom.Gauge({
    name: 'rdma_ccm_info',
    help: 'This node: its id and cluster (value 1).',
    labelNames: ['node', 'cluster'],
    registers,
    collect() {
      const s = status();
      this.reset();
      this.set({ node: s.node, cluster: s.clusterId }, 1);
    },
  });
  // A value, not a label: a label would start a new series at every boot.
  new prom.Gauge({
    name: 'rdma_ccm_generation',
    help: "This node's boot generation, new at every start (exact while below 2^53: the default, clock milliseconds x 1024, is).",
    registers,
    collect() {
      this.set(Number(status().generation));
    },
  });
  new prom.Gauge({
    name: 'rdma_ccm_node_state',
    help: 'The state this node publishes in its status block (1 for the current one).',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      this.set({ state: status().state }, 1);
    },
  });
  new prom.Gauge({
    name: 'rdma_ccm_session_up',
    help: 'Whether this node has a session with the partner (1) or not (0).',
    labelNames: ['partner', 'state'],
    registers,
    collect() {
      this.reset();
      for (const p of status().partners) this.set({ partner: p.partner, state: p.state }, p.session ? 1 : 0);
    },
  });
  new prom.Gauge({
    name: 'rdma_ccm_link_up',
    help: 'Whether each link of the session with the partner is up (1) or down (0); state carrier, up or down; local and remote are the addresses it joins.',
    labelNames: ['partner', 'link', 'local', 'remote', 'state'],
    registers,
    collect() {
      this.reset();
      for (const p of status().partners)
        for (const l of p.session?.links ?? [])
          this.set(
            {
              partner: p.partner,
              link: l.link,
              local: l.localAddress,
              remote: l.remoteAddress,
              state: l.state,
            },
            l.state === 'down' ? 0 : 1,
          );
    },
  });
  new prom.Gauge({
    name: 'rdma_ccm_witness_verdict',
    help: 'What the split-brain witness says of the partner (1 for the current verdict: alive, stopped or unavailable).',
    labelNames: ['partner', 'verdict'],
    registers,
    collect() {
      this.reset();
      for (const p of status().partners)
        if (p.witness) this.set({ partner: p.partner, verdict: p.witness.verdict }, 1);
    },
  });
  new prom.Gauge({
    name: 'rdma_ccm_partner_state',
    help: "The partner's published state, as last read from its status block (1 for the current one).",
    labelNames: ['partner', 'state'],
    registers,
    collect() {
      this.reset();
      for (const p of status().partners)
        if (p.session) this.set({ partner: p.partner, state: p.session.partnerState }, 1);
    },
  });
  new prom.Gauge({
    name: 'rdma_ccm_heartbeat_age_seconds',
    help: 'Time since the partner last showed life on the session.',
    labelNames: ['partner'],
    registers,
    collect() {
      this.reset();
      for (const p of status().partners)
        if (p.session) this.set({ partner: p.partner }, p.session.heartbeatAgeMs / 1000);
    },
  });
  new prom.Gauge({
    name: 'rdma_ccm_mirror_pending',
    help: 'Appends not yet acknowledged by the partner (in flight, waiting, or held for the next session).',
    labelNames: ['partner'],
    registers,
    collect() {
      this.reset();
      for (const p of status().partners)
        this.set({ partner: p.partner }, (p.session?.mirror.pending ?? 0) + p.heldRecords);
    },
  });
  const gaps = new prom.Histogram({
    name: 'rdma_ccm_heartbeat_gap_seconds',
    help: "Gaps between moves of the partner's heartbeat counter.",
    labelNames: ['partner'],
    buckets: [0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers,
  });
  const detection = new prom.Histogram({
    name: 'rdma_ccm_partner_down_detection_seconds',
    help: 'How long the partner had been silent when it was declared down.',
    labelNames: ['partner'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers,
  });
  const handshake = new prom.Histogram({
    name: 'rdma_ccm_handshake_seconds',
    help: 'Handshake durations, connect to established.',
    labelNames: ['partner', 'role'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const steps = new prom.Counter({
    name: 'rdma_ccm_handshake_steps_total',
    help: 'Handshake steps started.',
    labelNames: ['partner', 'role', 'step'],
    registers,
  });
  const failures = new prom.Counter({
    name: 'rdma_ccm_handshake_failures_total',
    help: 'Handshake attempts that failed, by step and code.',
    labelNames: ['partner', 'role', 'step', 'code'],
    registers,
  });
  const established = new prom.Counter({
    name: 'rdma_ccm_sessions_established_total',
    help: 'Sessions established.',
    labelNames: ['partner'],
    registers,
  });
  const closed = new prom.Counter({
    name: 'rdma_ccm_sessions_closed_total',
    help: 'Sessions closed (for any reason).',
    labelNames: ['partner'],
    registers,
  });
  const linkDown = new prom.Counter({
    name: 'rdma_ccm_link_down_total',
    help: 'Times a link of a session went down (heartbeat stopped, work request failed, disconnected, replaced).',
    labelNames: ['partner', 'link'],
    registers,
  });
  const linkDetection = new prom.Histogram({
    name: 'rdma_ccm_link_down_detection_seconds',
    help: 'How long a link had been silent when it was declared down.',
    labelNames: ['partner', 'link'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers,
  });
  const interconnect = new prom.Counter({
    name: 'rdma_ccm_interconnect_down_total',
    help: 'Times every link to the partner went down while the witness showed it running (or could not be read).',
    labelNames: ['partner', 'witness'],
    registers,
  });
  const down = new prom.Counter({
    name: 'rdma_ccm_partner_down_total',
    help: 'Times the partner was declared down.',
    labelNames: ['partner'],
    registers,
  });
  const protocol = new prom.Counter({
    name: 'rdma_ccm_protocol_errors_total',
    help: 'Partner-supplied blocks and words refused, by block and code.',
    labelNames: ['block', 'code'],
    registers,
  });
  const rejected = new prom.Counter({
    name: 'rdma_ccm_rejected_total',
    help: 'Connect requests refused, by reason (NOT_AUTHENTICATED and STALE_REQUEST: strangers and replays).',
    labelNames: ['reason'],
    registers,
  });
  const listenerErrors = new prom.Counter({
    name: 'rdma_ccm_listener_errors_total',
    help: 'Application listeners of the node that threw.',
    registers,
  });
  const appends = new prom.Counter({
    name: 'rdma_ccm_mirror_appends_total',
    help: 'Records appended for mirroring.',
    labelNames: ['partner', 'durability'],
    registers,
  });
  const bytes = new prom.Counter({
    name: 'rdma_ccm_mirror_bytes_total',
    help: 'Payload bytes appended for mirroring.',
    labelNames: ['partner', 'durability'],
    registers,
  });
  const acks = new prom.Counter({
    name: 'rdma_ccm_mirror_acks_total',
    help: 'Records that became as safe as their durability asks (delivered: acknowledged by the partner; placed, persisted: in its memory).',
    labelNames: ['partner', 'durability'],
    registers,
  });
  const latency = new prom.Histogram({
    name: 'rdma_ccm_mirror_append_latency_seconds',
    help: 'From append() until the record is as safe as its durability asks.',
    labelNames: ['partner', 'durability'],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers,
  });

  node.on('event', (e: CcmEvent) => {
    switch (e.type) {
      case 'step':
        steps.inc({ partner: e.partner, role: e.role, step: e.step });
        break;
      case 'attempt-failed':
        failures.inc({ partner: e.partner, role: e.role, step: e.step, code: e.code });
        break;
      case 'established':
        established.inc({ partner: e.partner });
        handshake.observe({ partner: e.partner, role: e.role }, e.handshakeMs / 1000);
        break;
      case 'session-closed':
        closed.inc({ partner: e.partner });
        break;
      case 'interconnect-down':
        interconnect.inc({ partner: e.partner, witness: e.witness });
        break;
      case 'partner-down':
        down.inc({ partner: e.partner });
        detection.observe({ partner: e.partner }, e.detectionMs / 1000);
        break;
      case 'link-down':
        linkDown.inc({ partner: e.partner, link: e.link });
        linkDetection.observe({ partner: e.partner, link: e.link }, e.detectionMs / 1000);
        break;
      case 'protocol-error':
        protocol.inc({ block: e.block, code: e.code });
        break;
      case 'rejected':
        rejected.inc({ reason: e.reason });
        break;
      case 'listener-error':
        listenerErrors.inc();
        break;
    }
  });

  const observer: CcmObserver = {
    heartbeatGap: (partner, ms) => gaps.observe({ partner }, ms / 1000),
    appended: (partner, n, durability) => {
      appends.inc({ partner, durability });
      bytes.inc({ partner, durability }, n);
    },
    acknowledged: (partner, ms, durability) => {
      acks.inc({ partner, durability });
      latency.observe({ partner, durability }, ms / 1000);
    },
  };
  return { registry, observer };
}
