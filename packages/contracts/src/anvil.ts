import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AnvilStartError } from './errors.js'
import { freePorts } from './ports.js'

/** Waiting longer than this for anvil to answer means it is not going to (it starts in well under a second). */
const ANVIL_START_TIMEOUT_MS = 15_000
/** Poll interval while waiting for the RPC to answer. */
const ANVIL_POLL_MS = 50
/** Grace after SIGTERM before SIGKILL on stop. */
const ANVIL_STOP_GRACE_MS = 3_000
/** Attempts at a free port: another process may take the port between probing and anvil binding it. */
const ANVIL_PORT_ATTEMPTS = 3

/** anvil's well-known development mnemonic: its first accounts are funded with 10,000 ETH each. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

export interface StartAnvilOptions {
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number
  /** Seconds between blocks (interval mining); automine (a block per transaction) when omitted. */
  blockTime?: number
  /** Chain id; anvil's default 31337 when omitted. */
  chainId?: number
  /** Number of funded dev accounts (default 10). */
  accounts?: number
  /** Mnemonic for the dev accounts (default `ANVIL_MNEMONIC`). */
  mnemonic?: string
  /** Hardfork name; anvil's default (latest) when omitted. */
  hardfork?: string
  /** Block gas limit. */
  gasLimit?: bigint
  /** Extra command-line arguments. */
  args?: string[]
  /** Path of the anvil binary; resolved from `@foundry-rs/anvil` when omitted. */
  binary?: string
  /** How long to wait for the RPC to answer. */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface Anvil {
  /** HTTP JSON-RPC URL. */
  readonly url: string
  /** WebSocket JSON-RPC URL. */
  readonly wsUrl: string
  readonly port: number
  readonly chainId: number
  readonly pid: number
  /** Stops anvil (SIGTERM, then SIGKILL after a grace period) and waits for it to exit. Idempotent. */
  stop: () => Promise<void>
  /** anvil's own HOME (it keeps offloaded states under .foundry/ there); removed when it stops. */
  home: string
}

/** Each running anvil and the HOME it was given (removed once it exits). */
const children = new Map<ChildProcess, string>()
let exitHookInstalled = false

// A parent that exits without stopping anvil would orphan it: kill what is left, synchronously, on the way out.
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once('exit', () => {
    for (const [child, home] of children) {
      child.kill('SIGKILL')
      rmSync(home, { recursive: true, force: true })
    }
  })
}

/**
 * The anvil executable. The `@foundry-rs/anvil` wrapper (node_modules/.bin/anvil) is a Node script that spawns the
 * platform binary from `@foundry-rs/anvil-<os>-<arch>`; spawning that binary directly leaves one process to stop.
 */
export function resolveAnvilBinary(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const name = process.platform === 'win32' ? 'anvil.exe' : 'anvil'
  const require = createRequire(import.meta.url)
  const candidates: string[] = []
  try {
    const wrapper = require.resolve('@foundry-rs/anvil/package.json')
    const fromWrapper = createRequire(wrapper)
    candidates.push(fromWrapper.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/bin/${name}`))
  } catch {}
  try {
    candidates.push(require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/bin/${name}`))
  } catch {}
  // Fall back to the wrapper in the nearest node_modules/.bin (stop() then signals the wrapper, which forwards).
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    candidates.push(join(dir, 'node_modules', '.bin', name))
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  const found = candidates.find((path) => existsSync(path))
  if (found === undefined) {
    throw new AnvilStartError('anvil not found: install @foundry-rs/anvil (npm install) or pass { binary }')
  }
  return found
}

async function rpcChainId(url: string, signal: AbortSignal): Promise<number | undefined> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal
    })
    const body = (await response.json()) as { result?: string }
    return typeof body.result === 'string' ? Number(BigInt(body.result)) : undefined
  } catch {
    return undefined
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        resolve()
      })
    })
    child.kill('SIGTERM')
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
    }, ANVIL_STOP_GRACE_MS)
    await exited
    clearTimeout(timer)
  }
  const home = children.get(child)
  children.delete(child)
  if (home !== undefined) rmSync(home, { recursive: true, force: true })
}

async function startOnce(binary: string, port: number, options: StartAnvilOptions): Promise<Anvil> {
  const args = ['--host', '127.0.0.1', '--port', String(port)]
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime))
  if (options.chainId !== undefined) args.push('--chain-id', String(options.chainId))
  if (options.accounts !== undefined) args.push('--accounts', String(options.accounts))
  if (options.mnemonic !== undefined) args.push('--mnemonic', options.mnemonic)
  if (options.hardfork !== undefined) args.push('--hardfork', options.hardfork)
  if (options.gasLimit !== undefined) args.push('--gas-limit', options.gasLimit.toString())
  args.push(...(options.args ?? []))

  installExitHook()
  // anvil offloads old states to $HOME/.foundry/anvil/tmp/anvil-state-* and never deletes them, not even on a clean
  // SIGTERM: 76 GB of them once filled this machine's disk. A HOME of its own, removed when it exits, keeps them
  // (and anything else anvil writes there) from outliving it. (--max-persisted-states 0 stops the offloading too,
  // but a test run with it once found anvil hung in the 10,000-deal test; the cause was not confirmed.)
  const home = mkdtempSync(join(tmpdir(), 'sherd-anvil-home-'))
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: home } })
  children.set(child, home)
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4096)
  })
  // Readiness is anvil saying it listens (so an RPC answer on the port is ours, not another process's); stdout is
  // then drained and dropped (anvil logs every transaction there, and a full pipe would stall it).
  let stdout = ''
  let listening = false
  child.stdout?.on('data', (chunk: Buffer) => {
    if (listening) return
    stdout = (stdout + chunk.toString()).slice(-4096)
    listening = stdout.includes(`Listening on 127.0.0.1:${port}`)
  })
  let spawnError: Error | undefined
  child.once('error', (err) => {
    spawnError = err
  })

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + (options.timeoutMs ?? ANVIL_START_TIMEOUT_MS)
  try {
    for (;;) {
      options.signal?.throwIfAborted()
      if (spawnError !== undefined) throw new AnvilStartError(`cannot run ${binary}: ${spawnError.message}`)
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new AnvilStartError(
          `anvil exited (${child.exitCode ?? child.signalCode}) on port ${port}: ${(stderr || stdout).trim()}`
        )
      }
      const chainId = listening ? await rpcChainId(url, AbortSignal.timeout(1_000)) : undefined
      if (chainId !== undefined) {
        let stopping: Promise<void> | undefined
        return {
          url,
          wsUrl: `ws://127.0.0.1:${port}`,
          port,
          chainId,
          pid: child.pid ?? -1,
          home,
          stop: async () => {
            stopping ??= stopChild(child)
            await stopping
          }
        }
      }
      if (Date.now() > deadline) {
        throw new AnvilStartError(
          `anvil did not answer on ${url} within ${options.timeoutMs ?? ANVIL_START_TIMEOUT_MS} ms`
        )
      }
      await new Promise((resolve) => setTimeout(resolve, ANVIL_POLL_MS))
    }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

/**
 * Starts anvil on 127.0.0.1 (a free port unless `port` is given) and resolves once it answers JSON-RPC.
 * Call `stop()` when done; a process that exits without doing so kills it on the way out.
 *
 * @example
 * const anvil = await startAnvil({ blockTime: 1 })
 * try { ... createPublicClient({ transport: http(anvil.url) }) ... } finally { await anvil.stop() }
 */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<Anvil> {
  const binary = options.binary ?? resolveAnvilBinary()
  if (options.port !== undefined) return await startOnce(binary, options.port, options)
  let lastError: unknown
  for (let attempt = 0; attempt < ANVIL_PORT_ATTEMPTS; attempt++) {
    options.signal?.throwIfAborted()
    try {
      return await startOnce(binary, (await freePorts(1))[0]!, options)
    } catch (err) {
      if (!(err instanceof AnvilStartError) || !err.message.includes('exited')) throw err
      lastError = err
    }
  }
  throw lastError
}
