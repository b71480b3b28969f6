// `sherd-node stake`: add to the provider's stake.
import { amountForConfig, resolveAmount, tokens } from '../chain/amounts.js'
import { addStake, providerInfo } from '../chain/chain.js'
import { ConfigError } from '../errors.js'
import { defineCommand } from './command.js'
import { CHAIN_OPTIONS, connectForCommand } from './flags.js'

export const stakeCommand = defineCommand({
  name: 'stake',
  summary: "add to the provider's stake (chain)",
  help: `Usage: sherd-node stake --add <amount> [--data-dir <dir>] [--deployment <file>] [--rpc-url <url>] [--contract <address>]

Adds tokens to the provider's stake (e.g. --add 500, or base units 500base): more free stake backs more deals.`,
  options: { ...CHAIN_OPTIONS, add: { type: 'string' } },
  async run({ values: v }) {
    const { conn } = await connectForCommand('stake', v)
    const text = v.add
    if (text === undefined)
      throw new ConfigError('say how much to add: sherd-node stake --add <amount> (e.g. --add 500)')
    const amount = resolveAmount(amountForConfig(text, '--add'), conn.token, '--add')
    const tx = await addStake(conn, amount)
    const info = await providerInfo(conn)
    console.log(
      JSON.stringify({
        provider: conn.address,
        added: tokens(amount, conn.token),
        stake: info === undefined ? null : tokens(info.stake, conn.token),
        tx
      })
    )
    return 0
  }
})
