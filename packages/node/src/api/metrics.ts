import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** The node's Prometheus metrics, on a registry of its own (several nodes can share a process in tests). */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly shardsStored = this.counter('sherd_shards_stored_total', 'Shards stored and receipted')
  readonly storeRejected = this.counter(
    'sherd_store_rejected_total',
    'Store requests refused or failed, by error name',
    ['reason']
  )
  readonly bytesReceived = this.counter('sherd_bytes_received_total', 'Shard and manifest bytes received')
  readonly bytesServed = this.counter('sherd_bytes_served_total', 'Shard and manifest bytes served')
  readonly requests = this.counter('sherd_requests_total', 'Stream requests by protocol and outcome', [
    'protocol',
    'outcome'
  ])
  readonly storeSeconds = this.histogram(
    'sherd_store_seconds',
    'Time to receive, verify and commit a shard',
    [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120]
  )
  readonly usedBytes = this.gauge('sherd_store_used_bytes', 'Committed bytes in the store')
  readonly reservedBytes = this.gauge('sherd_store_reserved_bytes', 'Bytes reserved by writes in progress')
  readonly capacityBytes = this.gauge('sherd_store_capacity_bytes', 'Configured capacity')
  readonly shards = this.gauge('sherd_store_shards', 'Shards held')
  readonly announcements = this.counter('sherd_announcements_total', 'Announcements published, by outcome', ['outcome'])
  readonly peers = this.gauge('sherd_peers', 'Connected libp2p peers')
  readonly proofsSubmitted = this.counter(
    'sherd_proofs_submitted_total',
    "Proof transactions accepted on chain, by kind (chunk: part of a period's challenges; audit)",
    ['kind']
  )
  readonly proofGas = this.histogram(
    'sherd_proof_gas',
    'Gas used by each proof transaction (a chunk of up to 96 challenges, or an audit answer)',
    [1e5, 2e5, 5e5, 1e6, 3e6, 1e7, 16777216]
  )
  readonly proofSeconds = this.histogram(
    'sherd_proof_seconds',
    "From a period's challenge block to its chunk's receipt",
    [1, 2, 5, 10, 30, 60, 300, 900]
  )
  readonly proverErrors = this.counter(
    'sherd_prover_errors_total',
    'Prover and miss reporter failures by stage (sync, declare, prove, audit, claim, report-misses); retried',
    ['stage']
  )
  readonly gcShardsDeleted = this.counter(
    'sherd_gc_shards_deleted_total',
    'Shards deleted because no live deal needs them'
  )
  readonly gcBytesFreed = this.counter('sherd_gc_bytes_freed_total', 'Bytes those deletions returned to free capacity')
  readonly gcRuns = this.counter(
    'sherd_gc_runs_total',
    'Shard collector passes, by outcome (ok, skipped: ledger not synced, error)',
    ['outcome']
  )
  readonly dealsSettled = this.counter(
    'sherd_deals_settled_total',
    'Own deals this node sent on chain, by action (claim: paid or settled in a claim round, declare: declared lost)',
    ['action']
  )
  readonly missesReported = this.counter(
    'sherd_misses_reported_total',
    "Periods of other providers' deals this node marked missed"
  )

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry })
  }

  // Every metric on this node's registry only, never prom-client's global one (several nodes share a test process).
  private counter<T extends string = string>(name: string, help: string, labelNames: readonly T[] = []): Counter<T> {
    return new Counter({ name, help, labelNames, registers: [this.registry] })
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] })
  }

  private histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ name, help, buckets, registers: [this.registry] })
  }
}
