import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2pEvents, PeerId, Startable, TypedEventTarget } from '@libp2p/interface'
import { sleep } from '@sherd/protocol'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { BOOTSTRAP_DIAL_TIMEOUT_MS, BOOTSTRAP_RETRY_INITIAL_MS, BOOTSTRAP_RETRY_MAX_MS } from '../constants.js'
import { ConfigError } from '../errors.js'

const log = logger('sherd:node:bootstrap')

/** A bootstrap address, parsed: where to dial and whom we expect there. */
export interface BootstrapPeer {
  addr: Multiaddr
  peerId: PeerId
}

/**
 * Parses `/ip4/…/tcp/…/p2p/<peer id>` addresses. The peer id is required: without it the dial cannot check who
 * answers, and the dialer could not tell when that peer disconnects.
 */
export function parseBootstrapList(list: readonly string[]): BootstrapPeer[] {
  return list.map((text) => {
    let addr: Multiaddr
    try {
      addr = multiaddr(text)
    } catch (err) {
      throw new ConfigError(
        `bootstrap address "${text}" is not a multiaddr (${(err as Error).message}): use /ip4/<host>/tcp/<port>/p2p/<peer id>`,
        { cause: err }
      )
    }
    const value = addr.getComponents().findLast((c) => c.name === 'p2p')?.value
    if (value === undefined)
      throw new ConfigError(
        `bootstrap address "${text}" has no /p2p/<peer id>: append the peer id the node prints in its ready line`
      )
    let peerId: PeerId
    try {
      peerId = peerIdFromString(value)
    } catch (err) {
      throw new ConfigError(`bootstrap address "${text}" has an invalid peer id (${(err as Error).message})`, {
        cause: err
      })
    }
    return { addr, peerId }
  })
}

export interface BootstrapInit {
  /** Multiaddrs ending in /p2p/<peer id>; our own peer id in the list is skipped. */
  list: readonly string[]
  retryInitialMs?: number
  retryMaxMs?: number
  dialTimeoutMs?: number
}

/** The libp2p components the dialer uses (a subset of what libp2p hands every service). */
export interface BootstrapComponents {
  peerId: PeerId
  connectionManager: {
    openConnection: (addr: Multiaddr, options?: { signal?: AbortSignal }) => Promise<unknown>
    getConnections: (peerId?: PeerId) => unknown[]
  }
  events: TypedEventTarget<Libp2pEvents>
}

/** One bootstrap peer as `/status`-style output sees it. */
export interface BootstrapPeerState {
  peerId: string
  addr: string
  connected: boolean
  /** Dials that failed since the node started. */
  failedDials: number
}

/**
 * Keeps this node connected to its bootstrap peers, so that it joins the gossipsub mesh and the announcements of
 * providers it never dials reach it (and its own reach them). @libp2p/bootstrap is not installed, and it dials only
 * when peers are discovered; a provider must also get back to a bootstrap peer that starts later or restarts.
 * So one loop per peer: dial, and on failure retry with doubling backoff; once connected, wait for the peer to
 * disconnect and dial again. Start never waits on these dials; stop aborts them.
 */
export class BootstrapDialer implements Startable {
  readonly [Symbol.toStringTag] = '@sherd/node/bootstrap'
  private readonly peers: BootstrapPeer[]
  private readonly failures = new Map<string, number>()
  private readonly retryInitialMs: number
  private readonly retryMaxMs: number
  private readonly dialTimeoutMs: number
  private controller: AbortController | undefined
  private loops: Array<Promise<void>> = []

  constructor(
    private readonly components: BootstrapComponents,
    init: BootstrapInit
  ) {
    this.peers = parseBootstrapList(init.list)
    this.retryInitialMs = init.retryInitialMs ?? BOOTSTRAP_RETRY_INITIAL_MS
    this.retryMaxMs = init.retryMaxMs ?? BOOTSTRAP_RETRY_MAX_MS
    this.dialTimeoutMs = init.dialTimeoutMs ?? BOOTSTRAP_DIAL_TIMEOUT_MS
  }

  start(): void {
    this.controller = new AbortController()
  }

  /** Dials only once every service (gossipsub's topology included) is running, as @libp2p/bootstrap does. */
  afterStart(): void {
    const signal = this.controller?.signal
    if (signal === undefined) return
    const self = this.components.peerId
    this.loops = this.peers
      .filter((p) => !p.peerId.equals(self))
      .map(async (p) => {
        await this.keepConnected(p, signal)
      })
  }

  async stop(): Promise<void> {
    this.controller?.abort()
    this.controller = undefined
    await Promise.all(this.loops)
    this.loops = []
  }

  state(): BootstrapPeerState[] {
    return this.peers.map((p) => ({
      peerId: p.peerId.toString(),
      addr: p.addr.toString(),
      connected: this.isConnected(p.peerId),
      failedDials: this.failures.get(p.peerId.toString()) ?? 0
    }))
  }

  private isConnected(peerId: PeerId): boolean {
    return this.components.connectionManager.getConnections(peerId).length > 0
  }

  private async keepConnected(peer: BootstrapPeer, signal: AbortSignal): Promise<void> {
    let delayMs = this.retryInitialMs
    while (!signal.aborted) {
      if (this.isConnected(peer.peerId)) {
        await this.disconnected(peer.peerId, signal)
        if (signal.aborted) return
        log('bootstrap peer %p disconnected; redialling', peer.peerId)
        // A peer that drops us right after each dial must not be redialled in a tight loop.
        delayMs = this.retryInitialMs
        await pauseUnlessAborted(delayMs, signal)
        continue
      }
      try {
        await this.components.connectionManager.openConnection(peer.addr, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.dialTimeoutMs)])
        })
        log('connected to bootstrap peer %a', peer.addr)
        delayMs = this.retryInitialMs
      } catch (err) {
        if (signal.aborted) return
        const failed = (this.failures.get(peer.peerId.toString()) ?? 0) + 1
        this.failures.set(peer.peerId.toString(), failed)
        // The first failure is worth an operator's eye; later ones are the expected wait for a peer to come up.
        const line = 'bootstrap peer %a unreachable (%s), retrying in %d ms'
        if (failed === 1) log.error(line, peer.addr, (err as Error).message, delayMs)
        else log(line, peer.addr, (err as Error).message, delayMs)
        await pauseUnlessAborted(delayMs, signal)
        delayMs = Math.min(delayMs * 2, this.retryMaxMs)
      }
    }
  }

  /** Resolves when the last connection to `peerId` closes, or on abort. */
  private async disconnected(peerId: PeerId, signal: AbortSignal): Promise<void> {
    const events = this.components.events
    await new Promise<void>((resolve) => {
      const done = (): void => {
        events.removeEventListener('peer:disconnect', onDisconnect)
        signal.removeEventListener('abort', done)
        resolve()
      }
      const onDisconnect = (evt: CustomEvent<PeerId>): void => {
        if (evt.detail.equals(peerId)) done()
      }
      events.addEventListener('peer:disconnect', onDisconnect)
      signal.addEventListener('abort', done, { once: true })
      // The connection may have closed between the caller's check and this listener.
      if (!this.isConnected(peerId) || signal.aborted) done()
    })
  }
}

export function bootstrapDialer(init: BootstrapInit): (components: BootstrapComponents) => BootstrapDialer {
  // Parse now, so a bad address fails createHost with a ConfigError rather than somewhere inside libp2p.
  parseBootstrapList(init.list)
  return (components) => new BootstrapDialer(components, init)
}

/** The one sleep (@sherd/protocol's); an abort here ends the wait, and the loop sees the signal. */
async function pauseUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, signal).catch(() => {})
}
