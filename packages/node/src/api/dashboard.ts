import { formatTokenAmount } from '@sherd/contracts'
import type { NodeStatus } from './http-api.js'
import type { StatusHistoryJson } from './status-history.js'

/** Where dashboard.html takes the summary rendered for browsers without JavaScript (inside its `<noscript>`). */
export const NOSCRIPT_MARKER = '<!--sherd:noscript-->'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

function amount(baseUnits: string | undefined, token: NodeStatus['chain']['token']): string {
  if (baseUnits === undefined) return '–'
  return token === undefined ? `${baseUnits} base units` : formatTokenAmount(BigInt(baseUnits), token)
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`
}

/**
 * The page's figures as of this request, as plain HTML: what a browser without JavaScript shows (the live page
 * replaces none of it, as <noscript> is inert where scripts run).
 */
export function renderNoscriptSummary(status: NodeStatus, history: StatusHistoryJson | undefined): string {
  const c = status.chain
  const rows: Array<[string, string]> = [
    ['Peer id', status.peerId],
    ['Chain address', status.chainAddress],
    ['Registered', c.registered === true ? 'yes' : 'no'],
    ['Stored', `${mib(status.store.usedBytes)} of ${mib(status.store.capacityBytes)} (${status.store.shards} shards)`],
    [
      'Deals',
      `${c.deals}${Object.entries(c.dealStates ?? {})
        .filter(([, n]) => n > 0)
        .map(([s, n]) => `, ${n} ${s}`)
        .join('')}`
    ],
    ['Periods proven / missed', `${c.periodsProven} / ${c.periodsMissed}`],
    ['Earned (claimed)', amount(c.earnings, c.token)],
    ['Proven, not claimed yet', amount(c.unclaimed, c.token)],
    ['Withdrawn', amount(c.withdrawn, c.token)],
    ['Block / period', c.block === undefined ? '–' : `${c.block} / ${c.period ?? '–'}`]
  ]
  const errors = history?.errors ?? []
  return [
    `<dl class="facts" id="noscript-summary">${rows.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`,
    errors.length === 0
      ? ''
      : `<p>Recent errors:</p><ol>${errors.map((e) => `<li>${escapeHtml(new Date(e.atMs).toISOString())}: ${escapeHtml(e.message)}</li>`).join('')}</ol>`,
    '<p>Reload the page for newer figures.</p>'
  ].join('')
}
