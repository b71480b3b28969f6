/**
 * The keeper's Prometheus metrics, rendered in the text exposition format by hand: a dozen numbers do not need
 * prom-client (which the client package does not depend on). Names follow the node's (`sherd_…`).
 */
export class KeeperMetrics {
  passes = 0
  /** Market events of kept files' deals seen, by event name. */
  readonly marketEvents: Record<string, number> = {}
  eventReadErrors = 0
  checkErrors = 0
  readonly repairs = { ok: 0, failed: 0 }
  shardsRebuilt = 0
  /** Escrow of the deals repairs opened, token base units. */
  repairEscrow = 0n
  extensions = 0
  extendSpent = 0n
  budget = 0n
  files = 0
  repairsPending = 0
  segments = { healthy: 0, degraded: 0, belowK: 0 }
  /** Smallest healthy − k over every segment (how many more losses the weakest segment survives), if any. */
  minMargin: number | undefined

  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8'

  text(): string {
    const lines: string[] = []
    const metric = (
      name: string,
      type: 'counter' | 'gauge',
      help: string,
      samples: Array<[labels: string, value: number | bigint]>
    ): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value.toString()}`)
    }
    metric('sherd_keeper_passes_total', 'counter', 'Checks of every kept file completed', [['', this.passes]])
    metric(
      'sherd_keeper_market_events_total',
      'counter',
      'Market events of kept deals and their providers, each followed by a check of the files concerned',
      Object.entries(this.marketEvents).map(([name, n]) => [`{event="${name}"}`, n])
    )
    metric(
      'sherd_keeper_event_read_errors_total',
      'counter',
      'Failed reads of market events (retried from the same cursor)',
      [['', this.eventReadErrors]]
    )
    metric('sherd_keeper_check_errors_total', 'counter', 'File checks that failed (retried next pass)', [
      ['', this.checkErrors]
    ])
    metric('sherd_keeper_repairs_total', 'counter', 'Repairs by outcome', [
      ['{outcome="ok"}', this.repairs.ok],
      ['{outcome="failed"}', this.repairs.failed]
    ])
    metric('sherd_keeper_shards_rebuilt_total', 'counter', 'Shards rebuilt and placed under new deals', [
      ['', this.shardsRebuilt]
    ])
    metric(
      'sherd_keeper_repair_escrow_base_units_total',
      'counter',
      'Escrow of the deals repairs opened (token base units)',
      [['', this.repairEscrow]]
    )
    metric('sherd_keeper_extensions_total', 'counter', 'Files whose deals were extended', [['', this.extensions]])
    metric(
      'sherd_keeper_extend_spent_base_units',
      'gauge',
      'Budget spent on extensions so far, across restarts (token base units)',
      [['', this.extendSpent]]
    )
    metric('sherd_keeper_budget_base_units', 'gauge', 'Extension budget (token base units)', [['', this.budget]])
    metric('sherd_keeper_files', 'gauge', 'Files kept', [['', this.files]])
    metric('sherd_keeper_repairs_pending', 'gauge', 'Files with a repair recorded but not finished', [
      ['', this.repairsPending]
    ])
    metric(
      'sherd_keeper_segments',
      'gauge',
      'Segments by state at the last check (healthy: k + m healthy shards; below_k: not rebuildable now)',
      [
        ['{state="healthy"}', this.segments.healthy],
        ['{state="degraded"}', this.segments.degraded],
        ['{state="below_k"}', this.segments.belowK]
      ]
    )
    if (this.minMargin !== undefined)
      metric('sherd_keeper_min_segment_margin', 'gauge', 'Fewest healthy shards above k over all segments', [
        ['', this.minMargin]
      ])
    return lines.join('\n') + '\n'
  }
}
