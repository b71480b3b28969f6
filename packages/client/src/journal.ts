import { files, randomHex } from '#platform'
import { proofSetMarketAbi } from '@sherd/contracts'
import type { ProofSetOffer } from '@sherd/contracts'
import type { Address, Hex, PublicClient } from 'viem'
import { ClientError } from './errors.js'

/** Marks a journal file; a reader refuses any other (a newer client's entries are not guessed at). */
export const JOURNAL_FORMAT = 'sherd-put-journal/2'
/** Entries of the StorageMarket era: their offers and deal ids belong to a contract this client does not use. */
export const OLD_JOURNAL_FORMAT = 'sherd-put-journal/1'

// Node: the XDG data directory; a page: a localStorage key prefix (`#platform`).
export { defaultJournalDir, writeFileAtomic } from '#platform'

/** A journal entry cannot be read, or does not belong to this chain, market or account. */
export class JournalError extends ClientError {
  override name = 'JournalError'
}

/**
 * What happened to a put (or a repair) so far:
 * - `opening`: every shard is uploaded and its signed offer recorded; deals are being opened in batches (those
 *   with a `dealId` are known to be open; those in a sent batch may or may not be: `--resume` asks the chain).
 * - `stored`: the manifest is stored and `link` is final; the deals are settled or being activated.
 * - `abandoned`: the user gave the put up (`abandonPut`): nothing more is opened, refunds were claimed.
 */
export type JournalState = 'opening' | 'stored' | 'abandoned'

/** One deal a put pays for: the shard, where it is, the offer it opens from, and what the chain said. */
export interface JournalDeal {
  segmentIndex: number
  shardIndex: number
  /** Peer id of the provider holding the shard. */
  provider: string
  bytes: number
  /** The provider's terms, signed once it held the shard: what the deal is opened from (bigints as strings). */
  offer: ProofSetOffer
  signature: Hex
  /** The batch (index in `batches`) this deal was last put in; recorded before that batch was sent. */
  batch?: number
  /** Set once the deal is known to be open on chain. */
  dealId?: bigint
  openedBlock?: bigint
  /** Why this deal could not be opened (offer expired, cancelled, refused): the shard is unfunded, `repair` moves it. */
  error?: string
}

/**
 * One `openDeals` transaction, recorded with its deals before it is sent (`recordedAt`), with its hash once the
 * chain accepted it (`txHash`), and with its block once its deals are recorded open (`openedBlock`). A batch with
 * no `openedBlock` may or may not have opened: resume reads the offers' nonces and the DealOpened logs.
 */
export interface JournalBatch {
  /** Indexes into `deals`, in offer order (the order the deal ids are assigned in). */
  deals: number[]
  recordedAt: string
  txHash?: Hex
  openedBlock?: bigint
}

/** `put`: a new file; `repair`: new deals for shards of an existing file (a new manifest version). */
export type JournalKind = 'put' | 'repair'

export interface JournalEntry {
  format: typeof JOURNAL_FORMAT
  id: string
  kind: JournalKind
  state: JournalState
  createdAt: string
  updatedAt: string
  /** What the user called the file (the CLI records the path it was given). */
  name?: string
  chainId: number
  market: Address
  /** `marketTag`: tells this market from another at the same address (a restarted devnet has the same ones). */
  marketTag: Hex
  client: Address
  fileSize: number
  /** The file key, hex: with the manifest CID it makes the link. Whoever reads this file can read the file. */
  key: string
  /** `repair`: `key` is the file's repair key (a repair made with a `#r=` capability), not its file key. */
  keyKind?: 'repair'
  /**
   * The manifest before this entry's deals are filled in (`encodeManifest`, base64): enough to write the final
   * one. For a repair it keeps the shards not being moved with their providers and deals.
   */
  manifest: string
  /** A repair: the CID of the manifest version it replaces. */
  previousCid?: string
  /** A block at or before the first transaction: where the chain is searched for deals this put opened. */
  startBlock: bigint
  /** Token base units the deals escrow in total. */
  escrow: bigint
  deals: JournalDeal[]
  batches: JournalBatch[]
  cid?: string
  link?: string
  manifestProviders?: string[]
  /**
   * When `delete` was run on the file (ISO time). Its deals are never renewed; those still running serve out their
   * term (the market has no early cancel), so `ls` shows the file as deleted with the date its last deal ends.
   */
  deletedAt?: string
}

const BIGINT_FIELDS = new Set([
  'dealId',
  'openedBlock',
  'startBlock',
  'escrow',
  'size',
  'pricePerPeriod',
  'nonce',
  'expiry'
])

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function encodeEntry(entry: JournalEntry): string {
  return (
    JSON.stringify(entry, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 1) + '\n'
  )
}

function decodeEntry(text: string, path: string): JournalEntry {
  let parsed: unknown
  try {
    parsed = JSON.parse(text, (key, value: unknown) =>
      BIGINT_FIELDS.has(key) && typeof value === 'string' ? BigInt(value) : value
    )
  } catch (err) {
    throw new JournalError(
      `journal entry ${path} is not valid JSON (${(err as Error).message}); it was not written by sherd, move it aside`,
      { cause: err }
    )
  }
  if (!isObject(parsed))
    throw new JournalError(`journal entry ${path} is not a JSON object; it was not written by sherd, move it aside`)
  if (parsed.format === OLD_JOURNAL_FORMAT) {
    throw new JournalError(
      `journal entry ${path} was written for the old StorageMarket (format ${OLD_JOURNAL_FORMAT}): its offers and deals ` +
        'cannot be opened or read on ProofSetMarket. If it is stored, its link still works while its old deals run; ' +
        'otherwise put the file again. Move the entry out of the journal directory to silence this message'
    )
  }
  if (parsed.format !== JOURNAL_FORMAT) {
    throw new JournalError(
      `journal entry ${path} has format ${String(parsed.format)}, not ${JOURNAL_FORMAT}: use the sherd version that wrote it`
    )
  }
  if (!Array.isArray(parsed.deals) || !Array.isArray(parsed.batches) || typeof parsed.id !== 'string') {
    throw new JournalError(
      `journal entry ${path} lacks its deals or batches: it is damaged; move it aside (its file key is in it)`
    )
  }
  // The format marker and the shape checked above: the rest is what this module wrote.
  return parsed as unknown as JournalEntry
}

/**
 * The hash of the block the market was deployed in. A local chain restarted from scratch deploys the market at
 * the same address with the same chain id; its deployment block has another hash, so an entry of the old chain
 * is not taken for one of the new (its deal ids would name other deals).
 */
export async function marketTag(publicClient: PublicClient, market: Address): Promise<Hex> {
  const blockNumber = await publicClient.readContract({
    address: market,
    abi: proofSetMarketAbi,
    functionName: 'genesisBlock'
  })
  return (await publicClient.getBlock({ blockNumber })).hash
}

/**
 * The put journal: one JSON file per put in `dir` (mode 0700; files 0600, each written atomically; in a browser one
 * `localStorage` key per put under the `dir/` prefix). An entry is
 * written before a put spends anything and updated as deals open, so an interrupted put can be finished
 * (`resumePut`) and every stored file listed (`listFiles`).
 */
export class PutJournal {
  constructor(readonly dir: string) {}

  pathOf(id: string): string {
    return files.join(this.dir, `${id}.json`)
  }

  static newId(): string {
    return `${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomHex(6)}`
  }

  async write(entry: JournalEntry): Promise<void> {
    try {
      await files.mkdir(this.dir)
      await files.writeAtomic(this.pathOf(entry.id), encodeEntry(entry))
    } catch (err) {
      throw new JournalError(
        `cannot write the put journal entry ${this.pathOf(entry.id)} (${(err as Error).message}): ` +
          `make ${this.dir} writable or choose another journal directory (--journal-dir / SHERD_JOURNAL_DIR)` +
          (entry.deals.some((d) => d.dealId !== undefined) ? '' : '; nothing was paid'),
        { cause: err }
      )
    }
  }

  async read(id: string): Promise<JournalEntry> {
    if (!/^[A-Za-z0-9-]+$/.test(id)) throw new JournalError(`"${id}" is not a journal entry id (sherd ls lists them)`)
    const path = this.pathOf(id)
    let text: string
    try {
      text = await files.readText(path)
    } catch {
      throw new JournalError(
        `no journal entry ${id} in ${this.dir}: run sherd ls to see the entries (or pass the journal directory the put used)`
      )
    }
    return decodeEntry(text, path)
  }

  /** Every entry, oldest first; files that are not entries are reported in `unreadable`, not thrown. */
  async list(): Promise<{ entries: JournalEntry[]; unreadable: Array<{ path: string; error: string }> }> {
    let names: string[]
    try {
      names = await files.list(this.dir)
    } catch {
      return { entries: [], unreadable: [] }
    }
    const entries: JournalEntry[] = []
    const unreadable: Array<{ path: string; error: string }> = []
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const path = files.join(this.dir, name)
      try {
        entries.push(decodeEntry(await files.readText(path), path))
      } catch (err) {
        unreadable.push({ path, error: (err as Error).message })
      }
    }
    entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
    return { entries, unreadable }
  }
}

/**
 * Marks every entry of the file with manifest `cid` as deleted (idempotent: a second delete keeps the first
 * time). Returns the ids marked; none when this journal did not record the put (another machine's file).
 */
export async function recordDeletion(journal: PutJournal, cid: string, at: Date = new Date()): Promise<string[]> {
  const { entries } = await journal.list()
  const marked: string[] = []
  for (const entry of entries.filter((e) => e.cid === cid)) {
    if (entry.deletedAt === undefined) {
      entry.deletedAt = at.toISOString()
      entry.updatedAt = entry.deletedAt
      await journal.write(entry)
    }
    marked.push(entry.id)
  }
  return marked
}

/**
 * One entry being written: changes are applied in order and each one is on disk before `update` resolves.
 * Without a journal (`journal` undefined) the entry lives in memory only.
 */
export class JournalWriter {
  private queue: Promise<void> = Promise.resolve()
  constructor(
    readonly entry: JournalEntry,
    private readonly journal: PutJournal | undefined
  ) {}

  get path(): string | undefined {
    return this.journal?.pathOf(this.entry.id)
  }

  async update(change: (entry: JournalEntry) => void): Promise<void> {
    const next = this.queue.then(async () => {
      change(this.entry)
      this.entry.updatedAt = new Date().toISOString()
      await this.journal?.write(this.entry)
    })
    // A failed write fails its caller; later writes still run (they carry the whole entry).
    this.queue = next.catch(() => {})
    await next
  }
}
