import { withChain } from '../context.js'
import type { ChainContext, ClientContext } from '../context.js'
import { ClientConfigError } from '../errors.js'
import type { PutProgressEvent } from '../events.js'
import { JournalError, JournalWriter, marketTag } from '../journal.js'
import type { JournalEntry } from '../journal.js'
import { settleDeals } from './lifecycle.js'
import type { DeleteOptions, DeleteResult } from './lifecycle.js'
import { recoverOpenedDeals, settlePut } from './settle.js'
import type { PutResult } from './settle.js'

export interface ResumePutOptions {
  waitForActivation?: boolean
  activationTimeoutMs?: number
  manifestReplicas?: number
  signal?: AbortSignal
  onProgress?: (event: PutProgressEvent) => void
}

/** Entries a resume would act on: not yet stored, or stored with deals that are neither open nor given up. */
export function unfinished(entry: JournalEntry): boolean {
  if (entry.state === 'abandoned') return false
  return entry.state !== 'stored' || entry.deals.some((d) => d.dealId === undefined && d.error === undefined)
}

/** The entry `id`, checked to belong to this client's chain, market and account. */
async function readOwnEntry(
  ctx: ChainContext,
  id: string,
  action: string
): Promise<{ entry: JournalEntry; writer: JournalWriter }> {
  if (ctx.journal === undefined)
    throw new ClientConfigError(
      `${action} needs the journal: pass journalDir to createClient (the CLI uses --journal-dir / SHERD_JOURNAL_DIR)`
    )
  const entry = await ctx.journal.read(id)
  if (
    entry.chainId !== ctx.chainId ||
    entry.market.toLowerCase() !== ctx.market.market.toLowerCase() ||
    entry.marketTag !== (await marketTag(ctx.publicClient, ctx.market.market))
  ) {
    throw new JournalError(
      `journal entry ${id} was made on chain ${entry.chainId} with market ${entry.market} (deployment block ${entry.marketTag}), not on this chain's market: use that chain's --rpc-url and --contract (a local chain that was restarted is another chain)`
    )
  }
  if (entry.client.toLowerCase() !== ctx.account.toLowerCase()) {
    throw new JournalError(
      `journal entry ${id} belongs to account ${entry.client}, not ${ctx.account}: use that account's key (the offers name it as the only client)`
    )
  }
  return { entry, writer: new JournalWriter(entry, ctx.journal) }
}

/**
 * Finishes an interrupted put from its journal entry `id`: finds on chain the deals it already opened, opens
 * the rest (approving what they still need), stores the manifest and returns the same result a put returns.
 * Running it again, or on a finished entry, opens nothing twice and returns the recorded link.
 *
 * @example
 * const { link } = await client.resume('20261201-a1b2c3d4e5f6')
 */
export async function resumePut(
  context: ClientContext,
  id: string,
  options: ResumePutOptions = {}
): Promise<PutResult> {
  const ctx = withChain(context, 'resume')
  const { entry, writer } = await readOwnEntry(ctx, id, 'resume')
  if (entry.state === 'abandoned')
    throw new JournalError(
      `journal entry ${id} was abandoned: its remaining offers are not opened any more; put the file again`
    )
  const d = ctx.defaults
  return await settlePut(ctx, writer, {
    wait: options.waitForActivation ?? d.waitForActivation,
    timeoutMs: options.activationTimeoutMs ?? d.activationTimeoutMs,
    pollingIntervalMs: d.pollingIntervalMs,
    manifestReplicas: options.manifestReplicas ?? d.manifestReplicas,
    signal: options.signal ?? new AbortController().signal,
    emit: options.onProgress ?? (() => {})
  })
}

export interface AbandonResult extends DeleteResult {
  /** Deals of the put that were never opened (nothing was paid for them, and nothing will be). */
  readonly neverOpened: number
}

/**
 * Gives up an interrupted put: marks its entry `abandoned` so no further deal is opened from it, finds on chain
 * the deals it did open, and claims back what the market allows (`settleDeals`: deals whose term is over or that
 * are void are claimed, refunds withdrawn). Opened deals cannot be cancelled (the market has no early
 * termination): they are returned in `running`, and their escrow pays the provider to the end of the term. A stored
 * put is refused: `delete` its link instead. `resume` is the better way out whenever deals are open.
 */
export async function abandonPut(
  context: ClientContext,
  id: string,
  options: DeleteOptions = {}
): Promise<AbandonResult> {
  const ctx = withChain(context, 'abandon')
  const { entry, writer } = await readOwnEntry(ctx, id, 'abandon')
  if (entry.state === 'stored')
    throw new JournalError(
      `journal entry ${id} is stored (link ${entry.link ?? '?'}): run delete on its link to stop paying for it`
    )
  await writer.update((e) => {
    e.state = 'abandoned'
  })
  await recoverOpenedDeals(
    ctx,
    writer,
    entry.deals.filter((d) => d.dealId === undefined && d.error === undefined && d.batch !== undefined),
    options.signal
  )
  let neverOpened = 0
  await writer.update((e) => {
    for (const d of e.deals) {
      if (d.dealId !== undefined || d.error !== undefined) continue
      d.error = 'abandoned before it was opened'
      neverOpened++
    }
  })
  const ids = entry.deals.flatMap((d) => (d.dealId === undefined ? [] : [d.dealId]))
  return { ...(await settleDeals(ctx, ids, options)), neverOpened }
}
