import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { open, stat as fsStat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, delimiter, dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { manifestBytesMatch, openManifest, parseCapability, parseLink } from '@sherd/protocol'
import type { MarketDeploymentRecord, TokenInfo } from '@sherd/contracts'
import type { Hex } from 'viem'
// Only types from the SDK's networked half: chain.js (viem) and client.js (libp2p) are imported when a command
// needs them, so link checks, --help and chain-only commands do not pay for loading libp2p (see `withClient`).
import type { ChainConnection } from './chain.js'
import type { ClientConfig, SherdClient } from './client.js'
import { DEFAULT_DISCOVERY_TIMEOUT_MS } from './constants.js'
import { ClientConfigError } from './errors.js'
import { InvalidRangeError } from './pipeline/index.js'
import { directoryManifestCache } from './manifest-cache.js'
import { defaultJournalDir } from './journal.js'
import { putCommand, lsCommand } from './cli-put.js'
import { keeperCommand } from './cli-keeper.js'
import { publishRepair } from './cli-repair-publish.js'
import type { GetProgressEvent } from './events.js'
import type { RepairProgressEvent } from './actions/repair.js'
import type { PutSource } from './actions/put.js'
import type { FileStat } from './actions/stat.js'
import { checkOutput, writeFileAtomically } from './output-file.js'

const ENV_HELP = `Configuration (flags override environment, which overrides the config file):
  --deployment <file>      SHERD_DEPLOYMENT    a market deployment file (sherd-market deploy, the devnet): chain id,
                                               RPC URL, market and token; --rpc-url and --contract still win
  --rpc-url <url>          SHERD_RPC_URL       chain JSON-RPC endpoint
  --contract <address>     SHERD_CONTRACT      ProofSetMarket address
  --private-key <0x...>    SHERD_PRIVATE_KEY   paying account (put, repair, extend, delete, wallet)
  --bootstrap <multiaddr>  SHERD_BOOTSTRAP     provider address(es) /ip4/../tcp/../p2p/<id>; repeat the flag,
                                               or separate with commas/spaces in the variable
  --config <file>          SHERD_CONFIG        JSON config file (default ~/.config/sherd/config.json) with
                                               {"rpcUrl","contract","privateKey","bootstrap":[...],"k","m",
                                                "segmentSize","periods","scoreFile","journalDir"}
  --score-file <file>      SHERD_SCORE_FILE    where provider scores persist (default ~/.config/sherd/scores.json)
  --json                   machine-readable output on stdout (amounts as base-unit strings; "token" gives the
                           decimals and symbol)
  -h, --help               help for any command

Amounts are in the market's token (e.g. 2.5 or 2.5SHERD); base units need a suffix: 2500000000000000000base.
Errors print what went wrong and what to do, exit 1; usage errors exit 2. SHERD_DEBUG=1 adds stack traces.`

const HELP: Record<string, string> = {
  main: `sherd: store files on the Sherd network

Usage: sherd <command> [flags]
       sherd --version

Commands:
  put <file|->             encrypt, erasure-code and store a file (- reads stdin); prints its sherd:// link
                           (--dry-run: cost and placement only; --resume: finish an interrupted put)
  ls                       your files (from the put journal): size, cost, expiry, health
  get <link> [-o file]     fetch, verify and decrypt a file (to stdout without -o; --range START-END for part of it)
  stat <link>              where each shard is, its deal state, periods proven, what is claimable, when storage ends
  repair <link>            rebuild shards whose deals faulted or failed or whose providers are gone; prints the new link
  extend <link> <periods>  extend every live deal of the file by <periods> proving periods (one transaction)
  delete <link>            stop paying: claim the deals that are over, withdraw refunds
  audit <link>             ask the providers to prove the file's shards now (a bond per deal); report or fail them
  keeper <command>         the repair keeper: capability, add, remove, list, start (sherd keeper --help)
  providers                known providers: price, free capacity, score
  wallet                   the paying account's address and token balance
  devnet [args]            run a local network: spawns \`sherd-devnet\` (from @sherd/devnet) with these args

Run \`sherd <command> --help\` for a command's flags.

${ENV_HELP}`,
  put: `Usage: sherd put <file> [flags]
       sherd put - [flags]      (reads the file from stdin; /dev/stdin works too)

  -k <n>                   data shards per segment (default 4)
  -m <n>                   parity shards per segment (default 2)
  --segment-size <bytes>   plaintext bytes per segment (default 268435456 = 256 MiB for a file, streamed; 32 MiB from stdin)
  --periods <n>            proving periods each deal runs (default 16); extend adds more later
  --extra-uploads <n>      stdin: spare uploads raced against the slowest (default 2)
  --spare-shards <n>       a file: extra parity shards uploaded per segment, the first k + m to finish kept
                           (default 0; 1 rides out one slow or failing provider per segment)
  --wait                   wait until the deals' terms begin (the period after they open); --no-wait: not
                           (the default: a deal is binding once opened)
  --max-price <amount>     skip providers asking more per MiB per period, in tokens (e.g. 0.5), or base units
                           with a suffix (500000000000000000base)
  --dry-run                show the cost and where the shards would go; upload and spend nothing
  --resume [<id>]          finish an interrupted put from its journal entry (all unfinished entries of
                           this chain and account without <id>); safe to run again
  --abandon <id>           give an interrupted put up: open nothing more, claim what the market allows
                           and withdraw the refunds (opened deals cannot be cancelled: prefer --resume)
  --journal-dir <dir>      SHERD_JOURNAL_DIR   where puts are recorded (default
                           $XDG_DATA_HOME/sherd/files, else ~/.local/share/sherd/files)
  --progress-json          one JSON line per progress event on stderr (for scripts)

Before uploading, put checks that the account holds the tokens for every deal and says how much is missing.
Each provider signs its offer once it holds its shard. Before its first transaction put records the file key,
the shards' offers and its state in the journal (mode 0600: it holds the keys to your files); deals open in
batches (one openDeals transaction each), every batch recorded before it is sent and its deals once mined.
Interrupted (Ctrl-C, a crash, a lost connection) after that point, it prints the entry's id: \`sherd put --resume
<id>\` opens the deals still missing (asking the chain which ones already are, so none is paid twice), stores
the manifest and prints the link. \`sherd ls\` lists every entry.

Prints the link on stdout (keep it: it holds the file key) and the escrow paid on stderr. With --json:
{"link","cid","fileSize","segments","deals","escrow","token","journal"} (escrow in base units).

${ENV_HELP}`,
  get: `Usage: sherd get <link> [-o <file>] [--force] [--range START-END]

  -o, --output <file>      write the file here (default: stdout; "-o -" is stdout too)
  -f, --force              replace <file> if it exists
      --range START-END    only bytes START to END of the file, both included, counted from 0 (as in HTTP:
                           0-1023 is the first KiB); START- reads to the end. Only the stripes holding them
                           are fetched.

Every 64 KiB chunk is authenticated by its AES-GCM tag before use; a provider that is down or lies costs a
request for the same bytes from other shards (parity) instead.
With -o the file is written to a temporary file beside it (.<name>.sherd-<random>.part), synced and renamed to
<file> only once every byte is verified: a failed or interrupted get leaves an existing <file> as it was. An
existing <file> is refused (before anything is fetched) unless --force.

${ENV_HELP}`,
  ls: `Usage: sherd ls [--journal-dir <dir>]

Lists the files in the put journal (every put made from this machine, finished or not): id, name, size, cost
(the escrow of its deals), expiry (when its first deal ends; the date is estimated from the chain's recent
block times) and health (healthy, degraded: run sherd repair, expired, interrupted: run sherd put --resume
<id>, deleted: sherd delete was run, and the expiry reads "ends <date>, not renewed"). Reads the chain only (--rpc-url, --contract); contacts no provider. Without a chain it lists what the
journal holds. With --json: every entry with its link and deal states.

  --journal-dir <dir>      SHERD_JOURNAL_DIR   the journal (default $XDG_DATA_HOME/sherd/files, else
                           ~/.local/share/sherd/files)

${ENV_HELP}`,
  stat: `Usage: sherd stat <link> [--no-probe]

  --no-probe               do not dial the shards' providers: fetch the manifest from the --bootstrap providers
                           at once (without waiting for announcements) and read the rest from the chain

Per segment and shard: provider, deal, state (live, declared, faulted, failed, ended, unfunded), periods
proven and missed of those closed, what a claim would pay the provider and refund you, when its storage ends
(UTC; "~" marks an estimate from the chain's recent block times), price per period, provider online and local
score. The first line says until when the whole file is stored (its weakest segment's k-th longest deal) and
what it costs per period.

${ENV_HELP}`,
  repair: `Usage: sherd repair <link> [--periods <n>] [--include-missed] [--wait]

Rebuilds shards whose deals faulted, were declared lost, failed or ended, or whose providers do not answer,
from k good shards, places them on new providers, opens their deals through the put journal (an interrupted
repair is finished with sherd put --resume <id>) and writes a new manifest version. Prints the new link, and
publishes it as the file's latest version (as the keeper does), so sherd get with an older link reads it.

${ENV_HELP}`,
  extend: `Usage: sherd extend <link> <periods>

Extends every live deal of the file by <periods> proving periods in one transaction (approves the total once)
and prints the cost. A deal is left out, with the reason, when it is not live, its term is over, or its new
term would pass its provider's limit (maxTermPeriods); exits 1 then, naming each deal and why (run sherd repair
to place those shards under new deals).

${ENV_HELP}`,
  delete: `Usage: sherd delete <link>

Records the deletion in the put journal, then claims every deal of the file whose term is over or that is void
(paying its provider the periods it proved, refunding the rest) and withdraws the refunds. Deals are never
renewed; the market has no early termination, so live deals run to the end of their term.

${ENV_HELP}`,
  audit: `Usage: sherd audit <link> [--shard <segment>:<shard>]... [--no-wait]

For each shard (all with a live deal, or those given with --shard), asks the market for an on-demand audit:
the provider must prove 10 random leaves of it in the next period. The market's bond (0.1 token by default)
is deposited per deal: it pays the provider's gas when answered. Waits until each audit is answered or its
period has closed unanswered, then fails it: the deal faults, its provider's collateral is slashed, and the
bond comes back with a reward (withdrawn). Run sherd repair afterwards to move failed shards. --no-wait only
requests; running audit again later settles the open audits (none is requested twice). Exits 1 when any audit
failed.

${ENV_HELP}`,
  providers: `Usage: sherd providers

Table of the providers known from announcements, the on-chain registry and --bootstrap: peer id, chain address,
price per MiB per period and free bytes (announced), free stake and longest term accepted (chain), announced
recently, local score (transfer successes/failures, corrupt bytes, proofs missed).

${ENV_HELP}`,
  wallet: `Usage: sherd wallet

The paying account's address, token, token balance, gas balance and refunds waiting in the market. Reads the
chain only (no provider is contacted).

${ENV_HELP}`,
  devnet: `Usage: sherd devnet [--providers N] [other sherd-devnet flags]

The local network lives in @sherd/devnet, which the client does not import: this command runs its
\`sherd-devnet\` binary (found on PATH or in node_modules/.bin) with the same arguments and passes its output
and exit code through. \`sherd devnet --help\` shows this text; \`sherd-devnet --help\` shows the devnet's own.`
}

/** What main() writes to and reads from; injectable so tests run the CLI in-process. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  /** What `put -` reads (process.stdin by default). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean }
}

/** The command line is wrong: printed with the command's help, exit 2. */
class UsageError extends Error {
  override name = 'UsageError'
}

/** An expected failure the CLI detects itself (a missing input file, a directory): its message only, exit 1. */
class CliError extends Error {
  override name = 'CliError'
}

interface FileConfig {
  deployment?: string
  rpcUrl?: string
  contract?: string
  privateKey?: string
  bootstrap?: string[] | string
  k?: number
  m?: number
  segmentSize?: number
  periods?: number
  scoreFile?: string
  journalDir?: string
}

function configDir (env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'sherd')
}

/** Where sealed manifests are cached: SHERD_CACHE_DIR, else $XDG_CACHE_HOME/sherd, else ~/.cache/sherd. */
function manifestCacheDir (env: NodeJS.ProcessEnv): string {
  return join(env.SHERD_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sherd'), 'manifests')
}

function readConfigFile (path: string, explicit: boolean): FileConfig {
  if (!existsSync(path)) {
    if (explicit) throw new ClientConfigError(`config file ${path} does not exist`)
    return {}
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as FileConfig
  } catch (err) {
    throw new ClientConfigError(`config file ${path} is not valid JSON (${(err as Error).message}); fix or remove it`)
  }
}

function splitList (value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  const list = Array.isArray(value) ? value : [value]
  return list.flatMap((v) => v.split(/[\s,]+/)).filter((v) => v.length > 0)
}

function intOption (value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${name} must be a non-negative integer, got "${value}"`)
  return n
}

const GLOBAL_OPTIONS = {
  deployment: { type: 'string' },
  'rpc-url': { type: 'string' },
  contract: { type: 'string' },
  'private-key': { type: 'string' },
  bootstrap: { type: 'string', multiple: true },
  config: { type: 'string' },
  'score-file': { type: 'string' },
  'discovery-timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  // command flags (accepted everywhere; each command reads its own)
  k: { type: 'string', short: 'k' },
  m: { type: 'string', short: 'm' },
  'segment-size': { type: 'string' },
  periods: { type: 'string' },
  'extra-uploads': { type: 'string' },
  'spare-shards': { type: 'string' },
  'no-wait': { type: 'boolean' },
  wait: { type: 'boolean' },
  shard: { type: 'string', multiple: true },
  'max-price': { type: 'string' },
  output: { type: 'string', short: 'o' },
  range: { type: 'string' },
  'no-probe': { type: 'boolean' },
  'include-missed': { type: 'boolean' },
  force: { type: 'boolean', short: 'f' },
  version: { type: 'boolean', short: 'V' },
  'dry-run': { type: 'boolean' },
  resume: { type: 'boolean' },
  abandon: { type: 'string' },
  'journal-dir': { type: 'string' },
  'progress-json': { type: 'boolean' }
} as const

type Values = ReturnType<typeof parseArgs<{ options: typeof GLOBAL_OPTIONS, allowPositionals: true }>>['values']

/**
 * Flags over the deployment file over environment over config file. The deployment file (--deployment, else
 * SHERD_DEPLOYMENT, else "deployment" in the config file) names a network as a whole, so it wins over the other
 * variables (a devnet.env left in the shell must not mix with it), but a flag typed now wins over everything.
 */
async function clientConfig (values: Values, env: NodeJS.ProcessEnv): Promise<ClientConfig> {
  const explicit = values.config ?? env.SHERD_CONFIG
  const file = readConfigFile(explicit ?? join(configDir(env), 'config.json'), explicit !== undefined)
  const deploymentPath = values.deployment ?? env.SHERD_DEPLOYMENT ?? file.deployment
  let deployment: MarketDeploymentRecord | undefined
  if (deploymentPath !== undefined && deploymentPath !== '') {
    const { readMarketDeployment } = await import('@sherd/contracts')
    deployment = await readMarketDeployment(resolve(deploymentPath))
  }
  const rpcUrl = values['rpc-url'] ?? deployment?.rpcUrl ?? env.SHERD_RPC_URL ?? file.rpcUrl
  const contract = values.contract ?? deployment?.market ?? env.SHERD_CONTRACT ?? file.contract
  const privateKey = values['private-key'] ?? env.SHERD_PRIVATE_KEY ?? file.privateKey
  const bootstrap = values.bootstrap !== undefined ? splitList(values.bootstrap) : env.SHERD_BOOTSTRAP !== undefined ? splitList(env.SHERD_BOOTSTRAP) : splitList(file.bootstrap)
  const k = intOption(values.k, '-k') ?? file.k
  const m = intOption(values.m, '-m') ?? file.m
  const segmentSize = intOption(values['segment-size'], '--segment-size') ?? file.segmentSize
  const periods = intOption(values.periods, '--periods') ?? file.periods
  const discovery = intOption(values['discovery-timeout-ms'], '--discovery-timeout-ms')
  if (privateKey !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(privateKey)) {
    throw new ClientConfigError('the private key (--private-key / SHERD_PRIVATE_KEY) must be 0x followed by 64 hex digits')
  }
  // A --contract other than the file's market is another deployment: the file's chain and token do not apply.
  const fromFile = deployment !== undefined && contract?.toLowerCase() === deployment.market.toLowerCase()
  return {
    ...(rpcUrl === undefined ? {} : { rpcUrl }),
    ...(contract === undefined ? {} : { contract }),
    ...(fromFile ? { expect: { chainId: deployment!.chainId, token: deployment!.token, source: deploymentPath! } } : {}),
    ...(privateKey === undefined ? {} : { account: privateKey as Hex }),
    bootstrap,
    ...(k === undefined ? {} : { k }),
    ...(m === undefined ? {} : { m }),
    ...(segmentSize === undefined ? {} : { segmentSize }),
    ...(periods === undefined ? {} : { periods }),
    ...(discovery === undefined ? {} : { discoveryTimeoutMs: discovery }),
    scoreFile: values['score-file'] ?? env.SHERD_SCORE_FILE ?? file.scoreFile ?? join(configDir(env), 'scores.json'),
    manifestCache: directoryManifestCache(manifestCacheDir(env)),
    journalDir: values['journal-dir'] ?? env.SHERD_JOURNAL_DIR ?? file.journalDir ?? defaultJournalDir(env)
  }
}

function json (value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : (v !== null && typeof v === 'object' && 'bytes' in v && 'version' in v && 'code' in v) ? String(v) : v, 2)
}

function mib (bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function short (peerId: string | undefined): string {
  return peerId === undefined ? '-' : `…${peerId.slice(-8)}`
}

/** Finds `sherd-devnet` on PATH or in a node_modules/.bin above the working directory or this package. */
export function resolveDevnetBinary (env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  const dirs = splitPath(env.PATH)
  for (const start of [cwd, dirname(fileURLToPath(import.meta.url))]) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      dirs.push(join(dir, 'node_modules', '.bin'))
      if (dirname(dir) === dir) break
    }
  }
  for (const dir of dirs) {
    const candidate = join(dir, 'sherd-devnet')
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

function splitPath (path: string | undefined): string[] {
  return (path ?? '').split(delimiter).filter((d) => d.length > 0)
}

async function runDevnet (args: string[], io: CliIo): Promise<number> {
  const binary = resolveDevnetBinary(io.env)
  if (binary === undefined) {
    io.stderr.write('error: sherd-devnet was not found on PATH or in node_modules/.bin: install @sherd/devnet (npm install in the Sherd repository) and try again\n')
    return 1
  }
  const child = spawn(binary, args, { stdio: 'inherit', env: io.env })
  const forward = (signal: NodeJS.Signals): void => { child.kill(signal) }
  process.on('SIGINT', forward)
  process.on('SIGTERM', forward)
  try {
    return await new Promise<number>((resolveExit, reject) => {
      child.once('error', reject)
      child.once('exit', (code, signal) => { resolveExit(code ?? (signal === null ? 1 : 128 + 2)) })
    })
  } finally {
    process.off('SIGINT', forward)
    process.off('SIGTERM', forward)
  }
}

function progressBar (io: CliIo, enabled: boolean, format: string): cliProgress.SingleBar | undefined {
  if (!enabled || io.stderr.isTTY !== true) return undefined
  return new cliProgress.SingleBar({ format, stream: io.stderr as NodeJS.WritableStream, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic)
}

async function withClient<T> (config: ClientConfig, signal: AbortSignal, fn: (client: SherdClient) => Promise<T>): Promise<T> {
  const { createClient } = await import('./client.js')
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
export async function withChainOnly<T> (config: ClientConfig, signal: AbortSignal, fn: (chain: ChainConnection, units: TokenUnits) => Promise<T>): Promise<T> {
  const { connectChain, marketToken } = await import('./chain.js')
  const chain = await connectChain(config, { signal })
  if (chain === undefined) throw new ClientConfigError('this command reads the chain: pass --deployment <file>, or --rpc-url and --contract (or SHERD_DEPLOYMENT, or SHERD_RPC_URL and SHERD_CONTRACT; the devnet prints them)')
  return await fn(chain, await tokenUnits(await marketToken(chain.market)))
}

/**
 * Starts a client that does not wait for announcements: the manifest is asked from the bootstrap providers at
 * once. If none of them serves it, falls back to waiting for announcements (other providers may) and tries again.
 */
async function withManifestClient<T> (config: ClientConfig, signal: AbortSignal, fn: (client: SherdClient) => Promise<T>): Promise<T> {
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

/**
 * `stat --no-probe` of a file whose sealed manifest is cached here (this machine put, repaired or read it): the
 * manifest is checked against its CID and opened with the link's key, the rest is chain state. No libp2p, no
 * provider. Undefined when the manifest is not cached or no chain is configured (the caller asks the providers).
 */
async function statFromCache (config: ClientConfig, link: string, signal: AbortSignal): Promise<{ s: FileStat, units: TokenUnits } | undefined> {
  if (config.manifestCache === undefined || config.contract === undefined) return undefined
  const { cid, key } = parseLink(link)
  const sealed = await config.manifestCache.read(cid.toString())
  if (sealed === undefined || !manifestBytesMatch(cid, sealed)) return undefined
  const manifest = await openManifest(sealed, key, cid)
  const [{ inspectManifest }, { ProviderScores }] = await Promise.all([import('./actions/stat.js'), import('./scores.js')])
  return await withChainOnly(config, signal, async (chain, units) => {
    const scores = new ProviderScores(config.scoreFile)
    await scores.load()
    const s = await inspectManifest({ scores, market: chain.market, publicClient: chain.publicClient }, manifest, cid, { signal, probe: false })
    return { s, units }
  })
}

/** Amounts in the market's token: what every command prints and reads. */
export interface TokenUnits {
  readonly info: TokenInfo
  format: (amount: bigint) => string
  /** Reads an amount a person typed for `flag`; a malformed one is a usage error. */
  parse: (text: string, flag: string) => bigint
}

async function tokenUnits (info: TokenInfo): Promise<TokenUnits> {
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
        throw new UsageError(`${flag}: ${(err as Error).message}`)
      }
    }
  }
}

async function clientUnits (client: SherdClient): Promise<TokenUnits> {
  return await tokenUnits(await client.tokenInfo())
}

function tokenJson (info: TokenInfo): { address: string, symbol: string, decimals: number } {
  return { address: info.address, symbol: info.symbol, decimals: info.decimals }
}

/** Checks a link before anything connects: a garbage link costs no network. */
function checkedLink (text: string): string {
  parseLink(text)
  return text
}

/** `checkedLink` for commands that also take a repair capability (`#r=`): stat, repair, extend. */
/**
 * `--range START-END` (both included, from 0, as HTTP's Range header counts) or `START-` (to the end of the file):
 * what a person copies from a byte offset. Checked here, before any network; whether it lies inside the file is
 * known only from the manifest.
 */
export function parseByteRange (text: string): { offset: number, length?: number } {
  const match = /^(\d+)-(\d*)$/.exec(text.trim())
  const bad = (why: string): UsageError => new UsageError(`--range ${text}: ${why}; write START-END (bytes START to END, both included, from 0; e.g. 0-1023 for the first KiB) or START- (to the end)`)
  if (match === null) throw bad('not a byte range')
  const offset = Number(match[1])
  if (!Number.isSafeInteger(offset)) throw bad('START is too large')
  if (match[2] === '') return { offset }
  const last = Number(match[2])
  if (!Number.isSafeInteger(last)) throw bad('END is too large')
  if (last < offset) throw bad('END is before START')
  return { offset, length: last - offset + 1 }
}

function rangeOutsideFile (text: string, fileSize: number): string {
  return `--range ${text} is not inside the file, which has ${fileSize} bytes` +
    (fileSize === 0 ? ': it is empty, so only --range 0- (nothing) can be read' : ` (0-${fileSize - 1}): give a range that ends at ${fileSize - 1} or before, or START- to read to the end`)
}

function checkedTarget (text: string): string {
  parseCapability(text)
  return text
}

interface PutInput {
  source: PutSource
  /** Known for regular files: a file that changes size while it is read fails the put instead of storing a mix. */
  size?: number
}

/** Opens what `put` stores: a file, a pipe or device such as /dev/stdin, or stdin for "-"; refuses a directory. */
async function openPutInput (path: string, io: CliIo): Promise<PutInput> {
  // /dev/stdin cannot be opened when stdin is a socket (ENXIO), as it is under many process managers: read it as "-".
  if (path === '-' || STDIN_PATHS.has(path)) {
    const stdin = io.stdin ?? process.stdin
    if (stdin.isTTY === true) io.stderr.write('reading the file from the terminal; end it with Ctrl-D\n')
    return { source: stdin as Readable }
  }
  let info
  try {
    info = await fsStat(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CliError(code === 'ENOENT' ? `${path}: no such file` : `cannot read ${path} (${code ?? (err as Error).message})`)
  }
  if (info.isDirectory()) {
    throw new CliError(`${path} is a directory; sherd put stores one file: pack it first (tar -czf ${basename(resolve(path))}.tgz -C ${dirname(resolve(path))} ${basename(resolve(path))}) and put the archive`)
  }
  // Opened here, so an unreadable file fails now with a clear message, not later as a stream error.
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CliError(code === 'EACCES' ? `cannot read ${path}: permission denied` : `cannot read ${path} (${code ?? (err as Error).message})`)
  }
  const source = handle.createReadStream()
  // A pipe or character device (a FIFO) reports no meaningful size: stream it to its end.
  return info.isFile() ? { source, size: info.size } : { source }
}

const STDIN_PATHS = new Set(['/dev/stdin', '/dev/fd/0', '/proc/self/fd/0'])

function utc (ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'
}

/** When storage ends, for people: exact for a mined block, "~" for an estimate; the block when no date is known. */
function endText (endBlock: bigint | undefined, endsAtMs: number | undefined, head: bigint | undefined): string {
  if (endBlock === undefined) return '-'
  if (endsAtMs === undefined) return `block ${endBlock}`
  return head !== undefined && endBlock <= head ? utc(endsAtMs) : `~${utc(endsAtMs)}`
}

function statSummary (s: FileStat, units: TokenUnits | undefined): string {
  const state = s.healthy ? 'healthy' : s.recoverable ? 'DEGRADED (run sherd repair)' : 'UNRECOVERABLE'
  let line = `file ${s.cid}: ${s.fileSize} bytes, ${s.segments.length} segments, k=${s.k} m=${s.m}, ${state}\n`
  if (s.costPerPeriod !== undefined) {
    const shards = s.segments.flatMap((g) => g.shards)
    // Every term over: there is nothing left to repair from once the providers drop the shards.
    const termOver = (sh: (typeof shards)[number]): boolean => sh.state === 'ended' ||
      (sh.endBlock !== undefined && s.chainHead !== undefined && sh.endBlock <= s.chainHead)
    const allEnded = shards.length > 0 && shards.every(termOver)
    const lastEnd = Math.max(...shards.map((sh) => sh.endsAtMs ?? 0))
    const until = s.storageEndBlock === undefined
      ? allEnded
        ? `storage ENDED${lastEnd > 0 ? ` on ${utc(lastEnd)}` : ''}: every deal's term is over and the providers need not keep the shards; put the file again to store it`
        : 'storage has ENDED for at least one segment (fewer than k deals left running): run sherd repair while it can still be read'
      : `stored until ${endText(s.storageEndBlock, s.storageEndsAtMs, undefined)} (block ${s.storageEndBlock}); extend with sherd extend <link> <periods>`
    line += `${until}\n`
    if (units !== undefined) line += `costs ${units.format(s.costPerPeriod)} per period; escrow left ${units.format(s.escrowLeft ?? 0n)}\n`
  }
  return line
}

const CHAIN_COMMANDS = new Set(['put', 'repair', 'extend', 'delete', 'audit', 'wallet'])

/** The package's version, read from its package.json (one level above both src/ and dist/). */
export function cliVersion (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

// Errors that mean a bug in sherd rather than bad input or a failing network: the only ones worth a stack trace.
const BUG_ERRORS = new Set(['TypeError', 'ReferenceError', 'SyntaxError', 'RangeError'])

/** One or two lines for stderr: the error's name and message (which say what to do), never a stack unless asked. */
export function describeError (err: unknown, env: NodeJS.ProcessEnv): string {
  const e = err instanceof Error ? err : new Error(String(err))
  // viem's errors carry pages of detail; their shortMessage is the part a person can act on.
  const short = (e as { shortMessage?: unknown }).shortMessage
  const message = typeof short === 'string' ? short : e.message
  const systemError = typeof (e as NodeJS.ErrnoException).code === 'string' && e.name === 'Error'
  let text = e.name === 'Error' || e.name === 'CliError' || systemError ? `error: ${message}\n` : `error: ${e.name}: ${message}\n`
  if (env.SHERD_DEBUG !== undefined && env.SHERD_DEBUG !== '' && env.SHERD_DEBUG !== '0') text += `${e.stack ?? ''}\n`
  else if (BUG_ERRORS.has(e.name)) text += 'this looks like a bug in sherd: run again with SHERD_DEBUG=1 for a stack trace and report it\n'
  return text
}

/**
 * Runs the `sherd` CLI with `argv` (without node and script). Returns the exit code: 0 done, 1 failed (a typed
 * error on stderr saying what to do), 2 usage error, 130 interrupted.
 */
export async function main (argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const [command, ...rest] = argv
  if (command === '--version' || command === '-V') { io.stdout.write(`sherd ${cliVersion()}\n`); return 0 }
  if (command === 'keeper') return await keeperCommand(rest, io, signal, { describeError })
  if (command === 'devnet') {
    if (rest.includes('--help') || rest.includes('-h')) { io.stdout.write(HELP.devnet + '\n'); return 0 }
    return await runDevnet(rest, io)
  }
  let values: Values
  let positionals: string[]
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: GLOBAL_OPTIONS, allowPositionals: true, strict: true }))
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n\n${HELP[command ?? ''] ?? HELP.main}\n`)
    return 2
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout.write(HELP.main + '\n')
    return command === undefined ? 2 : 0
  }
  const help = HELP[command]
  if (help === undefined) {
    io.stderr.write(`error: unknown command "${command}"\n\n${HELP.main}\n`)
    return 2
  }
  if (values.help === true) { io.stdout.write(help + '\n'); return 0 }
  if (values.version === true) { io.stdout.write(`sherd ${cliVersion()}\n`); return 0 }
  const out = (text: string): void => { io.stdout.write(text) }
  const note = (text: string): void => { io.stderr.write(text) }
  const asJson = values.json === true
  try {
    const config = await clientConfig(values, io.env)
    const need = (n: number, usage: string): void => {
      if (positionals.length !== n) throw new UsageError(`expected ${usage}`)
    }
    // Said before anything starts, so a command that pays or reads the chain fails at once when it has none.
    if (CHAIN_COMMANDS.has(command) && (config.contract === undefined || config.rpcUrl === undefined)) {
      throw new ClientConfigError(`${command} needs the chain: pass --deployment <file>, or --rpc-url and --contract (or set SHERD_DEPLOYMENT, or SHERD_RPC_URL and SHERD_CONTRACT; the devnet prints them)`)
    }
    switch (command) {
      case 'put': {
        return await putCommand({
          config, values, positionals, io, signal, withClient, progressBar, json, usage: (m) => new UsageError(m),
          openInput: async (path) => await openPutInput(path, io),
          chainUnits: async () => await withChainOnly(config, signal, async (_chain, units) => units),
          tokenJson
        })
      }
      case 'ls': {
        need(0, 'no arguments: sherd ls')
        return await lsCommand({ config, values, io, signal, json })
      }
      case 'get': {
        need(1, 'one link: sherd get <link> [-o file] [--range START-END]')
        const link = checkedLink(positionals[0]!)
        const range = values.range === undefined ? undefined : parseByteRange(values.range)
        const output = values.output === '-' ? undefined : values.output
        // Refused here, before any network: an existing file is never touched without --force.
        const target = output === undefined ? undefined : await checkOutput(output, values.force === true)
        const bar = progressBar(io, !asJson && output !== undefined, 'get [{bar}] {percentage}% | {decoded}/{total_mib} | {fetched} fetched')
        let fileSize: number | undefined; let wanted: number | undefined
        const onProgress = (e: GetProgressEvent): void => {
          if (e.type === 'get:manifest') {
            fileSize = e.fileSize
            wanted = range === undefined ? fileSize : (range.length ?? Math.max(0, fileSize - range.offset))
            bar?.start(Math.max(wanted, 1), 0, { decoded: mib(0), total_mib: mib(wanted), fetched: mib(0) })
          } else if (e.type === 'get:progress') bar?.update(e.decodedBytes, { decoded: mib(e.decodedBytes), total_mib: mib(e.totalBytes), fetched: mib(e.fetchedBytes) })
        }
        const options = { signal, onProgress, ...(range === undefined ? {} : { offset: range.offset, ...(range.length === undefined ? {} : { length: range.length }) }) }
        await withClient(config, signal, async (client) => {
          try {
            if (target === undefined) {
              const source = Readable.from(client.get(link, options), { objectMode: false })
              await pipeline(source, wrapStdout(io.stdout), { signal })
              return
            }
            await writeFileAtomically(target, values.force === true, async (write) => {
              for await (const chunk of client.get(link, options)) await write(chunk)
            }, () => wanted)
          } catch (err) {
            if (err instanceof InvalidRangeError && range !== undefined && fileSize !== undefined) throw new CliError(rangeOutsideFile(values.range!, fileSize))
            throw err
          }
        }).finally(() => bar?.stop())
        if (asJson && output !== undefined) out(json({ output, fileSize, ...(range === undefined ? {} : { offset: range.offset, length: wanted }) }) + '\n')
        return 0
      }
      case 'stat': {
        need(1, 'one link: sherd stat <link>')
        const link = checkedTarget(positionals[0]!)
        const probe = values['no-probe'] !== true
        const { s, units } = (probe ? undefined : await statFromCache(config, link, signal)) ??
          await (probe ? withClient : withManifestClient)(config, signal, async (client) => {
            const s = await client.stat(link, { signal, probe })
            return { s, units: config.contract === undefined ? undefined : await clientUnits(client) }
          })
        if (asJson) { out(json({ ...s, ...(units === undefined ? {} : { token: tokenJson(units.info) }) }) + '\n'); return 0 }
        out(statSummary(s, units))
        const rows = [['seg', 'shard', 'provider', 'deal', 'state', 'proven', 'missed', 'claimable (provider/you)', 'ends', 'price/period', 'online', 'score']]
        const amount = (a: bigint): string => units === undefined ? `${a}base` : units.format(a)
        for (const seg of s.segments) {
          for (const sh of seg.shards) {
            rows.push([String(seg.index), String(sh.shardIndex), short(sh.provider), sh.dealId?.toString() ?? '-', sh.state,
              sh.provenPeriods === undefined ? '-' : `${sh.provenPeriods}/${sh.periods}`, String(sh.missedPeriods ?? '-'),
              sh.claimable === undefined ? '-' : `${amount(sh.claimable.provider)} / ${amount(sh.claimable.client)}`,
              endText(sh.endBlock, sh.endsAtMs, s.chainHead),
              sh.pricePerPeriod === undefined ? '-' : amount(sh.pricePerPeriod),
              sh.online === undefined ? '?' : sh.online ? 'yes' : 'NO', sh.score === undefined ? '-' : sh.score.toFixed(2)])
          }
        }
        out(table(rows))
        return 0
      }
      case 'repair': {
        need(1, 'one link: sherd repair <link>')
        const link = checkedTarget(positionals[0]!)
        const periods = intOption(values.periods, '--periods')
        const log = (e: RepairProgressEvent): void => {
          if (asJson) return
          if (e.type === 'repair:inspected') note(`${e.unhealthy} shard(s) to repair in ${e.segments} segment(s)\n`)
          else if (e.type === 'repair:rebuilt') note(`segment ${e.segmentIndex}: rebuilt shards ${e.shardIndexes.join(', ')} from ${e.from.join(', ')}\n`)
          else if (e.type === 'put:shard-stored') note(`segment ${e.segmentIndex} shard ${e.shardIndex} → ${short(e.provider)}\n`)
          else if (e.type === 'put:deal-opened') note(`deal ${e.dealId} opened with ${short(e.provider)}\n`)
        }
        const { r, published } = await withClient(config, signal, async (client) => {
          const r = await client.repair(link, {
            signal, onProgress: log, includeMissed: values['include-missed'] === true,
            ...(periods === undefined ? {} : { periods }),
            ...(values.wait === true ? { waitForActivation: true } : values['no-wait'] === true ? { waitForActivation: false } : {})
          })
          return { r, published: r.cid.toString() === r.previousCid ? undefined : await publishRepair(client, r, signal, asJson ? () => {} : note) }
        })
        if (asJson) out(json({ link: r.link, cid: r.cid.toString(), previousCid: r.previousCid, repaired: r.repaired, ...(published === undefined ? {} : { published }) }) + '\n')
        else out((r.repaired.length === 0 ? '' : `repaired ${r.repaired.length} shard(s); new manifest ${r.cid.toString()}\n`) + r.link + '\n')
        return 0
      }
      case 'extend': {
        need(2, 'a link and a number of periods: sherd extend <link> <periods>')
        const link = checkedTarget(positionals[0]!)
        const periods = intOption(positionals[1], '<periods>')
        if (periods === undefined || periods < 1) throw new UsageError('<periods> must be at least 1')
        const { r, units } = await withManifestClient(config, signal, async (client) => {
          const r = await client.extend(link, periods, { signal })
          return { r, units: await clientUnits(client) }
        })
        if (asJson) out(json({ ...r, token: tokenJson(units.info) }) + '\n')
        else if (r.extended.length > 0) out(`extended ${r.extended.length} deal(s) by ${periods} periods for ${units.format(r.escrow)}\n`)
        if (r.skipped.length === 0) return 0
        // A file is only as long-lived as its shards: any deal left out is a failure the user must act on.
        // Deals of one file usually fail for one reason (their terms ended together): say it once per reason.
        const byReason = new Map<string, string[]>()
        for (const x of r.skipped) byReason.set(x.reason, [...(byReason.get(x.reason) ?? []), `${x.dealId ?? '-'} (${short(x.provider)})`])
        note(`error: ${r.skipped.length} of ${r.extended.length + r.skipped.length} deal(s) were not extended${r.extended.length === 0 ? ' (nothing was paid)' : ''}:` +
          [...byReason].map(([reason, deals]) => `\n  deal${deals.length > 1 ? 's' : ''} ${deals.join(', ')}: ${reason}`).join('') + '\n')
        return 1
      }
      case 'delete': {
        need(1, 'one link: sherd delete <link>')
        const link = checkedLink(positionals[0]!)
        const { r, units } = await withManifestClient(config, signal, async (client) => {
          const r = await client.delete(link, { signal })
          return { r, units: await clientUnits(client) }
        })
        if (asJson) out(json({ ...r, token: tokenJson(units.info) }) + '\n')
        else {
          out(`claimed ${r.settled.length} deal(s), ${r.running.length} run to the end of their term (not renewed), withdrew ${units.format(r.withdrawn)}\n`)
          if ((r.journalEntries ?? []).length > 0) note(`recorded in the put journal: sherd ls shows the file as deleted\n`)
        }
        return 0
      }
      case 'audit': {
        need(1, 'one link: sherd audit <link> [--shard <segment>:<shard>]')
        const link = checkedLink(positionals[0]!)
        const shards = (values.shard ?? []).map((text) => {
          const m = /^(\d+)[:/](\d+)$/.exec(text)
          if (m === null) throw new UsageError(`--shard must be <segment>:<shard> (e.g. 0:3, as sherd stat numbers them), got "${text}"`)
          return { segmentIndex: Number(m[1]), shardIndex: Number(m[2]) }
        })
        const { r, units } = await withManifestClient(config, signal, async (client) => {
          const r = await client.audit(link, {
            signal, ...(shards.length === 0 ? {} : { shards }), wait: values['no-wait'] !== true,
            onProgress: (e) => {
              if (asJson) return
              if (e.type === 'audit:requested') note(`segment ${e.segmentIndex} shard ${e.shardIndex}: audit of deal ${e.dealId} requested for period ${e.period}\n`)
            }
          })
          return { r, units: await clientUnits(client) }
        })
        if (asJson) { out(json({ ...r, token: tokenJson(units.info) }) + '\n') } else {
          const rows = [['seg', 'shard', 'provider', 'deal', 'period', 'result', 'reward / reason']]
          for (const a of r.audits) {
            rows.push([String(a.segmentIndex), String(a.shardIndex), short(a.provider), a.dealId?.toString() ?? '-', a.period?.toString() ?? '-', a.result,
              a.result === 'failed' ? `${units.format(a.reward ?? 0n)}; ${a.reason ?? ''}` : a.reason ?? ''])
          }
          out(table(rows))
          out(`bonds ${units.format(r.bonds)}; withdrew ${units.format(r.withdrawn)}\n`)
        }
        const failed = r.audits.filter((a) => a.result === 'failed').length
        if (failed > 0) note(`error: ${failed} audit(s) were not answered: those deals faulted; run sherd repair ${link}\n`)
        return failed > 0 ? 1 : 0
      }
      case 'providers': {
        need(0, 'no arguments: sherd providers')
        const { list, units } = await withClient(config, signal, async (client) => ({
          list: await client.providers({ signal }),
          units: config.contract === undefined ? undefined : await clientUnits(client)
        }))
        if (asJson) { out(json(list) + '\n'); return 0 }
        const rows = [['peer id', 'chain address', 'price/MiB/period', 'free', 'free stake', 'max term', 'registered', 'announced', 'score', 'ok/fail/corrupt/missed']]
        for (const p of list) {
          rows.push([p.peerId, p.chainAddress ?? '-', p.pricePerMiB === undefined ? '-' : units === undefined ? `${p.pricePerMiB}base` : units.format(p.pricePerMiB),
            p.freeBytes === undefined ? '-' : mib(p.freeBytes),
            // What placement checks a deal's collateral against: a provider short of it gets no shard.
            p.freeStake === undefined ? '-' : units === undefined ? `${p.freeStake}base` : units.format(p.freeStake),
            p.maxTermPeriods === undefined ? '-' : String(p.maxTermPeriods),
            p.registered ? 'yes' : 'no', p.fresh ? 'yes' : p.announcedAtMs === undefined ? 'never' : 'stale', p.score.toFixed(2),
            `${p.record.successes}/${p.record.failures}/${p.record.corrupt}/${p.record.missedProofs}`])
        }
        out(table(rows))
        return 0
      }
      case 'wallet': {
        need(0, 'no arguments: sherd wallet')
        const { w, units, gas } = await withChainOnly(config, signal, async (chain, units) => {
          const { readWallet } = await import('./chain.js')
          const native = chain.publicClient.chain?.nativeCurrency ?? { symbol: 'ETH', decimals: 18 }
          const gas = await tokenUnits({ address: '0x0000000000000000000000000000000000000000', symbol: native.symbol, decimals: native.decimals })
          return { w: await readWallet(chain), units, gas }
        })
        if (asJson) out(json({ address: w.address, token: tokenJson(units.info), balance: w.balance, gasBalance: w.gasBalance, withdrawable: w.withdrawable }) + '\n')
        else out(`address     ${w.address}\ntoken       ${units.info.symbol} (${units.info.address}, ${units.info.decimals} decimals)\nbalance     ${units.format(w.balance)}\ngas         ${gas.format(w.gasBalance)}\nrefundable  ${units.format(w.withdrawable)}\n`)
        return 0
      }
    }
    return 2
  } catch (err) {
    if (signal.aborted) { io.stderr.write('aborted\n'); return 130 }
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n\n${help}\n`)
      return 2
    }
    io.stderr.write(describeError(err, io.env))
    return 1
  }
}

/** stdout as a pipeline sink that is never closed (closing process.stdout would break later writes). */
function wrapStdout (stdout: NodeJS.WritableStream): Writable {
  return new Writable({
    write (chunk: Buffer, _encoding, callback) {
      if (stdout.write(chunk)) callback()
      else stdout.once('drain', () => { callback() })
    }
  })
}

/** Entry point of the `sherd` binary. */
export async function run (): Promise<void> {
  const controller = new AbortController()
  const isDevnet = process.argv[2] === 'devnet'
  const onSignal = (): void => { controller.abort(new Error('interrupted')) }
  if (!isDevnet) { process.once('SIGINT', onSignal); process.once('SIGTERM', onSignal) }
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }, controller.signal)
  // libp2p and viem may leave timers behind: exit once everything written has reached the OS (a piped stdout
  // is asynchronous, and exiting early would cut off the end of a `get`).
  await new Promise<void>((resolve) => { process.stdout.write('', () => { resolve() }) })
  await new Promise<void>((resolve) => { process.stderr.write('', () => { resolve() }) })
  process.exit(code)
}
