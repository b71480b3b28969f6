// `sherd stat`: where each shard of a file is and how its deals stand.
import { manifestBytesMatch, openManifest, parseLink } from '@sherd/protocol'
import type { FileStat } from '../actions/stat.js'
import type { ClientConfig } from '../client.js'
import { defineCommand } from './command.js'
import {
  checkedTarget,
  clientUnits,
  endText,
  expectArgs,
  json,
  short,
  table,
  tokenJson,
  utc,
  withChainOnly,
  withClient,
  withManifestClient
} from './common.js'
import type { CommandContext, TokenUnits } from './common.js'
import { CONFIG_OPTIONS, ENV_HELP } from './config.js'

export const statCommand = defineCommand({
  name: 'stat',
  synopsis: 'stat <link>',
  summary: 'where each shard is, its deal state, periods proven, what is claimable, when storage ends',
  help: `Usage: sherd stat <link> [--no-probe]

  --no-probe               do not dial the shards' providers: fetch the manifest from the --bootstrap providers
                           at once (without waiting for announcements) and read the rest from the chain

Per segment and shard: provider, deal, state (live, declared, faulted, failed, ended, unfunded), periods
proven and missed of those closed, what a claim would pay the provider and refund you, when its storage ends
(UTC; "~" marks an estimate from the chain's recent block times), price per period, provider online and local
score. The first line says until when the whole file is stored (its weakest segment's k-th longest deal) and
what it costs per period.

${ENV_HELP}`,
  options: {
    ...CONFIG_OPTIONS,
    'no-probe': { type: 'boolean' }
  },
  async run({ values, positionals }, { io, signal, config }: CommandContext) {
    const out = (text: string): void => {
      io.stdout.write(text)
    }
    const asJson = values.json === true
    expectArgs(positionals, 1, 'one link: sherd stat <link>')
    const link = checkedTarget(positionals[0]!)
    const probe = values['no-probe'] !== true
    const { s, units } =
      (probe ? undefined : await statFromCache(config, link, signal)) ??
      (await (probe ? withClient : withManifestClient)(config, signal, async (client) => {
        const s = await client.stat(link, { signal, probe })
        return { s, units: config.contract === undefined ? undefined : await clientUnits(client) }
      }))
    if (asJson) {
      out(json({ ...s, ...(units === undefined ? {} : { token: tokenJson(units.info) }) }) + '\n')
      return 0
    }
    out(statSummary(s, units))
    const rows = [
      [
        'seg',
        'shard',
        'provider',
        'deal',
        'state',
        'proven',
        'missed',
        'claimable (provider/you)',
        'ends',
        'price/period',
        'online',
        'score'
      ]
    ]
    const amount = (a: bigint): string => (units === undefined ? `${a}base` : units.format(a))
    for (const seg of s.segments) {
      for (const sh of seg.shards) {
        rows.push([
          String(seg.index),
          String(sh.shardIndex),
          short(sh.provider),
          sh.dealId?.toString() ?? '-',
          sh.state,
          sh.provenPeriods === undefined ? '-' : `${sh.provenPeriods}/${sh.periods}`,
          String(sh.missedPeriods ?? '-'),
          sh.claimable === undefined ? '-' : `${amount(sh.claimable.provider)} / ${amount(sh.claimable.client)}`,
          endText(sh.endBlock, sh.endsAtMs, s.chainHead),
          sh.pricePerPeriod === undefined ? '-' : amount(sh.pricePerPeriod),
          sh.online === undefined ? '?' : sh.online ? 'yes' : 'NO',
          sh.score === undefined ? '-' : sh.score.toFixed(2)
        ])
      }
    }
    out(table(rows))
    return 0
  }
})

/**
 * `stat --no-probe` of a file whose sealed manifest is cached here (this machine put, repaired or read it): the
 * manifest is checked against its CID and opened with the link's key, the rest is chain state. No libp2p, no
 * provider. Undefined when the manifest is not cached or no chain is configured (the caller asks the providers).
 */
async function statFromCache(
  config: ClientConfig,
  link: string,
  signal: AbortSignal
): Promise<{ s: FileStat; units: TokenUnits } | undefined> {
  if (config.manifestCache === undefined || config.contract === undefined) return undefined
  const { cid, key } = parseLink(link)
  const sealed = await config.manifestCache.read(cid.toString())
  if (sealed === undefined || !manifestBytesMatch(cid, sealed)) return undefined
  const manifest = await openManifest(sealed, key, cid)
  const [{ inspectManifest }, { ProviderScores }] = await Promise.all([
    import('../actions/stat.js'),
    import('../scores.js')
  ])
  return await withChainOnly(config, signal, async (chain, units) => {
    const scores = new ProviderScores(config.scoreFile)
    await scores.load()
    const s = await inspectManifest({ scores, market: chain.market, publicClient: chain.publicClient }, manifest, cid, {
      signal,
      probe: false
    })
    return { s, units }
  })
}

function statSummary(s: FileStat, units: TokenUnits | undefined): string {
  const state = s.healthy ? 'healthy' : s.recoverable ? 'DEGRADED (run sherd repair)' : 'UNRECOVERABLE'
  let line = `file ${s.cid}: ${s.fileSize} bytes, ${s.segments.length} segments, k=${s.k} m=${s.m}, ${state}\n`
  if (s.costPerPeriod !== undefined) {
    const shards = s.segments.flatMap((g) => g.shards)
    // Every term over: there is nothing left to repair from once the providers drop the shards.
    const termOver = (sh: (typeof shards)[number]): boolean =>
      sh.state === 'ended' || (sh.endBlock !== undefined && s.chainHead !== undefined && sh.endBlock <= s.chainHead)
    const allEnded = shards.length > 0 && shards.every(termOver)
    const lastEnd = Math.max(...shards.map((sh) => sh.endsAtMs ?? 0))
    const until =
      s.storageEndBlock === undefined
        ? allEnded
          ? `storage ENDED${lastEnd > 0 ? ` on ${utc(lastEnd)}` : ''}: every deal's term is over and the providers need not keep the shards; put the file again to store it`
          : 'storage has ENDED for at least one segment (fewer than k deals left running): run sherd repair while it can still be read'
        : `stored until ${endText(s.storageEndBlock, s.storageEndsAtMs, undefined)} (block ${s.storageEndBlock}); extend with sherd extend <link> <periods>`
    line += `${until}\n`
    if (units !== undefined)
      line += `costs ${units.format(s.costPerPeriod)} per period; escrow left ${units.format(s.escrowLeft ?? 0n)}\n`
  }
  return line
}
