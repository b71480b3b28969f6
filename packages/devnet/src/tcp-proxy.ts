import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'

export interface TcpProxyInit {
  /** Where connections go. */
  targetHost?: string
  targetPort: number
  /** Port to listen on (127.0.0.1); a free one when omitted. */
  port?: number
}

/**
 * A TCP proxy on 127.0.0.1 that can be taken down and brought back on the same port: the devnet puts one in front of
 * anvil for the providers so a test can make "the RPC endpoint goes away" happen for real (connections refused and
 * cut) while the chain itself keeps mining.
 */
export class TcpProxy {
  readonly targetHost: string
  readonly targetPort: number
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private boundPort: number

  constructor(init: TcpProxyInit) {
    this.targetHost = init.targetHost ?? '127.0.0.1'
    this.targetPort = init.targetPort
    this.boundPort = init.port ?? 0
  }

  get port(): number {
    return this.boundPort
  }
  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`
  }
  /** Whether the proxy accepts connections. */
  get up(): boolean {
    return this.server !== undefined
  }

  /** Listens (again) on its port; the first start picks a free port unless one was given. */
  async start(): Promise<void> {
    if (this.server !== undefined) return
    const server = createServer((client) => {
      this.pipe(client)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.boundPort, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    const address = server.address()
    if (typeof address === 'object' && address !== null) this.boundPort = address.port
    this.server = server
  }

  /** Stops listening and cuts every open connection: callers see resets and refused connections until `start()`. */
  async stop(): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    const closed = new Promise<void>((resolve) => {
      server.close(() => {
        resolve()
      })
    })
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    await closed
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.targetPort, this.targetHost)
    this.sockets.add(client)
    this.sockets.add(upstream)
    const close = (): void => {
      client.destroy()
      upstream.destroy()
      this.sockets.delete(client)
      this.sockets.delete(upstream)
    }
    client.on('error', close).on('close', close)
    upstream.on('error', close).on('close', close)
    client.pipe(upstream)
    upstream.pipe(client)
  }
}
