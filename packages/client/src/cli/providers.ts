// `sherd providers`: the providers this client knows and how it scores them.
import { defineCommand } from './command.js'
import { clientUnits, expectArgs, json, mib, table, withClient } from './common.js'
import type { CommandContext } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP } from './config.js'

export const providersCommand = defineCommand({
  name: 'providers',
  synopsis: 'providers',
  summary: 'known providers: price, free capacity, score',
  help: `Usage: sherd providers

Table of the providers known from announcements, the on-chain registry and --bootstrap: peer id, chain address,
price per MiB per period and free bytes (announced), free stake and longest term accepted (chain), announced
recently, local score (transfer successes/failures, corrupt bytes, proofs missed).

${ENV_HELP}`,
  options: {
    ...CONFIG_OPTIONS
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    const out = (text: string): void => {
      io.stdout.write(text)
    }
    const asJson = values.json === true
    expectArgs(positionals, 0, 'no arguments: sherd providers')
    const { list, units } = await withClient(config, signal, async (client) => ({
      list: await client.providers({ signal }),
      units: config.contract === undefined ? undefined : await clientUnits(client)
    }))
    if (asJson) {
      out(json(list) + '\n')
      return 0
    }
    const rows = [
      [
        'peer id',
        'chain address',
        'price/MiB/period',
        'free',
        'free stake',
        'max term',
        'registered',
        'announced',
        'score',
        'ok/fail/corrupt/missed'
      ]
    ]
    for (const p of list) {
      rows.push([
        p.peerId,
        p.chainAddress ?? '-',
        p.pricePerMiB === undefined ? '-' : units === undefined ? `${p.pricePerMiB}base` : units.format(p.pricePerMiB),
        p.freeBytes === undefined ? '-' : mib(p.freeBytes),
        // What placement checks a deal's collateral against: a provider short of it gets no shard.
        p.freeStake === undefined ? '-' : units === undefined ? `${p.freeStake}base` : units.format(p.freeStake),
        p.maxTermPeriods === undefined ? '-' : String(p.maxTermPeriods),
        p.registered ? 'yes' : 'no',
        p.fresh ? 'yes' : p.announcedAtMs === undefined ? 'never' : 'stale',
        p.score.toFixed(2),
        `${p.record.successes}/${p.record.failures}/${p.record.corrupt}/${p.record.missedProofs}`
      ])
    }
    out(table(rows))
    return 0
  }
})
