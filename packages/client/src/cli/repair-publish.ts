import type { SherdClient } from '../client.js'
import type { RepairResult } from '../actions/repair.js'

/** What `sherd repair` reports of the latest-version record it published (`--json`: `published`). */
export type RepairPublished =
  | { readonly seq: number; readonly accepted: number; readonly asked: number }
  | { readonly error: string }

/**
 * After a manual repair wrote a new version: publish it as the file's latest, as the keeper does (docs/keeper.md,
 * "Links after a repair"), to the providers of the new version and of the one it was repaired from, so `get` with
 * an older link reads it. The repair is done and paid for either way, so a failure here is reported, not thrown.
 */
export async function publishRepair(
  client: Pick<SherdClient, 'publishLatest'>,
  r: Pick<RepairResult, 'link' | 'previousCid'>,
  signal: AbortSignal,
  note: (text: string) => void
): Promise<RepairPublished> {
  try {
    const p = await client.publishLatest(r.link, { olderCids: [r.previousCid], signal })
    if (p.accepted === 0) throw new Error(`none of the ${p.asked} providers asked took the record`)
    note(`published the new version to ${p.accepted} of ${p.asked} providers: older links of this file now read it\n`)
    return { seq: p.seq, accepted: p.accepted, asked: p.asked }
  } catch (err) {
    signal.throwIfAborted()
    const error = (err as Error).message
    note(
      `warning: the new version was not published as the file's latest (${error}): older links still read ${r.previousCid} ` +
        'while k of its shards last; use the link below\n'
    )
    return { error }
  }
}
