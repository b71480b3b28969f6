// `sherd-node exit`: leave the market, recorded before anything is sent.
import { tokens } from '../chain/amounts.js'
import { leaveMarket } from '../chain/chain.js'
import { readExitRecord, writeExitRecord } from '../identity.js'
import { defineCommand } from './command.js'
import { CHAIN_OPTIONS, connectForCommand } from './flags.js'

export const exitCommand = defineCommand({
  name: 'exit',
  summary: 'leave the market: no new offers, then remove and withdraw the stake once no collateral is locked (chain)',
  help: `Usage: sherd-node exit [--data-dir <dir>] [--deployment <file>] [--rpc-url <url>] [--contract <address>]

Leaves the market. The market has no exit call: from the first run the provider signs no new offers (a running node
reads exited.json); while collateral is locked in deals it lists them and when each is released (a running node
proves them to the end and claims them), and refuses. Run it again then: it removes the whole stake and withdraws it.
After exit, start refuses to stake again unless given --register-again.`,
  options: { ...CHAIN_OPTIONS },
  async run({ values: v }) {
    const { conn, dataDir } = await connectForCommand('exit', v)
    // Recorded before anything is sent: from now on the running node signs no new offers, and a later `start` never
    // silently stakes again, even if this process dies right after the stake is removed.
    const previous = await readExitRecord(dataDir)
    const sameMarket =
      previous !== undefined &&
      previous.chainId === conn.chainId &&
      previous.contractAddress.toLowerCase() === conn.mc.market.toLowerCase()
    const record = sameMarket
      ? { ...previous, phase: previous.phase ?? ('exited' as const) }
      : {
          provider: conn.address,
          contractAddress: conn.mc.market,
          chainId: conn.chainId,
          phase: 'leaving' as const,
          exitedAt: new Date().toISOString()
        }
    if (!sameMarket) await writeExitRecord(dataDir, record)
    const { stakeRemoved, withdrawn, txs } = await leaveMarket(conn)
    await writeExitRecord(dataDir, {
      ...record,
      phase: 'exited',
      txs: [...(record.txs ?? []), ...txs],
      exitedAt: new Date().toISOString()
    })
    process.stderr.write(
      `sherd-node: ${conn.address} left the market: ${tokens(stakeRemoved, conn.token)} of stake removed, ${tokens(withdrawn, conn.token)} withdrawn to it\n`
    )
    console.log(
      JSON.stringify({
        provider: conn.address,
        exited: true,
        stakeRemoved: tokens(stakeRemoved, conn.token),
        withdrawn: tokens(withdrawn, conn.token),
        txs
      })
    )
    return 0
  }
})
