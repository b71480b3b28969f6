import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The node's Prometheus metrics, on a registry of its own (several nodes can share a process in tests). */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly shardsStored = new Counter({
    name: 'sherd_shards_stored_total',
    help: 'Shards stored and receipted',
    registers: [this.registry]
  })
  readonly storeRejected = new Counter({
    name: 'sherd_store_rejected_total',
    help: 'Store requests refused or failed, by error name',
    labelNames: ['reason'],
    registers: [this.registry]
  })
  readonly bytesReceived = new Counter({
    name: 'sherd_bytes_received_total',
    help: 'Shard and manifest bytes received',
    registers: [this.registry]
  })
  readonly bytesServed = new Counter({
    name: 'sherd_bytes_served_total',
    help: 'Shard and manifest bytes served',
    registers: [this.registry]
  })
  readonly requests = new Counter({
    name: 'sherd_requests_total',
    help: 'Stream requests by protocol and outcome',
    labelNames: ['protocol', 'outcome'],
    registers: [this.registry]
  })
  readonly storeSeconds = new Histogram({
    name: 'sherd_store_seconds',
    help: 'Time to receive, verify and commit a shard',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry]
  })
  readonly usedBytes = new Gauge({
    name: 'sherd_store_used_bytes',
    help: 'Committed bytes in the store',
    registers: [this.registry]
  })
  readonly reservedBytes = new Gauge({
    name: 'sherd_store_reserved_bytes',
    help: 'Bytes reserved by writes in progress',
    registers: [this.registry]
  })
  readonly capacityBytes = new Gauge({
    name: 'sherd_store_capacity_bytes',
    help: 'Configured capacity',
    registers: [this.registry]
  })
  readonly shards = new Gauge({ name: 'sherd_store_shards', help: 'Shards held', registers: [this.registry] })
  readonly announcements = new Counter({
    name: 'sherd_announcements_total',
    help: 'Announcements published, by outcome',
    labelNames: ['outcome'],
    registers: [this.registry]
  })
  readonly peers = new Gauge({ name: 'sherd_peers', help: 'Connected libp2p peers', registers: [this.registry] })
  readonly proofsSubmitted = new Counter({
    name: 'sherd_proofs_submitted_total',
    help: "Proof transactions accepted on chain, by kind (chunk: part of a period's challenges; audit)",
    labelNames: ['kind'],
    registers: [this.registry]
  })
  readonly proofGas = new Histogram({
    name: 'sherd_proof_gas',
    help: 'Gas used by each proof transaction (a chunk of up to 96 challenges, or an audit answer)',
    buckets: [1e5, 2e5, 5e5, 1e6, 3e6, 1e7, 16777216],
    registers: [this.registry]
  })
  readonly proofSeconds = new Histogram({
    name: 'sherd_proof_seconds',
    help: "From a period's challenge block to its chunk's receipt",
    buckets: [1, 2, 5, 10, 30, 60, 300, 900],
    registers: [this.registry]
  })
  readonly proverErrors = new Counter({
    name: 'sherd_prover_errors_total',
    help: 'Prover and miss reporter failures by stage (sync, declare, prove, audit, claim, report-misses); retried',
    labelNames: ['stage'],
    registers: [this.registry]
  })
  readonly gcShardsDeleted = new Counter({
    name: 'sherd_gc_shards_deleted_total',
    help: 'Shards deleted because no live deal needs them',
    registers: [this.registry]
  })
  readonly gcBytesFreed = new Counter({
    name: 'sherd_gc_bytes_freed_total',
    help: 'Bytes those deletions returned to free capacity',
    registers: [this.registry]
  })
  readonly gcRuns = new Counter({
    name: 'sherd_gc_runs_total',
    help: 'Shard collector passes, by outcome (ok, skipped: ledger not synced, error)',
    labelNames: ['outcome'],
    registers: [this.registry]
  })
  readonly dealsSettled = new Counter({
    name: 'sherd_deals_settled_total',
    help: 'Own deals this node sent on chain, by action (claim: paid or settled in a claim round, declare: declared lost)',
    labelNames: ['action'],
    registers: [this.registry]
  })
  readonly missesReported = new Counter({
    name: 'sherd_misses_reported_total',
    help: "Periods of other providers' deals this node marked missed",
    registers: [this.registry]
  })

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry })
  }
}
