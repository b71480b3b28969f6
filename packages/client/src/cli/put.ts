// The `sherd put` and `sherd ls` commands: put with its pre-flight cost check, dry run, journal and resume.
import { resolve } from 'node:path'
import { formatTokenAmount } from '@sherd/contracts'
import type { MarketClient, TokenInfo } from '@sherd/contracts'
import type cliProgress from 'cli-progress'
import { createPublicClient, http } from 'viem'
import type { Address, PublicClient } from 'viem'
import { marketToken } from './chain.js'
import { listFiles } from './actions/list.js'
import type { ListedFile } from './actions/list.js'
import type { PutEstimate } from './actions/estimate.js'
import type { PutSource } from './actions/put.js'
import { unfinished } from './actions/resume.js'
import type { PutResult } from './actions/settle.js'
import type { TokenUnits } from './cli.js'
import type { ClientConfig, SherdClient } from './client.js'
import type { PutProgressEvent } from './events.js'
import { JournalError, PutJournal } from './journal.js'

/** RPC reads of `sherd ls` give up after this long: a listing should not hang on a dead endpoint. */
const LS_RPC_TIMEOUT_MS = 5_000

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
  openInput: (path: string) => Promise<{ source: PutSource, size?: number }>
  /** The market's token, read from the chain alone (no libp2p): a bad --max-price fails before anything starts. */
  chainUnits: () => Promise<TokenUnits>
  tokenJson: (info: TokenInfo) => { address: string, symbol: string, decimals: number }
}

function mib (bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n') + '\n'
}

function nonNegativeInt (value: string | undefined, name: string, usage: (m: string) => Error): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) throw usage(`${name} must be a non-negative integer, got "${value}"`)
  return n
}

/** `sherd put <file>`, `sherd put <file> --dry-run`, `sherd put --resume [<id>]`. */
export async function putCommand (deps: PutCommandDeps): Promise<number> {
  const { config, values, positionals, io, signal, json } = deps
  const asJson = values.json === true
  const out = (text: string): void => { io.stdout.write(text) }
  const progressJson = values['progress-json'] === true
  const extraUploads = nonNegativeInt(values['extra-uploads'], '--extra-uploads', deps.usage)
  const spareShards = nonNegativeInt(values['spare-shards'], '--spare-shards', deps.usage)
  const maxPrice = values['max-price']
  const waitOption = values.wait === true ? { waitForActivation: true } : values['no-wait'] === true ? { waitForActivation: false } : {}

  let journalId: string | undefined
  let journalPath: string | undefined
  let stored = false
  let dealsOpened = 0
  let dealsTotal = 0
  const track = (e: PutProgressEvent): void => {
    if (progressJson) io.stderr.write(json(e).replace(/\n\s*/g, ' ') + '\n')
    if (e.type === 'put:journal') { journalId = e.id; journalPath = e.path; stored = e.state === 'stored' }
    else if (e.type === 'put:deal-opened') { dealsOpened = e.dealsOpened; dealsTotal = e.dealsTotal }
  }
  // Whatever stops a put once it has a journal entry, the way on is printed with the error.
  const explain = async (err: unknown): Promise<never> => {
    if (journalId !== undefined && stored && signal.aborted) {
      // Stopped while waiting for the deals' terms to begin: the file is stored and its link is in the journal; print
      // it, or it looks lost. A read failure leaves the pointer to the entry.
      const link = await new PutJournal(config.journalDir!).read(journalId).then((e) => e.link, () => undefined)
      io.stderr.write(`stopped while waiting for the deals' terms to begin, but the file is stored (journal entry ${journalId}): ` +
        `\`sherd stat <link>\` shows its deals, \`sherd put --resume ${journalId}\` prints the link again${link === undefined ? '' : '; its link:'}\n`)
      if (link !== undefined) out(link + '\n')
    } else if (journalId !== undefined && !stored) {
      io.stderr.write(`the put is recorded in journal entry ${journalId}${journalPath === undefined ? '' : ` (${journalPath})`}` +
        `${dealsTotal > 0 ? `; ${dealsOpened} of ${dealsTotal} deals are known to be open` : ''}: run \`sherd put --resume ${journalId}\` to finish it (no deal is opened twice)\n`)
    } else if (journalId === undefined && signal.aborted) {
      io.stderr.write('stopped before anything was paid: no deal was opened; run the put again\n')
    }
    throw err
  }
  let units: TokenUnits | undefined
  const printResult = (result: PutResult): void => {
    if (asJson) {
      out(json({
        link: result.link, cid: result.cid.toString(), fileSize: result.manifest.fileSize, segments: result.manifest.segments.length,
        deals: result.deals, escrow: result.escrow, ...(units === undefined ? {} : { token: deps.tokenJson(units.info) }),
        manifestProviders: result.manifestProviders, journal: result.journal
      }) + '\n')
    } else {
      // The link alone goes to stdout, so `link=$(sherd put f)` works; the cost is for the person watching.
      io.stderr.write(`stored ${result.manifest.fileSize} bytes in ${result.manifest.segments.length} segment(s) under ${result.deals.length} deal(s); escrow ${units === undefined ? `${result.escrow} base units` : units.format(result.escrow)}\n`)
      out(result.link + '\n')
    }
  }

  if (values.abandon !== undefined) {
    if (positionals.length > 0 || values.resume === true || values['dry-run'] === true) throw deps.usage('--abandon takes one journal entry id and nothing else: sherd put --abandon <id>')
    const id = values.abandon
    units = await deps.chainUnits()
    const r = await deps.withClient(config, signal, async (client) => await client.abandon(id, { signal }))
    if (asJson) {
      out(json({ id, ...r }) + '\n')
    } else {
      out(`abandoned ${id}: ${r.neverOpened} deal(s) never opened (nothing paid for them); claimed ${r.settled.length}, withdrew ${units.format(r.withdrawn)}\n`)
      if (r.running.length > 0) {
        out(`${r.running.length} deal(s) were opened and cannot be cancelled (the market has no early termination): they run to the end of their term ` +
          'and their escrow pays the providers for the periods they prove. Prefer `sherd put --resume` to get the file stored for that money.\n')
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
        ids = entries.filter((e) => unfinished(e) && e.client.toLowerCase() === client.address?.toLowerCase() &&
          e.market.toLowerCase() === config.contract?.toLowerCase()).map((e) => e.id)
        if (ids.length === 0) io.stderr.write(`nothing to resume: every put in ${journal.dir} of account ${client.address ?? '?'} on this market is finished\n`)
      }
      for (const id of ids) {
        journalId = id
        stored = false
        if (!asJson) io.stderr.write(`resuming ${id}\n`)
        const result = await client.resume(id, { signal, onProgress: track, ...waitOption }).catch(async (err: unknown) => {
          // Resuming everything, an entry of an earlier chain at the same address (a restarted devnet) is skipped.
          if (all && err instanceof JournalError) { io.stderr.write(`skipping ${id}: ${err.message}\n`); return undefined }
          return await explain(err)
        })
        if (result !== undefined) printResult(result)
      }
    })
    return 0
  }

  if (positionals.length !== 1) throw deps.usage('expected one file: sherd put <file>, or sherd put - to read stdin')
  const path = positionals[0]!
  units = await deps.chainUnits()
  const options = {
    ...(extraUploads === undefined ? {} : { extraUploads }),
    ...(spareShards === undefined ? {} : { spareShards }),
    ...(maxPrice === undefined ? {} : { maxPricePerMiB: units.parse(maxPrice, '--max-price') })
  }
  const input = await deps.openInput(path)
  const size = input.size
  const name = size === undefined ? undefined : resolve(path)

  if (values['dry-run'] === true) {
    if (size === undefined) throw deps.usage('--dry-run needs a file whose size is known (not stdin or a pipe): the cost depends on it')
    const estimate = await deps.withClient(config, signal, async (client) => await client.estimatePut(size, { signal, ...options }))
    if (asJson) out(json({ ...estimate, shards: estimate.shards, token: estimate.token }) + '\n')
    else out(describeEstimate(path, estimate))
    return 0
  }

  const bar = size === undefined ? undefined : deps.progressBar(io, !asJson && !progressJson, 'put [{bar}] {percentage}% | {encoded}/{total_mib} encoded | {shards} shards | {deals} deals')
  bar?.start(Math.max(size ?? 0, 1), 0, { encoded: mib(0), total_mib: mib(size ?? 0), shards: 0, deals: 0 })
  let shards = 0; let encoded = 0
  const onProgress = (e: PutProgressEvent): void => {
    track(e)
    if (e.type === 'put:encoded') encoded = e.encodedBytes
    else if (e.type === 'put:shard-stored') shards++
    bar?.update(encoded, { encoded: mib(encoded), total_mib: mib(size ?? 0), shards, deals: dealsOpened })
  }
  const result = await deps.withClient(config, signal, async (client) => await client.put(input.source, {
    signal, onProgress, ...waitOption, ...options,
    ...(size === undefined ? {} : { expectedSize: size }),
    ...(name === undefined ? {} : { name })
  })).catch(explain).finally(() => bar?.stop())
  printResult(result)
  return 0
}

function describeEstimate (path: string, e: PutEstimate): string {
  const tokens = (units: bigint): string => formatTokenAmount(units, e.token)
  const byProvider = new Map<string, { shards: number, bytes: number, escrow: bigint, collateral: bigint, price: bigint }>()
  for (const s of e.shards) {
    const p = byProvider.get(s.provider) ?? { shards: 0, bytes: 0, escrow: 0n, collateral: 0n, price: s.pricePerMiB }
    p.shards++; p.bytes += s.bytes; p.escrow += s.escrow; p.collateral += s.collateral
    byProvider.set(s.provider, p)
  }
  const rows = [['provider', 'price/MiB/period', 'shards', 'bytes', 'escrow', 'collateral']]
  for (const [id, p] of byProvider) rows.push([id, tokens(p.price), String(p.shards), mib(p.bytes), tokens(p.escrow), tokens(p.collateral)])
  const short = e.stakeShort.map((s) => `skipped ${s.provider}: free stake ${tokens(s.freeStake)} cannot back ${tokens(s.needed)} of collateral` +
    `${s.segmentIndex === 0 ? '' : ` (from segment ${s.segmentIndex} on)`}`)
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
    'Nothing was uploaded or spent. The placement is put\'s choice as of now; a failed upload moves a shard elsewhere.'
  ]
  return lines.join('\n') + '\n'
}

interface LsDeps {
  config: ClientConfig
  values: { json?: boolean }
  io: Io
  signal: AbortSignal
  json: (value: unknown) => string
}

/** `sherd ls`: the journal's files with their chain state; starts no libp2p. */
export async function lsCommand (deps: LsDeps): Promise<number> {
  const { config, io, signal, json } = deps
  const journal = new PutJournal(config.journalDir!)
  let market: (MarketClient & { publicClient: PublicClient }) | undefined
  let chainId: number | undefined
  let token: TokenInfo | undefined
  let listing: Awaited<ReturnType<typeof listFiles>>
  if (config.rpcUrl !== undefined && config.contract !== undefined) {
    const publicClient = createPublicClient({ transport: http(config.rpcUrl, { timeout: LS_RPC_TIMEOUT_MS, retryCount: 0 }) }) as PublicClient
    market = { market: config.contract as Address, publicClient }
    try {
      chainId = await publicClient.getChainId()
      const [info, files] = await Promise.all([
        marketToken(market),
        listFiles(journal, { market, chainId, signal })
      ])
      token = info
      listing = files
    } catch (err) {
      signal.throwIfAborted()
      io.stderr.write(`warning: cannot read the chain at ${config.rpcUrl} (${(err as Error).message.split('\n')[0]}); listing the journal only\n`)
      listing = await listFiles(journal)
    }
  } else {
    io.stderr.write('note: no chain configured (--rpc-url, --contract): deal states and expiry are not shown\n')
    listing = await listFiles(journal)
  }
  for (const u of listing.unreadable) io.stderr.write(`warning: ${u.error}\n`)
  if (deps.values.json === true) {
    io.stdout.write(json({ journalDir: journal.dir, files: listing.files }) + '\n')
    return 0
  }
  if (listing.files.length === 0) {
    io.stderr.write(`no files in ${journal.dir}\n`)
    return 0
  }
  const amount = (units: bigint): string => token === undefined ? `${units} base` : formatTokenAmount(units, token, { maxFractionDigits: 4 })
  const rows = [['id', 'name', 'size', 'cost', 'expires', 'health', 'deals']]
  for (const f of listing.files) rows.push([f.id, f.name ?? '-', mib(f.fileSize), amount(f.escrow), expiry(f), health(f), dealSummary(f)])
  io.stdout.write(table(rows))
  const stuck = listing.files.filter((f) => f.resumable && !f.otherChain)
  if (stuck.length > 0) io.stderr.write(`${stuck.length} put(s) interrupted: run \`sherd put --resume\` to finish them\n`)
  return 0
}

function expiry (f: ListedFile): string {
  const date = (d: Date): string => `~${d.toISOString().slice(0, 16).replace('T', ' ')}Z`
  // A deleted file's deals are not renewed: what matters is when the last one stops, not when redundancy drops.
  if (f.health === 'deleted') return f.endsAt === undefined ? 'ended' : `ends ${date(f.endsAt)}, not renewed`
  if (f.expiresAt === undefined) return '-'
  return date(f.expiresAt)
}

function health (f: ListedFile): string {
  if (f.otherChain) return 'other chain'
  if (f.supersededBy !== undefined) return 'replaced (a repair wrote a new link)'
  return f.health === 'interrupted' ? 'interrupted (resume)' : f.health === 'degraded' ? 'degraded (repair)' : f.health
}

function dealSummary (f: ListedFile): string {
  return Object.entries(f.deals).map(([state, n]) => `${n} ${state}`).join(', ')
}
