// `sherd ls`: the files in the put journal, with their deals' state read from the chain.
import { formatTokenAmount } from '@sherd/contracts'
import type { MarketClient, TokenInfo } from '@sherd/contracts'
import { createPublicClient, http } from 'viem'
import type { Address, PublicClient } from 'viem'
import { listFiles } from '../actions/list.js'
import type { ListedFile } from '../actions/list.js'
import { marketToken } from '../chain.js'
import type { ClientConfig } from '../client.js'
import { PutJournal } from '../journal.js'
import { defineCommand } from './command.js'
import { expectArgs, json, mib, table } from './common.js'
import type { CliContext, CommandContext } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP } from './config.js'

/** RPC reads of `sherd ls` give up after this long: a listing should not hang on a dead endpoint. */
const LS_RPC_TIMEOUT_MS = 5_000

export const lsCommand = defineCommand({
  name: 'ls',
  summary: 'your files (from the put journal): size, cost, expiry, health',
  help: `Usage: sherd ls [--journal-dir <dir>]

Lists the files in the put journal (every put made from this machine, finished or not): id, name, size, cost
(the escrow of its deals), expiry (when its first deal ends; the date is estimated from the chain's recent
block times) and health (healthy, degraded: run sherd repair, expired, interrupted: run sherd put --resume
<id>, deleted: sherd delete was run, and the expiry reads "ends <date>, not renewed"). Reads the chain only (--rpc-url, --contract); contacts no provider. Without a chain it lists what the
journal holds. With --json: every entry with its link and deal states.

  --journal-dir <dir>      SHERD_JOURNAL_DIR   the journal (default $XDG_DATA_HOME/sherd/files, else
                           ~/.local/share/sherd/files)

${ENV_HELP}`,
  options: { ...CONFIG_OPTIONS },
  async run({ values, positionals }, ctx: CommandContext) {
    expectArgs(positionals, 0, 'no arguments: sherd ls')
    return await listJournal(ctx.config, values.json === true, ctx)
  }
})

/** `sherd ls`: the journal's files with their chain state; starts no libp2p. */
async function listJournal(config: ClientConfig, asJson: boolean, { io, signal }: CliContext): Promise<number> {
  const journal = new PutJournal(config.journalDir!)
  let market: (MarketClient & { publicClient: PublicClient }) | undefined
  let chainId: number | undefined
  let token: TokenInfo | undefined
  let listing: Awaited<ReturnType<typeof listFiles>>
  if (config.rpcUrl !== undefined && config.contract !== undefined) {
    const publicClient = createPublicClient({
      transport: http(config.rpcUrl, { timeout: LS_RPC_TIMEOUT_MS, retryCount: 0 })
    }) as PublicClient
    market = { market: config.contract as Address, publicClient }
    try {
      chainId = await publicClient.getChainId()
      const [info, files] = await Promise.all([marketToken(market), listFiles(journal, { market, chainId, signal })])
      token = info
      listing = files
    } catch (err) {
      signal.throwIfAborted()
      io.stderr.write(
        `warning: cannot read the chain at ${config.rpcUrl} (${(err as Error).message.split('\n')[0]}); listing the journal only\n`
      )
      listing = await listFiles(journal)
    }
  } else {
    io.stderr.write('note: no chain configured (--rpc-url, --contract): deal states and expiry are not shown\n')
    listing = await listFiles(journal)
  }
  for (const u of listing.unreadable) io.stderr.write(`warning: ${u.error}\n`)
  if (asJson) {
    io.stdout.write(json({ journalDir: journal.dir, files: listing.files }) + '\n')
    return 0
  }
  if (listing.files.length === 0) {
    io.stderr.write(`no files in ${journal.dir}\n`)
    return 0
  }
  const amount = (units: bigint): string =>
    token === undefined ? `${units} base` : formatTokenAmount(units, token, { maxFractionDigits: 4 })
  const rows = [['id', 'name', 'size', 'cost', 'expires', 'health', 'deals']]
  for (const f of listing.files)
    rows.push([f.id, f.name ?? '-', mib(f.fileSize), amount(f.escrow), expiry(f), health(f), dealSummary(f)])
  io.stdout.write(table(rows))
  const stuck = listing.files.filter((f) => f.resumable && !f.otherChain)
  if (stuck.length > 0)
    io.stderr.write(`${stuck.length} put(s) interrupted: run \`sherd put --resume\` to finish them\n`)
  return 0
}

function expiry(f: ListedFile): string {
  const date = (d: Date): string => `~${d.toISOString().slice(0, 16).replace('T', ' ')}Z`
  // A deleted file's deals are not renewed: what matters is when the last one stops, not when redundancy drops.
  if (f.health === 'deleted') return f.endsAt === undefined ? 'ended' : `ends ${date(f.endsAt)}, not renewed`
  if (f.expiresAt === undefined) return '-'
  return date(f.expiresAt)
}

function health(f: ListedFile): string {
  if (f.otherChain) return 'other chain'
  if (f.supersededBy !== undefined) return 'replaced (a repair wrote a new link)'
  return f.health === 'interrupted' ? 'interrupted (resume)' : f.health === 'degraded' ? 'degraded (repair)' : f.health
}

function dealSummary(f: ListedFile): string {
  return Object.entries(f.deals)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ')
}
