// `sherd-node withdraw`: withdraw the provider's claimed earnings.
import { tokens } from '../chain/amounts.js'
import { withdrawEarnings } from '../chain/chain.js'
import { defineCommand } from './command.js'
import { CHAIN_OPTIONS, connectForCommand } from './flags.js'

export const withdrawCommand = defineCommand({
  name: 'withdraw',
  summary: 'withdraw claimed earnings (chain)',
  help: `Usage: sherd-node withdraw [--data-dir <dir>] [--deployment <file>] [--rpc-url <url>] [--contract <address>]

Withdraws the provider's claimed earnings (a running node claims every few periods) from the market contract.`,
  options: { ...CHAIN_OPTIONS },
  async run({ values: v }) {
    const { conn } = await connectForCommand('withdraw', v)
    const { amount, tx } = await withdrawEarnings(conn)
    if (amount === 0n)
      process.stderr.write(
        `sherd-node: nothing to withdraw for ${conn.address} (a running node claims its earnings every few periods)\n`
      )
    console.log(
      JSON.stringify({
        provider: conn.address,
        withdrawn: tokens(amount, conn.token),
        withdrawnBaseUnits: amount.toString(),
        tx: tx ?? null
      })
    )
    return 0
  }
})
