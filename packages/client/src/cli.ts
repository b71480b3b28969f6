import { spawn } from 'node:child_process'
import { createWriteStream, existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import type { Hex } from 'viem'
import { createClient } from './client.js'
import type { ClientConfig, SherdClient } from './client.js'
import { ClientConfigError } from './errors.js'
import { defaultJournalDir } from './journal.js'
import { putCommand, lsCommand } from './cli-put.js'
import type { GetProgressEvent } from './events.js'
import type { RepairProgressEvent } from './actions/repair.js'

const ENV_HELP = `Configuration (flags override environment, which overrides the config file):
  --rpc-url <url>          SHERD_RPC_URL       chain JSON-RPC endpoint
  --contract <address>     SHERD_CONTRACT      StorageMarket address
  --private-key <0x...>    SHERD_PRIVATE_KEY   paying account (put, repair, extend, delete, wallet)
  --bootstrap <multiaddr>  SHERD_BOOTSTRAP     provider address(es) /ip4/../tcp/../p2p/<id>; repeat the flag,
                                               or separate with commas/spaces in the variable
  --config <file>          SHERD_CONFIG        JSON config file (default ~/.config/sherd/config.json) with
                                               {"rpcUrl","contract","privateKey","bootstrap":[...],"k","m",
                                                "segmentSize","periods","scoreFile","journalDir"}
  --score-file <file>      SHERD_SCORE_FILE    where provider scores persist (default ~/.config/sherd/scores.json)
  --json                   machine-readable output on stdout
  -h, --help               help for any command`

const HELP: Record<string, string> = {
  main: `sherd: store files on the Sherd network

Usage: sherd <command> [flags]

Commands:
  put <file>               encrypt, erasure-code and store a file; prints its sherd:// link
                           (--dry-run: cost and placement only; --resume: finish an interrupted put)
  ls                       your files (from the put journal): size, cost, expiry, health
  get <link> [-o file]     fetch, verify and decrypt a file (to stdout without -o)
  stat <link>              where each shard is, its deal state and periods proven
  repair <link>            rebuild shards whose deals failed or whose providers are gone; prints the new link
  extend <link> <periods>  extend every live deal of the file by <periods> proving periods
  delete <link>            stop paying: settle what the contract allows, withdraw refunds
  providers                known providers: price, free capacity, score
  wallet                   the paying account's address and token balance
  devnet [args]            run a local network: spawns \`sherd-devnet\` (from @sherd/devnet) with these args

Run \`sherd <command> --help\` for a command's flags.

${ENV_HELP}`,
  put: `Usage: sherd put <file> [flags]

  -k <n>                   data shards per segment (default 4)
  -m <n>                   parity shards per segment (default 2)
  --segment-size <bytes>   plaintext bytes per segment (default 33554432 = 32 MiB)
  --periods <n>            proving periods each deal runs (default 16)
  --extra-uploads <n>      spare uploads raced against the slowest (default 2)
  --no-wait                do not wait for the providers to activate their deals
  --max-price <units>      skip providers asking more per MiB per period
  --dry-run                show the cost and where the shards would go; upload and spend nothing
  --resume [<id>]          finish an interrupted put from its journal entry (all unfinished entries of
                           this chain and account without <id>); safe to run again
  --abandon <id>           give an interrupted put up: open nothing more, expire what the market allows
                           and withdraw the refunds (activated deals cannot be cancelled: prefer --resume)
  --journal-dir <dir>      SHERD_JOURNAL_DIR   where puts are recorded (default
                           $XDG_DATA_HOME/sherd/files, else ~/.local/share/sherd/files)
  --progress-json          one JSON line per progress event on stderr (for scripts)

Before uploading, put checks that the account holds the tokens for every deal and says how much is missing.
Before its first transaction it records the file key, the shards' offers and its state in the journal (mode
0600: it holds the keys to your files), and records each deal as it opens. Interrupted (Ctrl-C, a crash, a
lost connection) after that point, it prints the entry's id: \`sherd put --resume <id>\` opens the deals still
missing (asking the chain which ones already are, so none is paid twice), stores the manifest and prints the
link. \`sherd ls\` lists every entry.

Prints the link (keep it: it holds the file key). With --json: {"link","cid","fileSize","segments","deals","escrow","journal"}.

${ENV_HELP}`,
  get: `Usage: sherd get <link> [-o <file>]

  -o, --output <file>      write the file here (default: stdout)

Every shard is checked against its commitment before use; a provider that is down or lies costs a retry elsewhere.

${ENV_HELP}`,
  ls: `Usage: sherd ls [--journal-dir <dir>]

Lists the files in the put journal (every put made from this machine, finished or not): id, name, size, cost
(the escrow of its deals), expiry (when its first deal ends; the date is estimated from the chain's recent
block times) and health (healthy, degraded: run sherd repair, expired, interrupted: run sherd put --resume
<id>). Reads the chain only (--rpc-url, --contract); contacts no provider. Without a chain it lists what the
journal holds. With --json: every entry with its link and deal states.

  --journal-dir <dir>      SHERD_JOURNAL_DIR   the journal (default $XDG_DATA_HOME/sherd/files, else
                           ~/.local/share/sherd/files)

${ENV_HELP}`,
  stat: `Usage: sherd stat <link> [--no-probe]

  --no-probe               do not dial the providers (chain state only)

Per segment and shard: provider, deal, state (pending, active, proving, missed, failed, ended, expired,
unfunded), periods proven and missed, provider online and local score.

${ENV_HELP}`,
  repair: `Usage: sherd repair <link> [--periods <n>] [--include-missed] [--no-wait]

Rebuilds shards whose deals failed or expired or whose providers do not answer from k good shards, places them on
new providers with new deals and writes a new manifest version. Prints the new link.

${ENV_HELP}`,
  extend: `Usage: sherd extend <link> <periods>

Extends every live deal of the file by <periods> proving periods (approves the total once).

${ENV_HELP}`,
  delete: `Usage: sherd delete <link>

Deals are never renewed; the contract has no early cancel, so running deals end at their term. Expires
unactivated deals past their deadline, ends finished ones and withdraws the refunds.

${ENV_HELP}`,
  providers: `Usage: sherd providers

Table of the providers known from announcements, the on-chain registry and --bootstrap: peer id, chain address,
price per MiB per period, free bytes, announced recently, local score (transfer successes/failures, corrupt
bytes, proofs missed).

${ENV_HELP}`,
  wallet: `Usage: sherd wallet

The paying account's address, token, token balance, gas balance and refunds waiting in the market.

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
}

class UsageError extends Error {
  override name = 'UsageError'
}

interface FileConfig {
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
  'no-wait': { type: 'boolean' },
  'max-price': { type: 'string' },
  output: { type: 'string', short: 'o' },
  'no-probe': { type: 'boolean' },
  'include-missed': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  resume: { type: 'boolean' },
  abandon: { type: 'string' },
  'journal-dir': { type: 'string' },
  'progress-json': { type: 'boolean' }
} as const

type Values = ReturnType<typeof parseArgs<{ options: typeof GLOBAL_OPTIONS, allowPositionals: true }>>['values']

function clientConfig (values: Values, env: NodeJS.ProcessEnv): ClientConfig {
  const explicit = values.config ?? env.SHERD_CONFIG
  const file = readConfigFile(explicit ?? join(configDir(env), 'config.json'), explicit !== undefined)
  const rpcUrl = values['rpc-url'] ?? env.SHERD_RPC_URL ?? file.rpcUrl
  const contract = values.contract ?? env.SHERD_CONTRACT ?? file.contract
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
  return {
    ...(rpcUrl === undefined ? {} : { rpcUrl }),
    ...(contract === undefined ? {} : { contract }),
    ...(privateKey === undefined ? {} : { account: privateKey as Hex }),
    bootstrap,
    ...(k === undefined ? {} : { k }),
    ...(m === undefined ? {} : { m }),
    ...(segmentSize === undefined ? {} : { segmentSize }),
    ...(periods === undefined ? {} : { periods }),
    ...(discovery === undefined ? {} : { discoveryTimeoutMs: discovery }),
    scoreFile: values['score-file'] ?? env.SHERD_SCORE_FILE ?? file.scoreFile ?? join(configDir(env), 'scores.json'),
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
  const client = createClient(config)
  await client.start({ signal })
  try {
    return await fn(client)
  } finally {
    await client.stop()
  }
}

/**
 * Runs the `sherd` CLI with `argv` (without node and script). Returns the exit code: 0 done, 1 failed (a typed
 * error on stderr saying what to do), 2 usage error.
 */
export async function main (argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const [command, ...rest] = argv
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
  const out = (text: string): void => { io.stdout.write(text) }
  const asJson = values.json === true
  try {
    const config = clientConfig(values, io.env)
    const need = (n: number, usage: string): void => {
      if (positionals.length !== n) throw new UsageError(`expected ${usage}`)
    }
    switch (command) {
      case 'put': {
        return await putCommand({ config, values, positionals, io, signal, withClient, progressBar, json, usage: (m) => new UsageError(m) })
      }
      case 'ls': {
        need(0, 'no arguments: sherd ls')
        return await lsCommand({ config, values, io, signal, json })
      }
      case 'get': {
        need(1, 'one link: sherd get <link> [-o file]')
        const output = values.output
        const bar = progressBar(io, !asJson && output !== undefined, 'get [{bar}] {percentage}% | {decoded}/{total_mib} | {fetched} fetched')
        let fileSize = 0; let fetched = 0
        const onProgress = (e: GetProgressEvent): void => {
          if (e.type === 'get:manifest') { fileSize = e.fileSize; bar?.start(Math.max(fileSize, 1), 0, { decoded: mib(0), total_mib: mib(fileSize), fetched: mib(0) }) }
          else if (e.type === 'get:shard-fetched') fetched = e.fetchedBytes
          else if (e.type === 'get:segment') bar?.update(e.decodedBytes, { decoded: mib(e.decodedBytes), total_mib: mib(fileSize), fetched: mib(fetched) })
        }
        await withClient(config, signal, async (client) => {
          const source = Readable.from(client.get(positionals[0]!, { signal, onProgress }), { objectMode: false })
          const sink: Writable = output === undefined ? wrapStdout(io.stdout) : createWriteStream(output)
          await pipeline(source, sink, { signal })
        }).finally(() => bar?.stop())
        if (asJson && output !== undefined) out(json({ output, fileSize }) + '\n')
        return 0
      }
      case 'stat': {
        need(1, 'one link: sherd stat <link>')
        const s = await withClient(config, signal, async (client) => await client.stat(positionals[0]!, { signal, probe: values['no-probe'] !== true }))
        if (asJson) { out(json(s) + '\n'); return 0 }
        out(`file ${s.cid}: ${s.fileSize} bytes, ${s.segments.length} segments, k=${s.k} m=${s.m}, ${s.healthy ? 'healthy' : s.recoverable ? 'DEGRADED (run sherd repair)' : 'UNRECOVERABLE'}\n`)
        const rows = [['seg', 'shard', 'provider', 'deal', 'state', 'proven', 'missed', 'online', 'score']]
        for (const seg of s.segments) {
          for (const sh of seg.shards) {
            rows.push([String(seg.index), String(sh.shardIndex), short(sh.provider), sh.dealId?.toString() ?? '-', sh.state + (sh.activationOverdue === true ? ' (overdue)' : ''),
              sh.provenPeriods === undefined ? '-' : `${sh.provenPeriods}/${sh.periods}`, String(sh.missedPeriods ?? '-'),
              sh.online === undefined ? '?' : sh.online ? 'yes' : 'NO', sh.score === undefined ? '-' : sh.score.toFixed(2)])
          }
        }
        out(table(rows))
        return 0
      }
      case 'repair': {
        need(1, 'one link: sherd repair <link>')
        const periods = intOption(values.periods, '--periods')
        const log = (e: RepairProgressEvent): void => {
          if (asJson) return
          if (e.type === 'repair:inspected') io.stderr.write(`${e.unhealthy} shard(s) to repair in ${e.segments} segment(s)\n`)
          else if (e.type === 'repair:rebuilt') io.stderr.write(`segment ${e.segmentIndex}: rebuilt shards ${e.shardIndexes.join(', ')} from ${e.from.join(', ')}\n`)
          else if (e.type === 'put:shard-stored') io.stderr.write(`segment ${e.segmentIndex} shard ${e.shardIndex} → ${short(e.provider)}\n`)
          else if (e.type === 'put:deal-opened') io.stderr.write(`deal ${e.dealId} opened with ${short(e.provider)}\n`)
        }
        const r = await withClient(config, signal, async (client) => await client.repair(positionals[0]!, {
          signal, onProgress: log, includeMissed: values['include-missed'] === true,
          ...(periods === undefined ? {} : { periods }),
          ...(values['no-wait'] === true ? { waitForActivation: false } : {})
        }))
        if (asJson) out(json({ link: r.link, cid: r.cid.toString(), previousCid: r.previousCid, repaired: r.repaired }) + '\n')
        else out((r.repaired.length === 0 ? '' : `repaired ${r.repaired.length} shard(s); new manifest ${r.cid.toString()}\n`) + r.link + '\n')
        return 0
      }
      case 'extend': {
        need(2, 'a link and a number of periods: sherd extend <link> <periods>')
        const periods = intOption(positionals[1], '<periods>')
        if (periods === undefined || periods < 1) throw new UsageError('<periods> must be at least 1')
        const r = await withClient(config, signal, async (client) => await client.extend(positionals[0]!, periods, { signal }))
        if (asJson) out(json(r) + '\n')
        else out(`extended ${r.extended.length} deal(s) by ${periods} periods for ${r.escrow} token units; skipped ${r.skipped.length}` +
          r.skipped.map((s) => `\n  deal ${s.dealId ?? '-'} (${short(s.provider)}): ${s.reason}`).join('') + '\n')
        return 0
      }
      case 'delete': {
        need(1, 'one link: sherd delete <link>')
        const r = await withClient(config, signal, async (client) => await client.delete(positionals[0]!, { signal }))
        if (asJson) out(json(r) + '\n')
        else out(`settled ${r.settled.length} deal(s), ${r.running.length} run to the end of their term (not renewed), withdrew ${r.withdrawn} token units\n`)
        return 0
      }
      case 'providers': {
        need(0, 'no arguments: sherd providers')
        const list = await withClient(config, signal, async (client) => await client.providers({ signal }))
        if (asJson) { out(json(list) + '\n'); return 0 }
        const rows = [['peer id', 'chain address', 'price/MiB/period', 'free', 'registered', 'announced', 'score', 'ok/fail/corrupt/missed']]
        for (const p of list) {
          rows.push([p.peerId, p.chainAddress ?? '-', p.pricePerMiB?.toString() ?? '-', p.freeBytes === undefined ? '-' : mib(p.freeBytes),
            p.registered ? 'yes' : 'no', p.fresh ? 'yes' : p.announcedAtMs === undefined ? 'never' : 'stale', p.score.toFixed(2),
            `${p.record.successes}/${p.record.failures}/${p.record.corrupt}/${p.record.missedProofs}`])
        }
        out(table(rows))
        return 0
      }
      case 'wallet': {
        need(0, 'no arguments: sherd wallet')
        const w = await withClient({ ...config, bootstrap: [], discoveryTimeoutMs: 0 }, signal, async (client) => await client.wallet())
        if (asJson) out(json(w) + '\n')
        else out(`address     ${w.address}\ntoken       ${w.token}\nbalance     ${w.balance}\ngas (wei)   ${w.gasBalance}\nrefundable  ${w.withdrawable}\n`)
        return 0
      }
    }
    return 2
  } catch (err) {
    if (signal.aborted) { io.stderr.write('aborted\n'); return 130 }
    const e = err as Error
    if (e instanceof UsageError) {
      io.stderr.write(`error: ${e.message}\n\n${help}\n`)
      return 2
    }
    io.stderr.write(`error: ${e.name}: ${e.message}\n`)
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
