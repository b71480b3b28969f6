// `sherd repair`: rebuild and re-place the shards of a file that lost them.
import type { RepairProgressEvent } from '../actions/repair.js'
import { defineCommand } from './command.js'
import { publishRepair } from './repair-publish.js'
import { checkedTarget, expectArgs, json, requireChain, short, withClient } from './common.js'
import type { CommandContext } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP, intOption } from './config.js'

export const repairCommand = defineCommand({
  name: 'repair',
  synopsis: 'repair <link>',
  summary: 'rebuild shards whose deals faulted or failed or whose providers are gone; prints the new link',
  help: `Usage: sherd repair <link> [--periods <n>] [--include-missed] [--wait]

Rebuilds shards whose deals faulted, were declared lost, failed or ended, or whose providers do not answer,
from k good shards, places them on new providers, opens their deals through the put journal (an interrupted
repair is finished with sherd put --resume <id>) and writes a new manifest version. Prints the new link, and
publishes it as the file's latest version (as the keeper does), so sherd get with an older link reads it.

  --periods <n>            proving periods each new deal runs (default the client's, 16)
  --include-missed         also move shards whose deals are live but have missed periods
  --wait                   wait until the new deals' terms begin; --no-wait: do not (default: the client's)

${ENV_HELP}`,
  options: {
    ...CONFIG_OPTIONS,
    periods: { type: 'string' },
    'include-missed': { type: 'boolean' },
    wait: { type: 'boolean' },
    'no-wait': { type: 'boolean' }
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    requireChain(config, 'repair')
    const out = (text: string): void => {
      io.stdout.write(text)
    }
    const note = (text: string): void => {
      io.stderr.write(text)
    }
    const asJson = values.json === true
    expectArgs(positionals, 1, 'one link: sherd repair <link>')
    const link = checkedTarget(positionals[0]!)
    const periods = intOption(values.periods, '--periods')
    const log = (e: RepairProgressEvent): void => {
      if (asJson) return
      if (e.type === 'repair:inspected') note(`${e.unhealthy} shard(s) to repair in ${e.segments} segment(s)\n`)
      else if (e.type === 'repair:rebuilt')
        note(`segment ${e.segmentIndex}: rebuilt shards ${e.shardIndexes.join(', ')} from ${e.from.join(', ')}\n`)
      else if (e.type === 'put:shard-stored')
        note(`segment ${e.segmentIndex} shard ${e.shardIndex} → ${short(e.provider)}\n`)
      else if (e.type === 'put:deal-opened') note(`deal ${e.dealId} opened with ${short(e.provider)}\n`)
    }
    const { r, published } = await withClient(config, signal, async (client) => {
      const r = await client.repair(link, {
        signal,
        onProgress: log,
        includeMissed: values['include-missed'] === true,
        ...(periods === undefined ? {} : { periods }),
        ...(values.wait === true
          ? { waitForActivation: true }
          : values['no-wait'] === true
            ? { waitForActivation: false }
            : {})
      })
      return {
        r,
        published:
          r.cid.toString() === r.previousCid
            ? undefined
            : await publishRepair(client, r, signal, asJson ? () => {} : note)
      }
    })
    if (asJson)
      out(
        json({
          link: r.link,
          cid: r.cid.toString(),
          previousCid: r.previousCid,
          repaired: r.repaired,
          ...(published === undefined ? {} : { published })
        }) + '\n'
      )
    else
      out(
        (r.repaired.length === 0 ? '' : `repaired ${r.repaired.length} shard(s); new manifest ${r.cid.toString()}\n`) +
          r.link +
          '\n'
      )
    return 0
  }
})
