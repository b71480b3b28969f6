// `sherd audit`: on-demand audits of a file's shards.
import { defineCommand } from './command.js'
import {
  UsageError,
  checkedLink,
  clientUnits,
  expectArgs,
  json,
  requireChain,
  short,
  table,
  tokenJson,
  withManifestClient
} from './common.js'
import type { CommandContext } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP } from './config.js'

export const auditCommand = defineCommand({
  name: 'audit',
  synopsis: 'audit <link>',
  summary: "ask the providers to prove the file's shards now (a bond per deal); report or fail them",
  help: `Usage: sherd audit <link> [--shard <segment>:<shard>]... [--no-wait]

For each shard (all with a live deal, or those given with --shard), asks the market for an on-demand audit:
the provider must prove 10 random leaves of it in the next period. The market's bond (0.1 token by default)
is deposited per deal: it pays the provider's gas when answered. Waits until each audit is answered or its
period has closed unanswered, then fails it: the deal faults, its provider's collateral is slashed, and the
bond comes back with a reward (withdrawn). Run sherd repair afterwards to move failed shards. --no-wait only
requests; running audit again later settles the open audits (none is requested twice). Exits 1 when any audit
failed.

${ENV_HELP}`,
  options: {
    ...CONFIG_OPTIONS,
    shard: { type: 'string', multiple: true },
    'no-wait': { type: 'boolean' }
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    requireChain(config, 'audit')
    const out = (text: string): void => {
      io.stdout.write(text)
    }
    const note = (text: string): void => {
      io.stderr.write(text)
    }
    const asJson = values.json === true
    expectArgs(positionals, 1, 'one link: sherd audit <link> [--shard <segment>:<shard>]')
    const link = checkedLink(positionals[0]!)
    const shards = (values.shard ?? []).map((text) => {
      const m = /^(\d+)[:/](\d+)$/.exec(text)
      if (m === null)
        throw new UsageError(`--shard must be <segment>:<shard> (e.g. 0:3, as sherd stat numbers them), got "${text}"`)
      return { segmentIndex: Number(m[1]), shardIndex: Number(m[2]) }
    })
    const { r, units } = await withManifestClient(config, signal, async (client) => {
      const r = await client.audit(link, {
        signal,
        ...(shards.length === 0 ? {} : { shards }),
        wait: values['no-wait'] !== true,
        onProgress: (e) => {
          if (asJson) return
          if (e.type === 'audit:requested')
            note(
              `segment ${e.segmentIndex} shard ${e.shardIndex}: audit of deal ${e.dealId} requested for period ${e.period}\n`
            )
        }
      })
      return { r, units: await clientUnits(client) }
    })
    if (asJson) {
      out(json({ ...r, token: tokenJson(units.info) }) + '\n')
    } else {
      const rows = [['seg', 'shard', 'provider', 'deal', 'period', 'result', 'reward / reason']]
      for (const a of r.audits) {
        rows.push([
          String(a.segmentIndex),
          String(a.shardIndex),
          short(a.provider),
          a.dealId?.toString() ?? '-',
          a.period?.toString() ?? '-',
          a.result,
          a.result === 'failed' ? `${units.format(a.reward ?? 0n)}; ${a.reason ?? ''}` : (a.reason ?? '')
        ])
      }
      out(table(rows))
      out(`bonds ${units.format(r.bonds)}; withdrew ${units.format(r.withdrawn)}\n`)
    }
    const failed = r.audits.filter((a) => a.result === 'failed').length
    if (failed > 0) note(`error: ${failed} audit(s) were not answered: those deals faulted; run sherd repair ${link}\n`)
    return failed > 0 ? 1 : 0
  }
})
