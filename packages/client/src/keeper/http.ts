import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { logger } from '@libp2p/logger'
import { KeeperConfigError } from './errors.js'
import type { KeeperMetrics } from './metrics.js'

const log = logger('sherd:keeper:http')

export interface KeeperHttpInit {
  port: number
  /** Loopback by default, like the node: /status names every file kept. */
  host?: string
}

export interface KeeperHttpComponents {
  status: () => unknown
  metrics: KeeperMetrics
}

/** /health, /status (JSON) and /metrics (Prometheus text) on 127.0.0.1, as the node serves them. */
export class KeeperHttp {
  #server: Server | undefined
  #port: number

  constructor(
    private readonly init: KeeperHttpInit,
    private readonly components: KeeperHttpComponents
  ) {
    this.#port = init.port
  }

  get url(): string | undefined {
    return this.#server === undefined ? undefined : `http://${this.init.host ?? '127.0.0.1'}:${this.#port}`
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      try {
        const path = (req.url ?? '/').split('?')[0]
        if (req.method !== 'GET') {
          res.writeHead(405, { allow: 'GET' }).end()
        } else if (path === '/health') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}\n')
        } else if (path === '/status') {
          res
            .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
            .end(JSON.stringify(this.components.status(), null, 2) + '\n')
        } else if (path === '/metrics') {
          res
            .writeHead(200, { 'content-type': this.components.metrics.contentType })
            .end(this.components.metrics.text())
        } else {
          res
            .writeHead(404, { 'content-type': 'application/json' })
            .end('{"error":"not found: try /health, /status or /metrics"}\n')
        }
      } catch (err) {
        log.error('request failed: %e', err)
        if (!res.headersSent) res.writeHead(500).end()
      }
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new KeeperConfigError(`port ${this.init.port} is in use: pick another --http-port (0 picks a free one)`, {
                cause: err
              })
            : err
        )
      })
      server.listen(this.init.port, this.init.host ?? '127.0.0.1', () => {
        server.removeAllListeners('error')
        resolve()
      })
    })
    this.#server = server
    this.#port = (server.address() as AddressInfo).port
  }

  async stop(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve()
      })
    })
  }
}
