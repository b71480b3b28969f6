// The `sherd put` and `sherd ls` commands: put with its pre-flight cost check, dry run, journal and resume.
import { open, stat as fsStat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import type { Readable } from 'node:stream'
import { formatTokenAmount } from '@sherd/contracts'
import type { TokenInfo } from '@sherd/contracts'
import type cliProgress from 'cli-progress'
import type { PutEstimate } from '../actions/estimate.js'
import type { PutSource } from '../actions/put.js'
import { unfinished } from '../actions/resume.js'
import type { PutResult } from '../actions/settle.js'
import type { ClientConfig, SherdClient } from '../client.js'
import type { PutProgressEvent } from '../events.js'
import { JournalError, PutJournal } from '../journal.js'
import { defineCommand } from './command.js'
import {
  CliError,
  UsageError,
  json,
  mib,
  progressBar,
  requireChain,
  table,
  tokenJson,
  withChainOnly,
  withClient
} from './common.js'
import type { CommandContext, TokenUnits } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP } from './config.js'

interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
}

interface PutValues {
  json?: boolean
  'extra-uploads'?: string
  'spare-shards'?: string
  'max-price'?: string
  'no-wait'?: boolean
  wait?: boolean
  'dry-run'?: boolean
  resume?: boolean
  abandon?: string
  'progress-json'?: boolean
}

export interface PutCommandDeps {
  config: ClientConfig
  values: PutValues
  positionals: string[]
  io: Io
  signal: AbortSignal
  withClient: <T>(config: ClientConfig, signal: AbortSignal, fn: (client: SherdClient) => Promise<T>) => Promise<T>
  progressBar: (io: Io, enabled: boolean, format: string) => cliProgress.SingleBar | undefined
  json: (value: unknown) => string
  usage: (message: string) => Error
  /** Opens what put stores: a file (its size known), or stdin/a pipe for "-" (size unknown); refuses a directory. */
  openInput: (path: string) => Promise<{ source: PutSource; size?: number }>
  /** The market's token, read from the chain alone (no libp2p): a bad --max-price fails before anything starts. */
  chainUnits: () => Promise<TokenUnits>
  tokenJson: (info: TokenInfo) => { address: string; symbol: string; decimals: number }
}

function nonNegativeInt(value: string | undefined, name: string, usage: (m: string) => Error): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw usage(`${name} must be a non-negative integer, got "${value}"`)
  return n
}

/** `sherd put <file>`, `sherd put <file> --dry-run`, `sherd put --resume [<id>]`. */
async function put(deps: PutCommandDeps): Promise<number> {
  const { config, values, positionals, io, signal, json } = deps
  const asJson = values.json === true
  const out = (text: string): void => {
    io.stdout.write(text)
  }
  const progressJson = values['progress-json'] === true
  const extraUploads = nonNegativeInt(values['extra-uploads'], '--extra-uploads', deps.usage)
  const spareShards = nonNegativeInt(values['spare-shards'], '--spare-shards', deps.usage)
  const maxPrice = values['max-price']
  const waitOption =
    values.wait === true ? { waitForActivation: true } : values['no-wait'] === true ? { waitForActivation: false } : {}

  let journalId: string | undefined
  let journalPath: string | undefined
  let stored = false
  let dealsOpened = 0
  let dealsTotal = 0
  const track = (e: PutProgressEvent): void => {
    if (progressJson) io.stderr.write(json(e).replace(/\n\s*/g, ' ') + '\n')
    if (e.type === 'put:journal') {
      journalId = e.id
      journalPath = e.path
      stored = e.state === 'stored'
    } else if (e.type === 'put:deal-opened') {
      dealsOpened = e.dealsOpened
      dealsTotal = e.dealsTotal
    }
  }
  // Whatever stops a put once it has a journal entry, the way on is printed with the error.
  const explain = async (err: unknown): Promise<never> => {
    if (journalId !== undefined && stored && signal.aborted) {
      // Stopped while waiting for the deals' terms to begin: the file is stored and its link is in the journal; print
      // it, or it looks lost. A read failure leaves the pointer to the entry.
      const link = await new PutJournal(config.journalDir!).read(journalId).then(
        (e) => e.link,
        () => undefined
      )
      io.stderr.write(
        `stopped while waiting for the deals' terms to begin, but the file is stored (journal entry ${journalId}): ` +
          `\`sherd stat <link>\` shows its deals, \`sherd put --resume ${journalId}\` prints the link again${link === undefined ? '' : '; its link:'}\n`
      )
      if (link !== undefined) out(link + '\n')
    } else if (journalId !== undefined && !stored) {
      io.stderr.write(
        `the put is recorded in journal entry ${journalId}${journalPath === undefined ? '' : ` (${journalPath})`}` +
          `${dealsTotal > 0 ? `; ${dealsOpened} of ${dealsTotal} deals are known to be open` : ''}: run \`sherd put --resume ${journalId}\` to finish it (no deal is opened twice)\n`
      )
    } else if (journalId === undefined && signal.aborted) {
      io.stderr.write('stopped before anything was paid: no deal was opened; run the put again\n')
    }
    throw err
  }
  let units: TokenUnits | undefined
  const printResult = (result: PutResult): void => {
    if (asJson) {
      out(
        json({
          link: result.link,
          cid: result.cid.toString(),
          fileSize: result.manifest.fileSize,
          segments: result.manifest.segments.length,
          deals: result.deals,
          escrow: result.escrow,
          ...(units === undefined ? {} : { token: deps.tokenJson(units.info) }),
          manifestProviders: result.manifestProviders,
          journal: result.journal
        }) + '\n'
      )
    } else {
      // The link alone goes to stdout, so `link=$(sherd put f)` works; the cost is for the person watching.
      io.stderr.write(
        `stored ${result.manifest.fileSize} bytes in ${result.manifest.segments.length} segment(s) under ${result.deals.length} deal(s); escrow ${units === undefined ? `${result.escrow} base units` : units.format(result.escrow)}\n`
      )
      out(result.link + '\n')
    }
  }

  if (values.abandon !== undefined) {
    if (positionals.length > 0 || values.resume === true || values['dry-run'] === true)
      throw deps.usage('--abandon takes one journal entry id and nothing else: sherd put --abandon <id>')
    const id = values.abandon
    units = await deps.chainUnits()
    const r = await deps.withClient(config, signal, async (client) => await client.abandon(id, { signal }))
    if (asJson) {
      out(json({ id, ...r }) + '\n')
    } else {
      out(
        `abandoned ${id}: ${r.neverOpened} deal(s) never opened (nothing paid for them); claimed ${r.settled.length}, withdrew ${units.format(r.withdrawn)}\n`
      )
      if (r.running.length > 0) {
        out(
          `${r.running.length} deal(s) were opened and cannot be cancelled (the market has no early termination): they run to the end of their term ` +
            'and their escrow pays the providers for the periods they prove. Prefer `sherd put --resume` to get the file stored for that money.\n'
        )
      }
    }
    return 0
  }

  if (values.resume === true) {
    if (positionals.length > 1) throw deps.usage('expected at most one journal entry id: sherd put --resume [<id>]')
    if (values['dry-run'] === true) throw deps.usage('--dry-run and --resume do not go together')
    units = await deps.chainUnits()
    const journal = new PutJournal(config.journalDir!)
    await deps.withClient(config, signal, async (client) => {
      const all = positionals.length === 0
      let ids = positionals
      if (all) {
        const { entries } = await journal.list()
        ids = entries
          .filter(
            (e) =>
              unfinished(e) &&
              e.client.toLowerCase() === client.address?.toLowerCase() &&
              e.market.toLowerCase() === config.contract?.toLowerCase()
          )
          .map((e) => e.id)
        if (ids.length === 0)
          io.stderr.write(
            `nothing to resume: every put in ${journal.dir} of account ${client.address ?? '?'} on this market is finished\n`
          )
      }
      for (const id of ids) {
        journalId = id
        stored = false
        if (!asJson) io.stderr.write(`resuming ${id}\n`)
        const result = await client
          .resume(id, { signal, onProgress: track, ...waitOption })
          .catch(async (err: unknown) => {
            // Resuming everything, an entry of an earlier chain at the same address (a restarted devnet) is skipped.
            if (all && err instanceof JournalError) {
              io.stderr.write(`skipping ${id}: ${err.message}\n`)
              return undefined
            }
            return await explain(err)
          })
        if (result !== undefined) printResult(result)
      }
    })
    return 0
  }

  if (positionals.length !== 1) throw deps.usage('expected one file: sherd put <file>, or sherd put - to read stdin')
  const path = positionals[0]!
  // The file first: a directory or a missing file is refused before anything touches the network.
  const input = await deps.openInput(path)
  units = await deps.chainUnits()
  const options = {
    ...(extraUploads === undefined ? {} : { extraUploads }),
    ...(spareShards === undefined ? {} : { spareShards }),
    ...(maxPrice === undefined ? {} : { maxPricePerMiB: units.parse(maxPrice, '--max-price') })
  }
  const size = input.size
  const name = size === undefined ? undefined : resolve(path)

  if (values['dry-run'] === true) {
    if (size === undefined)
      throw deps.usage('--dry-run needs a file whose size is known (not stdin or a pipe): the cost depends on it')
    const estimate = await deps.withClient(
      config,
      signal,
      async (client) => await client.estimatePut(size, { signal, ...options })
    )
    if (asJson) out(json({ ...estimate, shards: estimate.shards, token: estimate.token }) + '\n')
    else out(describeEstimate(path, estimate))
    return 0
  }

  const bar =
    size === undefined
      ? undefined
      : deps.progressBar(
          io,
          !asJson && !progressJson,
          'put [{bar}] {percentage}% | {encoded}/{total_mib} encoded | {shards} shards | {deals} deals'
        )
  bar?.start(Math.max(size ?? 0, 1), 0, { encoded: mib(0), total_mib: mib(size ?? 0), shards: 0, deals: 0 })
  let shards = 0
  let encoded = 0
  const onProgress = (e: PutProgressEvent): void => {
    track(e)
    if (e.type === 'put:encoded') encoded = e.encodedBytes
    else if (e.type === 'put:shard-stored') shards++
    bar?.update(encoded, { encoded: mib(encoded), total_mib: mib(size ?? 0), shards, deals: dealsOpened })
  }
  const result = await deps
    .withClient(
      config,
      signal,
      async (client) =>
        await client.put(input.source, {
          signal,
          onProgress,
          ...waitOption,
          ...options,
          ...(size === undefined ? {} : { expectedSize: size }),
          ...(name === undefined ? {} : { name })
        })
    )
    .catch(explain)
    .finally(() => bar?.stop())
  printResult(result)
  return 0
}

function describeEstimate(path: string, e: PutEstimate): string {
  const tokens = (units: bigint): string => formatTokenAmount(units, e.token)
  const byProvider = new Map<
    string,
    { shards: number; bytes: number; escrow: bigint; collateral: bigint; price: bigint }
  >()
  for (const s of e.shards) {
    const p = byProvider.get(s.provider) ?? { shards: 0, bytes: 0, escrow: 0n, collateral: 0n, price: s.pricePerMiB }
    p.shards++
    p.bytes += s.bytes
    p.escrow += s.escrow
    p.collateral += s.collateral
    byProvider.set(s.provider, p)
  }
  const rows = [['provider', 'price/MiB/period', 'shards', 'bytes', 'escrow', 'collateral']]
  for (const [id, p] of byProvider)
    rows.push([id, tokens(p.price), String(p.shards), mib(p.bytes), tokens(p.escrow), tokens(p.collateral)])
  const short = e.stakeShort.map(
    (s) =>
      `skipped ${s.provider}: free stake ${tokens(s.freeStake)} cannot back ${tokens(s.needed)} of collateral` +
      `${s.segmentIndex === 0 ? '' : ` (from segment ${s.segmentIndex} on)`}`
  )
  const lines = [
    `dry run: ${path}, ${e.fileSize} bytes → ${e.segments} segment(s) × (k=${e.k} + m=${e.m}) = ${e.shards.length} shards, ${e.periods} periods each`,
    '',
    table(rows).trimEnd(),
    ...(short.length === 0 ? [] : ['', ...short]),
    '',
    `cost (escrow)  ${tokens(e.escrow)}`,
    `balance        ${tokens(e.balance)}${e.missing > 0n ? `  → ${tokens(e.missing)} MISSING: fund the account before the put` : ''}`,
    `allowance      ${tokens(e.allowance)}${e.allowance >= e.escrow ? '' : `  → put approves the market for ${tokens(e.escrow)} once`}`,
    `gas            ${formatTokenAmount(e.gasBalance, { symbol: 'ETH', decimals: 18 })}${e.gasBalance === 0n ? '  → NO GAS: the account cannot send transactions' : ''}`,
    "Nothing was uploaded or spent. The placement is put's choice as of now; a failed upload moves a shard elsewhere."
  ]
  return lines.join('\n') + '\n'
}

export const putCommand = defineCommand({
  name: 'put',
  synopsis: 'put <file|->',
  summary:
    'encrypt, erasure-code and store a file (- reads stdin); prints its sherd:// link\n(--dry-run: cost and placement only; --resume: finish an interrupted put)',
  help: `Usage: sherd put <file> [flags]
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
  options: {
    ...CONFIG_OPTIONS,
    k: { type: 'string', short: 'k' },
    m: { type: 'string', short: 'm' },
    'segment-size': { type: 'string' },
    periods: { type: 'string' },
    'extra-uploads': { type: 'string' },
    'spare-shards': { type: 'string' },
    wait: { type: 'boolean' },
    'no-wait': { type: 'boolean' },
    'max-price': { type: 'string' },
    'dry-run': { type: 'boolean' },
    resume: { type: 'boolean' },
    abandon: { type: 'string' },
    'progress-json': { type: 'boolean' }
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    requireChain(config, 'put')
    return await put({
      config,
      values,
      positionals,
      io,
      signal,
      withClient,
      progressBar,
      json,
      usage: (m) => new UsageError(m),
      openInput: async (path) => await openPutInput(path, io),
      chainUnits: async () => await withChainOnly(config, signal, async (_chain, units) => units),
      tokenJson
    })
  }
})

interface PutInput {
  source: PutSource
  /** Known for regular files: a file that changes size while it is read fails the put instead of storing a mix. */
  size?: number
}

/** Opens what `put` stores: a file, a pipe or device such as /dev/stdin, or stdin for "-"; refuses a directory. */
async function openPutInput(path: string, io: CommandContext['io']): Promise<PutInput> {
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
    throw new CliError(
      code === 'ENOENT' ? `${path}: no such file` : `cannot read ${path} (${code ?? (err as Error).message})`,
      { cause: err }
    )
  }
  if (info.isDirectory()) {
    throw new CliError(
      `${path} is a directory; sherd put stores one file: pack it first (tar -czf ${basename(resolve(path))}.tgz -C ${dirname(resolve(path))} ${basename(resolve(path))}) and put the archive`
    )
  }
  // Opened here, so an unreadable file fails now with a clear message, not later as a stream error.
  let handle
  try {
    handle = await open(path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CliError(
      code === 'EACCES'
        ? `cannot read ${path}: permission denied`
        : `cannot read ${path} (${code ?? (err as Error).message})`,
      { cause: err }
    )
  }
  const source = handle.createReadStream()
  // A pipe or character device (a FIFO) reports no meaningful size: stream it to its end.
  return info.isFile() ? { source, size: info.size } : { source }
}

const STDIN_PATHS = new Set(['/dev/stdin', '/dev/fd/0', '/proc/self/fd/0'])
