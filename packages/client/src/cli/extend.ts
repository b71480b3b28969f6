// `sherd extend`: buy more periods for every live deal of a file.
import { defineCommand } from './command.js'
import {
  UsageError,
  checkedTarget,
  clientUnits,
  expectArgs,
  json,
  requireChain,
  short,
  tokenJson,
  withManifestClient
} from './common.js'
import type { CommandContext } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP, intOption } from './config.js'

export const extendCommand = defineCommand({
  name: 'extend',
  synopsis: 'extend <link> <periods>',
  summary: 'extend every live deal of the file by <periods> proving periods (one transaction)',
  help: `Usage: sherd extend <link> <periods>

Extends every live deal of the file by <periods> proving periods in one transaction (approves the total once)
and prints the cost. A deal is left out, with the reason, when it is not live, its term is over, or its new
term would pass its provider's limit (maxTermPeriods); exits 1 then, naming each deal and why (run sherd repair
to place those shards under new deals).

${ENV_HELP}`,
  options: {
    ...CONFIG_OPTIONS
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    requireChain(config, 'extend')
    const out = (text: string): void => {
      io.stdout.write(text)
    }
    const note = (text: string): void => {
      io.stderr.write(text)
    }
    const asJson = values.json === true
    expectArgs(positionals, 2, 'a link and a number of periods: sherd extend <link> <periods>')
    const link = checkedTarget(positionals[0]!)
    const periods = intOption(positionals[1], '<periods>')
    if (periods === undefined || periods < 1) throw new UsageError('<periods> must be at least 1')
    const { r, units } = await withManifestClient(config, signal, async (client) => {
      const r = await client.extend(link, periods, { signal })
      return { r, units: await clientUnits(client) }
    })
    if (asJson) out(json({ ...r, token: tokenJson(units.info) }) + '\n')
    else if (r.extended.length > 0)
      out(`extended ${r.extended.length} deal(s) by ${periods} periods for ${units.format(r.escrow)}\n`)
    if (r.skipped.length === 0) return 0
    // A file is only as long-lived as its shards: any deal left out is a failure the user must act on.
    // Deals of one file usually fail for one reason (their terms ended together): say it once per reason.
    const byReason = new Map<string, string[]>()
    for (const x of r.skipped)
      byReason.set(x.reason, [...(byReason.get(x.reason) ?? []), `${x.dealId ?? '-'} (${short(x.provider)})`])
    note(
      `error: ${r.skipped.length} of ${r.extended.length + r.skipped.length} deal(s) were not extended${r.extended.length === 0 ? ' (nothing was paid)' : ''}:` +
        [...byReason]
          .map(([reason, deals]) => `\n  deal${deals.length > 1 ? 's' : ''} ${deals.join(', ')}: ${reason}`)
          .join('') +
        '\n'
    )
    return 1
  }
})
