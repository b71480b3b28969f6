import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import type { WriteStream } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { NodeStatus, ReadyInfo } from '@sherd/node'
import type { Address, Hex } from 'viem'
import { trackChild, untrackChild } from './cleanup.js'
import {
  DEVNET_CLAIM_EVERY_PERIODS,
  LOG_TAIL_LINES,
  PROVIDER_INIT_TIMEOUT_MS,
  PROVIDER_START_TIMEOUT_MS,
  PROVIDER_STOP_GRACE_MS
} from './constants.js'
import { DevnetStartError, NotBuiltError, ProviderExitedError, ProviderStateError } from './errors.js'

/** Where `sherd-node` lives: the `@sherd/node` package's bin, found through node_modules like any dependency. */
export function resolveNodeBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const bin = join(dir, 'node_modules', '@sherd', 'node', 'bin', 'sherd-node.js')
    if (existsSync(bin)) {
      if (!existsSync(join(dirname(bin), '..', 'dist', 'cli.js'))) {
        throw new NotBuiltError(`${bin} needs the built package (dist/cli.js is missing): run \`npm run build\` first`)
      }
      return bin
    }
    const parent = dirname(dir)
    if (parent === dir) throw new NotBuiltError('@sherd/node is not installed next to @sherd/devnet: run `npm install`')
    dir = parent
  }
}

/** The command that runs `sherd-node`: this Node (the pinned 24) on the package's bin. */
export function defaultNodeCommand(): string[] {
  return [process.execPath, resolveNodeBin()]
}

/** `/ws` and `/wss` (also written `/tls/ws`) addresses: a TCP-only dialer cannot use them. */
export function isWebSocketAddr(addr: string): boolean {
  return /\/(ws|wss)(\/|$)/.test(addr)
}

export type ProviderState = 'initialised' | 'starting' | 'running' | 'stopping' | 'stopped' | 'killed' | 'crashed'

export interface ProviderProcessInit {
  index: number
  dataDir: string
  logFile: string
  /** Provider's chain key (an anvil mnemonic account: funded with ETH, minted tokens). */
  evmKey: Hex
  libp2pPort: number
  /** The WebSocket listener's port (`/ip4/127.0.0.1/tcp/<port>/ws`), which browsers dial. */
  wsPort: number
  httpPort: number
  /** Peers the provider stays connected to (`--bootstrap`): provider 0's addresses for every other provider. */
  bootstrap?: readonly string[]
  /** The market's deployment file: chain id, market and token come from it. */
  deploymentFile: string
  /** The RPC the provider uses (the devnet's proxy in front of anvil when it has one; wins over the file's). */
  rpcUrl: string
  capacityBytes: number
  pricePerMiB: bigint
  stake: bigint
  announceIntervalMs: number
  /** argv prefix that runs `sherd-node` (default: this Node on @sherd/node's bin). */
  command: string[]
  env?: NodeJS.ProcessEnv
}

/** What the devnet knows of a provider. */
export interface ProviderInfo {
  index: number
  peerId: string
  chainAddress: Address
  /** libp2p TCP addresses, each ending in /p2p/<peerId> (what the Node SDK and other providers dial). */
  multiaddrs: string[]
  /** libp2p WebSocket addresses (`…/tcp/<port>/ws/p2p/<peerId>`), for browsers; same protocols as over TCP. */
  wsMultiaddrs: string[]
  httpUrl: string
  dataDir: string
  logFile: string
}

/**
 * One `sherd-node` process: `init` once, then `start`/`stop`/`kill`/`restart` as often as wanted, always on the
 * same data dir, keys and ports. stderr goes to a log file (and the last lines are kept to explain a crash).
 */
export class ProviderProcess {
  readonly index: number
  readonly dataDir: string
  readonly logFile: string
  private readonly init: ProviderProcessInit
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined
  private log: WriteStream | undefined
  private readonly tail: string[] = []
  private ready: ReadyInfo | undefined
  private expectExit = false
  state: ProviderState = 'stopped'
  /** Called when the process exits on its own (not through stop/kill). */
  onCrash: ((provider: ProviderProcess, code: number | null, signal: string | null) => void) | undefined

  constructor(init: ProviderProcessInit) {
    this.init = init
    this.index = init.index
    this.dataDir = init.dataDir
    this.logFile = init.logFile
  }

  get pid(): number | undefined {
    return this.child?.pid
  }
  /** Has printed its ready line at least once (its identity is known). */
  get started(): boolean {
    return this.ready !== undefined
  }
  get running(): boolean {
    return this.state === 'running'
  }

  get info(): ProviderInfo {
    if (this.ready === undefined) throw new ProviderStateError(`provider ${this.index} has not started yet`)
    return {
      index: this.index,
      peerId: this.ready.peerId,
      chainAddress: this.ready.chainAddress as Address,
      multiaddrs: this.ready.multiaddrs.filter((a) => !isWebSocketAddr(a)),
      wsMultiaddrs: this.ready.multiaddrs.filter(isWebSocketAddr),
      httpUrl: this.ready.httpUrl,
      dataDir: this.dataDir,
      logFile: this.logFile
    }
  }

  /** `sherd-node init` with the devnet's keys, ports and chain. */
  async initDataDir(options: { signal?: AbortSignal } = {}): Promise<void> {
    const i = this.init
    const args = [
      'init',
      '--data-dir',
      i.dataDir,
      '--evm-key',
      i.evmKey,
      '--listen',
      `/ip4/127.0.0.1/tcp/${i.libp2pPort}`,
      '--listen-ws',
      `/ip4/127.0.0.1/tcp/${i.wsPort}/ws`,
      '--http-port',
      String(i.httpPort),
      '--capacity',
      String(i.capacityBytes),
      // Base units with their suffix: the devnet's amounts are bigints already, and a bare number would mean tokens.
      '--price',
      `${i.pricePerMiB}base`,
      '--stake',
      `${i.stake}base`,
      '--deployment',
      i.deploymentFile,
      '--rpc-url',
      i.rpcUrl,
      ...(i.bootstrap ?? []).flatMap((addr) => ['--bootstrap', addr])
    ]
    const child = this.spawn(args)
    let stdout = ''
    let stderr = ''
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const signal = AbortSignal.any([
      AbortSignal.timeout(PROVIDER_INIT_TIMEOUT_MS),
      ...(options.signal === undefined ? [] : [options.signal])
    ])
    const onAbort = (): void => {
      child.kill('SIGKILL')
    }
    signal.addEventListener('abort', onAbort, { once: true })
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => {
        resolve(c)
      })
    })
    signal.removeEventListener('abort', onAbort)
    untrackChild(child)
    options.signal?.throwIfAborted()
    if (code !== 0) {
      const why = signal.aborted ? `timed out after ${PROVIDER_INIT_TIMEOUT_MS} ms (a busy machine?)` : `exit ${code}`
      throw new DevnetStartError(
        `sherd-node init for provider ${this.index} failed (${why}): ${(stderr || stdout).trim()}`
      )
    }
    this.state = 'initialised'
  }

  /** Starts `sherd-node start` and resolves with its ready line (after it has registered on chain). */
  async start(options: { signal?: AbortSignal } = {}): Promise<ProviderInfo> {
    if (this.child !== undefined)
      throw new ProviderStateError(`provider ${this.index} is already running (pid ${this.child.pid})`)
    this.log ??= createWriteStream(this.logFile, { flags: 'a' })
    this.log.write(`--- ${new Date().toISOString()} sherd-node start\n`)
    this.state = 'starting'
    this.expectExit = false
    const child = this.spawn([
      'start',
      '--data-dir',
      this.dataDir,
      '--announce-interval-ms',
      String(this.init.announceIntervalMs),
      '--withdraw-every',
      String(DEVNET_CLAIM_EVERY_PERIODS)
    ])
    this.child = child
    child.stderr?.on('data', (d: Buffer) => {
      this.log?.write(d)
      for (const line of d.toString().split('\n')) if (line !== '') this.tail.push(line)
      this.tail.splice(0, Math.max(0, this.tail.length - LOG_TAIL_LINES))
    })
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        untrackChild(child)
        if (this.child === child) this.child = undefined
        this.log?.write(`--- ${new Date().toISOString()} exited (${code ?? signal})\n`)
        if (!this.expectExit) {
          this.state = 'crashed'
          this.onCrash?.(this, code, signal)
        }
        resolve()
      })
    })
    const lines = createInterface({ input: child.stdout! })
    try {
      const signal = AbortSignal.any([
        AbortSignal.timeout(PROVIDER_START_TIMEOUT_MS),
        ...(options.signal === undefined ? [] : [options.signal])
      ])
      this.ready = await new Promise<ReadyInfo>((resolve, reject) => {
        const onAbort = (): void => {
          cleanup()
          reject(
            options.signal?.aborted === true
              ? options.signal.reason
              : new DevnetStartError(
                  `provider ${this.index} did not print its ready line within ${PROVIDER_START_TIMEOUT_MS} ms; see ${this.logFile}`
                )
          )
        }
        const onLine = (line: string): void => {
          let parsed: unknown
          try {
            parsed = JSON.parse(line)
          } catch {
            return
          }
          if ((parsed as { event?: unknown }).event === 'ready') {
            cleanup()
            resolve(parsed as ReadyInfo)
          }
        }
        const onExit = (code: number | null, sig: string | null): void => {
          cleanup()
          reject(
            new ProviderExitedError(
              `provider ${this.index} exited (${code ?? sig}) before it was ready: ${this.lastLines()}`
            )
          )
        }
        const cleanup = (): void => {
          signal.removeEventListener('abort', onAbort)
          lines.off('line', onLine)
          child.off('exit', onExit)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        lines.on('line', onLine)
        child.once('exit', onExit)
      })
    } catch (err) {
      await this.kill()
      throw err
    }
    // Nothing else is printed on stdout; keep draining it so a stray write never blocks the node.
    lines.on('line', () => {})
    this.state = 'running'
    return this.info
  }

  /** SIGTERM (graceful: transfers finish or are undone, LevelDB closes), SIGKILL after a grace period. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM', 'stopped')
  }

  /** SIGKILL: the provider dies at once, as in a crash or power loss. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL', 'killed')
  }

  /** Stops (gracefully) if running, then starts again on the same data dir and ports. */
  async restart(options: { signal?: AbortSignal } = {}): Promise<ProviderInfo> {
    await this.stop()
    return await this.start(options)
  }

  /** The node's `/status` (its HTTP API). */
  async status(options: { signal?: AbortSignal } = {}): Promise<NodeStatus> {
    const res = await fetch(`${this.info.httpUrl}/status`, { signal: options.signal ?? AbortSignal.timeout(5_000) })
    if (!res.ok) throw new ProviderStateError(`provider ${this.index} answered /status with HTTP ${res.status}`)
    return (await res.json()) as NodeStatus
  }

  /** The last lines the process wrote to stderr. */
  lastLines(): string {
    return this.tail.join('\n')
  }

  /** Closes the log file (after the process is gone). */
  async close(): Promise<void> {
    const log = this.log
    this.log = undefined
    if (log !== undefined) await new Promise((resolve) => log.end(resolve))
  }

  private async signal(sig: 'SIGTERM' | 'SIGKILL', state: ProviderState): Promise<void> {
    const child = this.child
    if (child === undefined) return
    this.expectExit = true
    this.state = 'stopping'
    child.kill(sig)
    const timer =
      sig === 'SIGTERM'
        ? setTimeout(() => {
            child.kill('SIGKILL')
          }, PROVIDER_STOP_GRACE_MS)
        : undefined
    await this.exited
    clearTimeout(timer)
    this.state = state
  }

  private spawn(args: string[]): ChildProcess {
    const [file, ...prefix] = this.init.command
    if (file === undefined) throw new ProviderStateError('the sherd-node command is empty')
    const child = spawn(file, [...prefix, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.init.env }
    })
    trackChild(child)
    return child
  }
}
