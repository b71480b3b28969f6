// `sherd wallet`: the paying account.
import { defineCommand } from './command.js'
import { expectArgs, json, requireChain, tokenJson, tokenUnits, withChainOnly } from './common.js'
import type { CommandContext } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP } from './config.js'

export const walletCommand = defineCommand({
  name: 'wallet',
  synopsis: 'wallet',
  summary: "the paying account's address and token balance",
  help: `Usage: sherd wallet

The paying account's address, token, token balance, gas balance and refunds waiting in the market. Reads the
chain only (no provider is contacted).

${ENV_HELP}`,
  options: {
    ...CONFIG_OPTIONS
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    requireChain(config, 'wallet')
    const out = (text: string): void => {
      io.stdout.write(text)
    }
    const asJson = values.json === true
    expectArgs(positionals, 0, 'no arguments: sherd wallet')
    const { w, units, gas } = await withChainOnly(config, signal, async (chain, units) => {
      const { readWallet } = await import('../chain.js')
      const native = chain.publicClient.chain?.nativeCurrency ?? { symbol: 'ETH', decimals: 18 }
      const gas = await tokenUnits({
        address: '0x0000000000000000000000000000000000000000',
        symbol: native.symbol,
        decimals: native.decimals
      })
      return { w: await readWallet(chain), units, gas }
    })
    if (asJson)
      out(
        json({
          address: w.address,
          token: tokenJson(units.info),
          balance: w.balance,
          gasBalance: w.gasBalance,
          withdrawable: w.withdrawable
        }) + '\n'
      )
    else
      out(
        `address     ${w.address}\ntoken       ${units.info.symbol} (${units.info.address}, ${units.info.decimals} decimals)\nbalance     ${units.format(w.balance)}\ngas         ${gas.format(w.gasBalance)}\nrefundable  ${units.format(w.withdrawable)}\n`
      )
    return 0
  }
})
