// `sherd delete`: stop paying for a file.
import { defineCommand } from './command.js'
import { checkedLink, clientUnits, expectArgs, json, requireChain, tokenJson, withManifestClient } from './common.js'
import type { CommandContext } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP } from './config.js'

export const deleteCommand = defineCommand({
  name: 'delete',
  synopsis: 'delete <link>',
  summary: 'stop paying: claim the deals that are over, withdraw refunds',
  help: `Usage: sherd delete <link>

Records the deletion in the put journal, then claims every deal of the file whose term is over or that is void
(paying its provider the periods it proved, refunding the rest) and withdraws the refunds. Deals are never
renewed; the market has no early termination, so live deals run to the end of their term.

${ENV_HELP}`,
  options: {
    ...CONFIG_OPTIONS
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    requireChain(config, 'delete')
    const out = (text: string): void => {
      io.stdout.write(text)
    }
    const note = (text: string): void => {
      io.stderr.write(text)
    }
    const asJson = values.json === true
    expectArgs(positionals, 1, 'one link: sherd delete <link>')
    const link = checkedLink(positionals[0]!)
    const { r, units } = await withManifestClient(config, signal, async (client) => {
      const r = await client.delete(link, { signal })
      return { r, units: await clientUnits(client) }
    })
    if (asJson) out(json({ ...r, token: tokenJson(units.info) }) + '\n')
    else {
      out(
        `claimed ${r.settled.length} deal(s), ${r.running.length} run to the end of their term (not renewed), withdrew ${units.format(r.withdrawn)}\n`
      )
      if ((r.journalEntries ?? []).length > 0) note(`recorded in the put journal: sherd ls shows the file as deleted\n`)
    }
    return 0
  }
})
