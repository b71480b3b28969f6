import { withChain } from '../context.js'
import type { ClientContext } from '../context.js'
import { ClientConfigError } from '../errors.js'
import type { PutProgressEvent } from '../events.js'
import { JournalError, JournalWriter } from '../journal.js'
import type { JournalEntry } from '../journal.js'
import { settlePut } from './settle.js'
import type { PutResult } from './settle.js'

export interface ResumePutOptions {
  waitForActivation?: boolean
  activationTimeoutMs?: number
  manifestReplicas?: number
  signal?: AbortSignal
  onProgress?: (event: PutProgressEvent) => void
}

/** Entries a resume would act on: not yet stored, or stored with deals that are neither open nor given up. */
export function unfinished (entry: JournalEntry): boolean {
  return entry.state !== 'stored' || entry.deals.some((d) => d.dealId === undefined && d.error === undefined)
}

/**
 * Finishes an interrupted put from its journal entry `id`: finds on chain the deals it already opened, opens
 * the rest (approving what they still need), stores the manifest and returns the same result a put returns.
 * Running it again, or on a finished entry, opens nothing twice and returns the recorded link.
 *
 * @example
 * const { link } = await client.resume('20261201-a1b2c3d4e5f6')
 */
export async function resumePut (context: ClientContext, id: string, options: ResumePutOptions = {}): Promise<PutResult> {
  const ctx = withChain(context, 'resume')
  if (ctx.journal === undefined) throw new ClientConfigError('resume needs the journal: pass journalDir to createClient (the CLI uses --journal-dir / SHERD_JOURNAL_DIR)')
  const entry = await ctx.journal.read(id)
  if (entry.chainId !== ctx.chainId || entry.market.toLowerCase() !== ctx.market.market.toLowerCase()) {
    throw new JournalError(`journal entry ${id} was made on chain ${entry.chainId} with market ${entry.market}, not chain ${ctx.chainId} market ${ctx.market.market}: resume it with that chain's --rpc-url and --contract`)
  }
  if (entry.client.toLowerCase() !== ctx.account.toLowerCase()) {
    throw new JournalError(`journal entry ${id} belongs to account ${entry.client}, not ${ctx.account}: resume it with that account's key (the offers name it as the only client)`)
  }
  const d = ctx.defaults
  return await settlePut(ctx, new JournalWriter(entry, ctx.journal), {
    wait: options.waitForActivation ?? d.waitForActivation,
    timeoutMs: options.activationTimeoutMs ?? d.activationTimeoutMs,
    pollingIntervalMs: d.pollingIntervalMs,
    manifestReplicas: options.manifestReplicas ?? d.manifestReplicas,
    signal: options.signal ?? new AbortController().signal,
    emit: options.onProgress ?? (() => {})
  })
}
