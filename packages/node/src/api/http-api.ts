import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { logger } from '@libp2p/logger'
import type { Startable } from '@libp2p/interface'
import type { NodeMetrics } from './metrics.js'
import type { DealSummary } from './ledger-status.js'
import type { GcStatus } from '../storage/shard-collector.js'
import type { StatusHistoryJson } from './status-history.js'
import { NOSCRIPT_MARKER, renderNoscriptSummary } from './dashboard.js'

const log = logger('sherd:node:http')

/** Chain-side numbers, from the proof-set ledger (ledger-status.ts) when the node has a chain. */
export interface ChainStatus {
  chainId?: number
  rpcUrl?: string
  contractAddress?: string
  registered?: boolean
  /** The market's token: amounts here are its base units; `amounts` has them in tokens. */
  token?: { address: string; symbol: string; decimals: number }
  /** Longest term this provider signs (its consent to extensions). */
  maxTermPeriods?: number
  /** False while the provider is leaving the market (`sherd-node exit`): it signs no new offers. */
  acceptingOffers?: boolean
  deals: number
  /** Own periods proven on time (paid), proven late (unpaid) and marked missed by others. */
  periodsProven: number
  periodsProvenLate?: number
  periodsMissed: number
  /** Token base units, decimal: earnings claimed (paid into the withdrawable balance). */
  earnings: string
  /** Token base units: proven periods not yet claimed (the next claim pays them). */
  unclaimed?: string
  withdrawn: string
  /** Stake slashed for this provider's faults and missed periods, decimal. */
  slashed?: string
  /** Rewards for marking other providers' missed periods, decimal. */
  reporterRewards?: string
  /** Stake and the part of it locked as collateral, decimal (read at the last status refresh). */
  stake?: string
  locked?: string
  /** The amounts above in tokens (`12.5 SHERD`), for people. */
  amounts?: Record<string, string>
  /** Latest block the prover has seen, and the period of the next block. */
  block?: string
  period?: string
  /** Deals by state (live, ended: term over, declared, faulted, failed). */
  dealStates?: Record<string, number>
  /** The most recent deals (at most 100) with their periods proven and missed and earnings. */
  dealList?: DealSummary[]
  /** The prover's last failed step, cleared by the next step that succeeds. */
  lastError?: string
  /** Something the operator should fix (e.g. the registered peer id is not this node's). */
  warning?: string
}

export interface NodeStatus {
  peerId: string
  multiaddrs: string[]
  chainAddress: string
  chain: ChainStatus
  /** `unclaimedBytes`: bytes of stored shards no deal of this provider names, at most `unclaimedMaxBytes`. */
  store: {
    shards: number
    manifests: number
    usedBytes: number
    reservedBytes: number
    freeBytes: number
    capacityBytes: number
    unclaimedBytes?: number
    unclaimedMaxBytes?: number
  }
  pricePerMiB: string
  activeTransfers: number
  peers: number
  uptimeSeconds: number
  /** The shard collector: shards deleted and bytes freed since start, and why it is waiting, if it is. */
  gc?: GcStatus
}

export interface HttpApiInit {
  host?: string
  port: number
}

export interface HttpApiComponents {
  status: () => NodeStatus
  metrics: NodeMetrics
  /** Refreshes gauges before a scrape. */
  refreshMetrics: () => void
  /** Per-period counters and recent errors for the dashboard's chart (`/history`). */
  history?: () => StatusHistoryJson
}

/**
 * The dashboard's files, shipped in the package (`static/`, next to `src/` and `dist/`, so the same path works from
 * both). Only these names are served: no path from a request ever reaches the file system.
 */
const DASHBOARD_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/dashboard': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' }
}
const STATIC_DIR = new URL('../../static/', import.meta.url)
/** The page reads only this node's own API and loads nothing from anywhere else. */
const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** /health, /status (JSON), /history (JSON), /metrics (Prometheus) and the dashboard (/) on 127.0.0.1. */
export class HttpApi implements Startable {
  private server: Server | undefined
  private readonly files = new Map<string, Buffer>()
  port: number

  constructor(
    private readonly components: HttpApiComponents,
    private readonly init: HttpApiInit
  ) {
    this.port = init.port
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      void (async () => {
        try {
          const path = (req.url ?? '/').split('?')[0]
          if (req.method !== 'GET') {
            res.writeHead(405, { allow: 'GET' }).end()
          } else if (path === '/health') {
            res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}\n')
          } else if (path === '/status') {
            res
              .writeHead(200, { 'content-type': 'application/json' })
              .end(JSON.stringify(this.components.status(), null, 2) + '\n')
          } else if (path === '/history' && this.components.history !== undefined) {
            res
              .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
              .end(JSON.stringify(this.components.history()) + '\n')
          } else if (path !== undefined && DASHBOARD_FILES[path] !== undefined) {
            const { file, type } = DASHBOARD_FILES[path]
            let body: Buffer | string = await this.staticFile(file)
            // The page carries its figures as of this request for browsers without JavaScript.
            if (file === 'dashboard.html')
              body = body
                .toString('utf8')
                .replace(NOSCRIPT_MARKER, renderNoscriptSummary(this.components.status(), this.components.history?.()))
            res
              .writeHead(200, {
                'content-type': type,
                'content-security-policy': DASHBOARD_CSP,
                'x-content-type-options': 'nosniff',
                'cache-control': 'no-cache'
              })
              .end(body)
          } else if (path === '/metrics') {
            this.components.refreshMetrics()
            const body = await this.components.metrics.registry.metrics()
            res.writeHead(200, { 'content-type': this.components.metrics.registry.contentType }).end(body)
          } else {
            res
              .writeHead(404, { 'content-type': 'application/json' })
              .end('{"error":"not found: try / (the dashboard), /health, /status, /history or /metrics"}\n')
          }
        } catch (err) {
          log.error('request failed: %e', err)
          if (!res.headersSent) res.writeHead(500).end()
        }
      })()
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    this.port = (server.address() as AddressInfo).port
  }

  /** Read once, then served from memory (a few KiB). */
  private async staticFile(name: string): Promise<Buffer> {
    let body = this.files.get(name)
    if (body === undefined) {
      body = await readFile(new URL(name, STATIC_DIR))
      this.files.set(name, body)
    }
    return body
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve()
      })
    )
  }
}

export function httpApi(init: HttpApiInit): (components: HttpApiComponents) => HttpApi {
  return (components) => new HttpApi(components, init)
}
