import { readFileSync } from 'node:fs'
import cliProgress from 'cli-progress'
import { parseCapability, parseLink } from '@sherd/protocol'
import type { TokenInfo } from '@sherd/contracts'
import type { ChainConnection } from '../chain.js'
import type { ClientConfig, SherdClient } from '../client.js'
import { DEFAULT_DISCOVERY_TIMEOUT_MS } from '../constants.js'
import { ClientConfigError } from '../errors.js'

/** What main() writes to and reads from; injectable so tests run the CLI in-process. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  /** What `put -` reads (process.stdin by default). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean }
}

/** The command line is wrong: printed with the command's help, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** An expected failure the CLI detects itself (a missing input file, a directory): its message only, exit 1. */
export class CliError extends Error {
  override name = 'CliError'
}

/** What every `sherd` command's `run` gets besides its arguments. */
export interface CliContext {
  io: CliIo
  signal: AbortSignal
}

/** What a command's `run` gets: the context and the configuration its flags, environment and config file give. */
export interface CommandContext extends CliContext {
  config: ClientConfig
}

/** Said before anything starts, so a command that pays or reads the chain fails at once when it has none. */
export function requireChain(config: ClientConfig, command: string): void {
  if (config.contract === undefined || config.rpcUrl === undefined) {
    throw new ClientConfigError(
      `${command} needs the chain: pass --deployment <file>, or --rpc-url and --contract (or set SHERD_DEPLOYMENT, or SHERD_RPC_URL and SHERD_CONTRACT; the devnet prints them)`
    )
  }
}

/** `expected <usage>` unless exactly `n` arguments were given. */
export function expectArgs(positionals: string[], n: number, usage: string): void {
  if (positionals.length !== n) throw new UsageError(`expected ${usage}`)
}

export function json(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) =>
      typeof v === 'bigint'
        ? v.toString()
        : v !== null && typeof v === 'object' && 'bytes' in v && 'version' in v && 'code' in v
          ? String(v)
          : v,
    2
  )
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return (
    rows
      .map((r) =>
        r
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join('  ')
          .trimEnd()
      )
      .join('\n') + '\n'
  )
}

export function short(peerId: string | undefined): string {
  return peerId === undefined ? '-' : `…${peerId.slice(-8)}`
}

export function progressBar(io: CliIo, enabled: boolean, format: string): cliProgress.SingleBar | undefined {
  if (!enabled || io.stderr.isTTY !== true) return undefined
  return new cliProgress.SingleBar(
    { format, stream: io.stderr as NodeJS.WritableStream, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic
  )
}

export async function withClient<T>(
  config: ClientConfig,
  signal: AbortSignal,
  fn: (client: SherdClient) => Promise<T>
): Promise<T> {
  const { createClient } = await import('../client.js')
  const client = createClient(config)
  await client.start({ signal })
  try {
    return await fn(client)
  } finally {
    await client.stop()
  }
}

/**
 * For commands that read only chain state (`wallet`, `ls`): connects to the chain and checks the market without
 * loading libp2p or contacting a provider, so they finish in well under a second. `fn` gets the connection and
 * the token's units.
 */
export async function withChainOnly<T>(
  config: ClientConfig,
  signal: AbortSignal,
  fn: (chain: ChainConnection, units: TokenUnits) => Promise<T>
): Promise<T> {
  const { connectChain, marketToken } = await import('../chain.js')
  const chain = await connectChain(config, { signal })
  if (chain === undefined)
    throw new ClientConfigError(
      'this command reads the chain: pass --deployment <file>, or --rpc-url and --contract (or SHERD_DEPLOYMENT, or SHERD_RPC_URL and SHERD_CONTRACT; the devnet prints them)'
    )
  return await fn(chain, await tokenUnits(await marketToken(chain.market)))
}

/**
 * Starts a client that does not wait for announcements: the manifest is asked from the bootstrap providers at
 * once. If none of them serves it, falls back to waiting for announcements (other providers may) and tries again.
 */
export async function withManifestClient<T>(
  config: ClientConfig,
  signal: AbortSignal,
  fn: (client: SherdClient) => Promise<T>
): Promise<T> {
  return await withClient({ ...config, discoveryTimeoutMs: config.discoveryTimeoutMs ?? 0 }, signal, async (client) => {
    try {
      return await fn(client)
    } catch (err) {
      if ((err as Error).name !== 'ManifestNotFoundError' || config.discoveryTimeoutMs !== undefined) throw err
      await client.connect(config.bootstrap ?? [], { signal, timeoutMs: DEFAULT_DISCOVERY_TIMEOUT_MS })
      return await fn(client)
    }
  })
}

/** Amounts in the market's token: what every command prints and reads. */
export interface TokenUnits {
  readonly info: TokenInfo
  format: (amount: bigint) => string
  /** Reads an amount a person typed for `flag`; a malformed one is a usage error. */
  parse: (text: string, flag: string) => bigint
}

export async function tokenUnits(info: TokenInfo): Promise<TokenUnits> {
  const { formatTokenAmount, parseTokenAmount } = await import('@sherd/contracts')
  return {
    info,
    format: (amount) => formatTokenAmount(amount, info),
    parse: (text, flag) => {
      try {
        // Amounts are printed with thousands separators (1,000,000 SHERD): accept them back as typed.
        const plain = /^\s*\d{1,3}(,\d{3})+(\.\d+)?\s*[A-Za-z]*\s*$/.test(text) ? text.replaceAll(',', '') : text
        return parseTokenAmount(plain, info)
      } catch (err) {
        throw new UsageError(`${flag}: ${(err as Error).message}`, { cause: err })
      }
    }
  }
}

export async function clientUnits(client: SherdClient): Promise<TokenUnits> {
  return await tokenUnits(await client.tokenInfo())
}

export function tokenJson(info: TokenInfo): { address: string; symbol: string; decimals: number } {
  return { address: info.address, symbol: info.symbol, decimals: info.decimals }
}

/** Checks a link before anything connects: a garbage link costs no network. */
export function checkedLink(text: string): string {
  parseLink(text)
  return text
}

/** `checkedLink` for commands that also take a repair capability (`#r=`): stat, repair, extend. */
export function checkedTarget(text: string): string {
  parseCapability(text)
  return text
}

export function utc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
}

/** When storage ends, for people: exact for a mined block, "~" for an estimate; the block when no date is known. */
export function endText(endBlock: bigint | undefined, endsAtMs: number | undefined, head: bigint | undefined): string {
  if (endBlock === undefined) return '-'
  if (endsAtMs === undefined) return `block ${endBlock}`
  return head !== undefined && endBlock <= head ? utc(endsAtMs) : `~${utc(endsAtMs)}`
}

/** The package's version, read from its package.json (two levels above src/cli/ and dist/cli/). */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

// Errors that mean a bug in sherd rather than bad input or a failing network: the only ones worth a stack trace.
const BUG_ERRORS = new Set(['TypeError', 'ReferenceError', 'SyntaxError', 'RangeError'])

/** One or two lines for stderr: the error's name and message (which say what to do), never a stack unless asked. */
export function describeError(err: unknown, env: NodeJS.ProcessEnv): string {
  const e = err instanceof Error ? err : new Error(String(err))
  // viem's errors carry pages of detail; their shortMessage is the part a person can act on.
  const short = (e as { shortMessage?: unknown }).shortMessage
  const message = typeof short === 'string' ? short : e.message
  const systemError = typeof (e as NodeJS.ErrnoException).code === 'string' && e.name === 'Error'
  let text =
    e.name === 'Error' || e.name === 'CliError' || systemError
      ? `error: ${message}\n`
      : `error: ${e.name}: ${message}\n`
  if (env.SHERD_DEBUG !== undefined && env.SHERD_DEBUG !== '' && env.SHERD_DEBUG !== '0') text += `${e.stack ?? ''}\n`
  else if (BUG_ERRORS.has(e.name))
    text += 'this looks like a bug in sherd: run again with SHERD_DEBUG=1 for a stack trace and report it\n'
  return text
}
