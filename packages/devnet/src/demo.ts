import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createClient, createKeeper } from '@sherd/client'
import type { Keeper, KeeperEvent, SherdClient } from '@sherd/client'
import { deriveRepairKey, formatRepairLink, parseLink } from '@sherd/protocol'
import type { Devnet, DevnetProvider } from './devnet.js'
import { MarketEvents } from './market-events.js'
import type { MarketEvent } from './market-events.js'
import { bytes, shortId, tokens } from './story.js'
import type { Story } from './story.js'

/** The sample file: 4 MiB makes 1 MiB shards at k = 4, so proofs, transfers and repair take seconds. */
export const DEMO_FILE_BYTES = 4 * 1024 * 1024
export const DEMO_K = 4
export const DEMO_M = 2
/** 64 periods of 8 s: the deals outlive the demo by minutes, so the devnet left running keeps proving. */
export const DEMO_DEAL_PERIODS = 64
/** Periods every deal of the file must have proven before the demo moves on to failures. */
export const DEMO_PROVEN_PERIODS = 2
/** Waiting longer than this for any one step of the story means something is broken. */
export const DEMO_STEP_TIMEOUT_MS = 180_000
/**
 * The demo keeper's safety-net check of the file (it also checks at once on every market event of the file's
 * deals): a few seconds, as periods are 8 s here.
 */
export const DEMO_KEEPER_POLL_MS = 4_000
/** The demo keeper reads market events every second (blocks come every second or so on the devnet). */
export const DEMO_KEEPER_EVENT_MS = 1_000
/** How often the demo re-checks what it waits for. */
const WAIT_POLL_MS = 200

export interface DemoOptions {
  sizeBytes?: number
  signal?: AbortSignal
}

export interface DemoResult {
  /** The file's link after the repair. */
  link: string
  /** Milliseconds from the demo's start to the file read back byte-identical, and to the repair done. */
  readBackMs: number
  repairedMs: number
}

interface TrackedDeal {
  dealId: bigint
  /** The provider's chain address, lower-case. */
  provider: string
  shardIndex: number
  startPeriod: bigint
  endPeriod: bigint
  state: 'live' | 'failed' | 'faulted'
  /** The period from which the deal is void (failed or faulted): from then on no proof of it is due. */
  failedInPeriod?: bigint
  /** Token base units paid to its provider by claims so far. */
  paid: bigint
}

/** A recognisable sample: a text header, then pseudo-random bytes (so no shard is trivially compressible). */
function sampleFile(size: number): Uint8Array {
  const out = new Uint8Array(size)
  const header = new TextEncoder().encode(`Sherd demo file, ${size} bytes, made ${new Date().toISOString()}\n`)
  out.set(header.subarray(0, size))
  let block = createHash('sha256').update(header).digest()
  for (let offset = header.byteLength; offset < size; offset += block.byteLength) {
    block = createHash('sha256').update(block).digest()
    out.set(block.subarray(0, Math.min(block.byteLength, size - offset)), offset)
  }
  return out
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  signal?: AbortSignal,
  timeoutMs = DEMO_STEP_TIMEOUT_MS
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    signal?.throwIfAborted()
    if (Date.now() > deadline)
      throw new Error(`the demo waited ${timeoutMs / 1000} s for ${what}; see the providers' logs`)
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS))
  }
}

/**
 * The story `npm start` tells on a running devnet (ProofSetMarket): store a file with k = 4, m = 2 (each shard
 * stored, then offered, then all deals opened in one transaction), watch periods proven and providers claim their
 * pay, stop two providers and read the file back byte-identical, let a third provider's deal fail (missed periods
 * marked, slashing, the deal claimed into failure) and repair the file onto a provider that joins the network.
 */
export async function runDemo(devnet: Devnet, story: Story, options: DemoOptions = {}): Promise<DemoResult> {
  const signal = options.signal
  const size = options.sizeBytes ?? DEMO_FILE_BYTES
  const startedAt = Date.now()
  const P = BigInt(devnet.params.periodBlocks)
  const periodOf = (block: bigint): bigint => (block - devnet.genesisBlock) / P

  const providerName = (id: { peerId?: string; chainAddress?: string }): string => {
    const p = devnet.providers.find(
      (x) =>
        (id.peerId !== undefined && x.peerId === id.peerId) ||
        (id.chainAddress !== undefined && x.chainAddress.toLowerCase() === id.chainAddress.toLowerCase())
    )
    return p === undefined
      ? id.peerId !== undefined
        ? shortId(id.peerId)
        : (id.chainAddress ?? '?')
      : `provider ${p.index}`
  }
  const byPeer = (peerId: string): DevnetProvider => {
    const p = devnet.providers.find((x) => x.peerId === peerId)
    if (p === undefined) throw new Error(`no devnet provider has peer id ${peerId}`)
    return p
  }

  // ---- what the chain says, told as it happens
  const deals = new Map<bigint, TrackedDeal>()
  // Periods each provider proved on time (the market proves a provider's whole proof set at once, not a deal).
  const provenBy = new Map<string, Set<bigint>>()
  const summarised = new Set<bigint>()
  let fullyProvenPeriods = 0
  const failed: bigint[] = []
  const client = devnet.client.address.toLowerCase()
  const holdsTracked = (provider: string): boolean => [...deals.values()].some((d) => d.provider === provider)
  const voidDeal = (d: TrackedDeal, state: 'failed' | 'faulted', period: bigint): void => {
    d.state = state
    d.failedInPeriod = period
    failed.push(d.dealId)
  }
  const onEvent = (e: MarketEvent): void => {
    switch (e.eventName) {
      case 'DealOpened':
        if (e.args.client.toLowerCase() === client) {
          deals.set(e.args.dealId, {
            dealId: e.args.dealId,
            provider: e.args.provider.toLowerCase(),
            shardIndex: -1,
            startPeriod: BigInt(e.args.startPeriod),
            endPeriod: BigInt(e.args.endPeriod),
            state: 'live',
            paid: 0n
          })
        }
        break
      case 'PeriodProven': {
        if (!e.args.onTime) break
        const provider = e.args.provider.toLowerCase()
        const set = provenBy.get(provider) ?? new Set<bigint>()
        set.add(e.args.period)
        provenBy.set(provider, set)
        break
      }
      case 'Claimed':
      case 'DealSettled': {
        const d = deals.get(e.args.dealId)
        if (d === undefined) break
        d.paid += e.args.paid
        if (e.args.paid > 0n) {
          // The event does not say who sent the claim: usually the provider, for a failing deal a watching provider.
          story.line(
            `claim of deal #${d.dealId} (${providerName({ chainAddress: d.provider })}): ${tokens(e.args.paid)} paid to the provider for the periods it proved` +
              (e.args.refunded > 0n ? `, ${tokens(e.args.refunded)} refunded to the client` : '')
          )
        } else if (e.args.refunded > 0n) {
          story.line(`deal #${d.dealId} settled: ${tokens(e.args.refunded)} of unspent escrow refunded to the client`)
        }
        break
      }
      case 'PeriodMissed': {
        const provider = e.args.provider.toLowerCase()
        if (!holdsTracked(provider)) break
        story.line(
          `${providerName({ chainAddress: e.args.reporter })} marked period ${e.args.period} of ${providerName({ chainAddress: provider })} missed: ` +
            `slashed ${tokens(e.args.slashed)} (${tokens(e.args.reward)} to the reporter, the rest burned)`
        )
        break
      }
      case 'DealFailed': {
        const d = deals.get(e.args.dealId)
        if (d === undefined || d.state !== 'live') break
        voidDeal(d, 'failed', periodOf(e.blockNumber))
        story.line(
          `deal #${e.args.dealId} with ${providerName({ chainAddress: e.args.provider })} FAILED after ${e.args.missed} missed periods: ` +
            'its unspent escrow goes back to the client, and the keeper repairs from this event'
        )
        break
      }
      case 'DealFaulted': {
        const d = deals.get(e.args.dealId)
        if (d === undefined || d.state !== 'live') break
        voidDeal(d, 'faulted', e.args.period)
        story.line(
          `deal #${e.args.dealId} with ${providerName({ chainAddress: e.args.provider })} FAULTED: a challenge of period ${e.args.period} ` +
            `landed on it and could not be answered; ${tokens(e.args.slashed)} of collateral slashed`
        )
        break
      }
    }
  }
  // Once a period has closed, one line says how it went for the file's deals.
  const summarise = (head: bigint): void => {
    const closedBefore = periodOf(head) // every period below this one has closed
    for (const d of deals.values()) {
      for (let p = d.startPeriod; p < closedBefore && p < d.endPeriod; p++) {
        if (summarised.has(p)) continue
        const due = [...deals.values()].filter(
          (x) => x.startPeriod <= p && p < x.endPeriod && (x.failedInPeriod === undefined || p < x.failedInPeriod)
        )
        const got = due.filter((x) => provenBy.get(x.provider)?.has(p) === true)
        const missing = due.filter((x) => !got.includes(x))
        summarised.add(p)
        if (missing.length === 0) fullyProvenPeriods++
        story.line(
          `period ${p}: ${got.length} of ${due.length} deals proven (their providers answered every challenge drawn over their proof sets)` +
            (missing.length === 0
              ? ''
              : `; no proof from ${missing.map((x) => `${providerName({ chainAddress: x.provider })} (deal #${x.dealId})`).join(', ')}`)
        )
      }
    }
  }
  const watcher = new MarketEvents(
    devnet.publicClient,
    devnet.market,
    (e) => {
      onEvent(e)
    },
    () => {}
  )
  await watcher.start()
  const ticker = setInterval(() => {
    summarise(watcher.head)
  }, 500)

  let sherd: SherdClient | undefined
  let keeper: Keeper | undefined
  let published = false
  let onKeeperRepaired: (e: Extract<KeeperEvent, { type: 'keeper:repaired' }>) => void = () => {}
  const onKeeperEvent = (e: KeeperEvent): void => {
    switch (e.type) {
      case 'keeper:market-event':
        // Missed periods of providers 0 and 1 during chapter 3 are checked too, and (correctly) not repaired.
        if (e.event.eventName !== 'PeriodMissed') {
          story.line(
            `keeper: saw ${e.event.eventName} of deal #${e.event.dealId} (${providerName({ chainAddress: e.event.provider })}) and checks the file at once`
          )
        }
        break
      case 'keeper:repair-started':
        story.line(
          `keeper: repairing segment(s) ${e.segments.join(', ')}` +
            (e.why === undefined
              ? ' (finishing a recorded repair)'
              : ` (${e.why.map((v) => `${v.healthy} of ${v.k + v.m} shards healthy, ${v.failed} failed, ${v.suspect} suspect; repair at ${v.threshold}`).join('; ')})`)
        )
        break
      case 'keeper:deal-recorded':
        story.line(
          `keeper: deal #${e.deal.dealId} with ${providerName({ peerId: e.deal.provider })} for rebuilt shard ${e.deal.shardIndex} recorded in its store (a restart adopts it, never pays twice)`
        )
        break
      case 'keeper:published':
        published = true
        story.line(
          `keeper: published the file's latest version (${e.cid.slice(0, 16)}…, signed under the repair key) to ${e.accepted} of ${e.asked} providers: older links follow it`
        )
        break
      case 'keeper:repair-failed':
        story.line(`keeper: repair failed (${e.error}); it tries again at its next check`)
        break
      case 'keeper:repaired':
        if (e.shards > 0) story.line(`keeper: repaired, ${e.shards} shard(s) rebuilt; new manifest version ${e.cid}`)
        if (e.shards > 0) onKeeperRepaired(e)
        break
      default:
        break
    }
  }
  try {
    // ---- 1. store a file
    story.chapter(`Storing a ${bytes(size)} file with k = ${DEMO_K}, m = ${DEMO_M}`)
    const data = sampleFile(size)
    const digest = sha256(data)
    const samplePath = join(devnet.dir, 'sample.bin')
    await writeFile(samplePath, data)
    story.line(`sample file ${samplePath}, sha256 ${digest.slice(0, 16)}…`)
    sherd = createClient({
      rpcUrl: devnet.rpcUrl,
      contract: devnet.market,
      account: devnet.client.privateKey,
      bootstrap: devnet.bootstrap,
      k: DEMO_K,
      m: DEMO_M,
      periods: DEMO_DEAL_PERIODS
    })
    await sherd.start({ signal })
    story.line(
      `client ${devnet.client.address} connected: it knows ${(await sherd.providers({ signal })).length} providers`
    )
    const shardOf = new Map<bigint, number>()
    const put = await sherd.put(data, {
      signal,
      onProgress: (e) => {
        switch (e.type) {
          case 'put:encoded':
            story.line(
              `encrypted (AES-256-GCM) and erasure-coded segment ${e.segmentIndex} into ${DEMO_K} data + ${DEMO_M} parity shards`
            )
            break
          case 'put:shard-stored':
            story.line(
              `shard ${e.shardIndex} (${bytes(e.bytes)}) stored on ${providerName({ peerId: e.provider })}, checked against its commitment, receipt signed (${Math.round(e.ms)} ms)`
            )
            break
          case 'put:shard-failed':
            story.line(
              `shard ${e.shardIndex} failed on ${providerName({ peerId: e.provider })}: ${e.error} (${e.next})`
            )
            break
          case 'put:approved':
            story.line(`approved the market to take ${tokens(e.amount)} of escrow`)
            break
          case 'put:batch-sent':
            story.line(
              `opened ${e.deals} deals in one transaction (each on an offer its provider signed once it held and had checked the shard)`
            )
            break
          case 'put:deal-opened':
            shardOf.set(e.dealId, e.shardIndex)
            story.line(
              `deal #${e.dealId} opened with ${providerName({ peerId: e.provider })} for shard ${e.shardIndex}: ${tokens(e.escrow)} escrowed (${e.dealsOpened}/${e.dealsTotal})`
            )
            break
          case 'put:manifest-stored':
            story.line(`sealed manifest stored on ${providerName({ peerId: e.provider })}`)
            break
          default:
            break
        }
      }
    })
    for (const d of put.deals) {
      const tracked = d.dealId === undefined ? undefined : deals.get(d.dealId)
      if (tracked !== undefined) tracked.shardIndex = d.shardIndex
    }
    story.line(`stored: ${put.link}`)
    story.detail(`${put.deals.length} deals, ${tokens(put.escrow)} escrowed for ${DEMO_DEAL_PERIODS} periods`)

    // ---- a keeper looks after the file, holding its repair capability only
    story.chapter('A keeper looks after the file with its repair capability only')
    const { cid: fileCid, key: fileKey } = parseLink(put.link)
    const capability = formatRepairLink(fileCid, await deriveRepairKey(fileKey))
    const keeperDone = new Promise<Extract<KeeperEvent, { type: 'keeper:repaired' }>>((resolve) => {
      onKeeperRepaired = resolve
    })
    keeper = createKeeper(
      {
        dir: join(devnet.dir, 'keeper'),
        pollIntervalMs: DEMO_KEEPER_POLL_MS,
        // The story stops two providers for a moment on purpose (chapter 3): at 8 s periods they miss one, and the
        // default rule (suspect after one missed period) would move their shards too, onto providers the devnet
        // does not have. Here the keeper waits for the chain's verdict: a deal failed (maxMissedPeriods missed).
        liveness: { suspectAfterMissed: devnet.params.maxMissedPeriods, suspectAfterMs: DEMO_STEP_TIMEOUT_MS },
        eventIntervalMs: DEMO_KEEPER_EVENT_MS,
        onEvent: (e) => {
          onKeeperEvent(e)
        }
      },
      { client: sherd, market: { market: devnet.market, publicClient: devnet.publicClient } }
    )
    await keeper.start()
    const { file: kept } = await keeper.store!.add(capability)
    story.line(
      `keeper started with ${capability.slice(0, 24)}…#r=… (it can rebuild and re-place ciphertext shards and pay for deals, not read the file)`
    )
    story.detail(
      `it checks the file on every market event of its deals (failed, faulted, declared lost, period missed) and every ${DEMO_KEEPER_POLL_MS / 1000} s`
    )

    // ---- 2. periods proven, providers paid
    story.chapter(
      `Providers prove their shards every period (${devnet.params.periodBlocks} blocks) and claim their pay`
    )
    const provenBefore = fullyProvenPeriods
    await until(
      `${DEMO_PROVEN_PERIODS} periods in which every deal is proven`,
      () => fullyProvenPeriods >= provenBefore + DEMO_PROVEN_PERIODS,
      signal
    )
    await until(
      'every provider of the file to claim a payment',
      () => put.deals.every((d) => d.dealId !== undefined && (deals.get(d.dealId)?.paid ?? 0n) > 0n),
      signal
    )
    for (const d of put.deals) {
      const p = byPeer(d.provider)
      try {
        // Its own ledger folds the claim a poll after the chain shows it.
        let s = await p.status({ signal })
        const deadline = Date.now() + 20_000
        while (BigInt(s.chain.earnings) === 0n && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS))
          s = await p.status({ signal })
        }
        story.line(
          `${providerName({ peerId: d.provider })} (shard ${d.shardIndex}): ${s.chain.periodsProven} periods proven, ` +
            `${tokens(BigInt(s.chain.earnings))} claimed, ${tokens(BigInt(s.chain.unclaimed ?? '0'))} proven and not claimed yet (its own record, from /status)`
        )
      } catch (err) {
        story.line(`${providerName({ peerId: d.provider })}: /status did not answer (${(err as Error).message})`)
      }
    }

    // ---- 3. two providers stop; the file still reads back
    const holder = (shardIndex: number): DevnetProvider =>
      byPeer(put.deals.find((d) => d.shardIndex === shardIndex)!.provider)
    const down = [holder(0), holder(1)]
    story.chapter(
      `Two providers stop (${down.map((p) => `provider ${p.index}`).join(' and ')}, holding data shards 0 and 1)`
    )
    await Promise.all(
      down.map(async (p) => {
        await p.stop()
      })
    )
    story.line(`${down.map((p) => `provider ${p.index}`).join(' and ')} stopped`)
    const readBack = await readAll(sherd, put.link, story, providerName, signal)
    if (sha256(readBack) !== digest) throw new Error('the file read back differs from the original')
    const readBackMs = Date.now() - startedAt
    story.line(
      story.bold(
        `file read back byte-identical (sha256 ${digest.slice(0, 16)}…) with 2 of 6 providers down, rebuilt from parity`
      )
    )
    await Promise.all(
      down.map(async (p) => {
        await p.start({ signal })
      })
    )
    story.line(`${down.map((p) => `provider ${p.index}`).join(' and ')} are back and resume proving`)

    // ---- 4. a third provider's deal fails
    const victim = holder(2)
    const victimDeal = put.deals.find((d) => d.shardIndex === 2)!.dealId!
    story.chapter(`Provider ${victim.index} (shard 2, deal #${victimDeal}) crashes and stays down`)
    await victim.kill()
    story.line(
      `provider ${victim.index} killed (SIGKILL); the other providers will mark its periods missed, and claim its deal once it has missed ${devnet.params.maxMissedPeriods}`
    )
    // Repair puts the rebuilt shard on a provider that holds no other shard of the file: a seventh provider joins.
    const joining = devnet.addProvider({ signal }).then((p) => {
      story.line(`provider ${p.index} joined the network (${shortId(p.peerId)}): registered with stake, announcing`)
      return p
    })
    await until(`deal #${victimDeal} to fail`, () => failed.includes(victimDeal), signal)
    const newcomer = await joining
    // The newcomer's announcements reach the mesh through provider 0, its one bootstrap peer, which may be the
    // provider killed above; connecting to it directly does not depend on that.
    await sherd.connect(newcomer.multiaddrs, { signal })
    const connected = sherd
    await until(
      `the client to hear provider ${newcomer.index} announce`,
      async () => (await connected.providers({ signal })).some((p) => p.peerId === newcomer.peerId && p.fresh),
      signal,
      30_000
    )
    story.line(`the client connected to provider ${newcomer.index} and heard its announcement`)

    // ---- 5. the keeper repairs the file on its own
    let repairedEvent: Extract<KeeperEvent, { type: 'keeper:repaired' }> | undefined
    void keeperDone.then((e) => {
      repairedEvent = e
    })
    await until('the keeper to repair the file', () => repairedEvent !== undefined, signal)
    await keeper.store!.reload()
    const current = keeper.store!.file(kept.id)
    if (current === undefined) throw new Error('the keeper no longer keeps the demo file')
    story.chapter('The keeper repaired the file on its own (no sherd repair)')
    const health = await sherd.stat(current.link, { signal })
    // The owner reads the new version with the file key it always had and the CID the keeper reports.
    const ownerLink = put.link.replace(fileCid.toString(), repairedEvent!.cid)
    const again = await readAll(sherd, ownerLink, story, providerName, signal, true)
    if (sha256(again) !== digest) throw new Error('the repaired file reads back different from the original')
    const repairedMs = Date.now() - startedAt
    const newHolders = health.segments.flatMap((seg) =>
      seg.shards
        .filter((sh) => sh.shardIndex === 2)
        .map((sh) => (sh.provider === undefined ? '?' : providerName({ peerId: sh.provider })))
    )
    story.line(
      story.bold(
        `repaired by the keeper: shard 2 moved from provider ${victim.index} to ${newHolders.join(', ')} (${repairedEvent!.shards} shard(s) rebuilt by the keeper on its own)`
      )
    )
    story.detail(
      `the file is ${health.healthy ? 'healthy again' : 'not yet healthy'}: ${health.segments.map((s) => `${s.healthyShards}/${DEMO_K + DEMO_M} healthy shards`).join(', ')}; reads back byte-identical`
    )
    story.detail(`new link (the owner's key, the keeper's new CID): ${ownerLink}`)
    // The owner's original link follows the latest-version record the keeper published (docs/keeper.md).
    await until('the keeper to publish the latest version', () => published, signal, 60_000)
    const viaOld = await readAll(sherd, put.link, story, providerName, signal, true)
    if (sha256(viaOld) !== digest) throw new Error('the original link reads back different from the original')
    story.detail('the original link still works: get follows the latest-version record to the repaired version')
    story.line(
      `demo done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s: read back after ${(readBackMs / 1000).toFixed(0)} s, repaired after ${(repairedMs / 1000).toFixed(0)} s`
    )

    await victim.start({ signal })
    story.line(`provider ${victim.index} is back (its failed deal stays failed; it keeps the rest of its stake)`)
    return { link: ownerLink, readBackMs, repairedMs }
  } finally {
    clearInterval(ticker)
    await watcher.stop()
    await keeper?.stop()
    await sherd?.stop()
  }
}

async function readAll(
  sherd: SherdClient,
  link: string,
  story: Story,
  name: (id: { peerId?: string }) => string,
  signal?: AbortSignal,
  quiet = false
): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const chunk of sherd.get(link, {
    signal,
    onProgress: (e) => {
      if (quiet) return
      switch (e.type) {
        case 'get:manifest':
          story.line(
            `manifest fetched from ${name({ peerId: e.provider })}: ${bytes(e.fileSize)} in ${e.segments} segment(s)`
          )
          break
        case 'get:shard-failed':
          story.line(
            `shard ${e.shardIndex}: ${e.provider === undefined ? 'no provider' : name({ peerId: e.provider })} ${e.kind === 'unreachable' ? 'does not answer' : e.kind === 'missing' ? 'does not have it' : 'sent corrupt bytes'}`
          )
          break
        case 'get:shard-fetched':
          story.line(`shard ${e.shardIndex} fetched from ${name({ peerId: e.provider })} (${Math.round(e.ms)} ms)`)
          break
        case 'get:segment':
          story.line(`segment ${e.segmentIndex} decoded from shards ${e.shardsUsed.join(', ')}`)
          break
      }
    }
  }))
    parts.push(chunk)
  return Buffer.concat(parts)
}
