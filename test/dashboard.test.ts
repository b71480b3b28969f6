// The provider dashboard in a real browser: Debian's Chromium driven by playwright-core, against a devnet provider
// that holds a shard of a file put with the SDK.
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it, onTestFailed } from 'vitest'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import type { NodeStatus } from '@sherd/node'
import { randomBytes, shardsOf, startNetwork } from './helpers.js'
import type { Network } from './helpers.js'

const CHROMIUM = process.env.SHERD_CHROMIUM ?? '/usr/bin/chromium'
const ARTIFACTS = resolve(import.meta.dirname, '..', 'test-artifacts')
/** Proving periods the dashboard must be seen to count, on top of the one it showed first. */
const PERIODS_TO_SEE = 2

function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: the dashboard test drives a real browser. Install it with ` +
        '`apt-get update && apt-get install -y chromium` (Debian; .ci/run does this), or point SHERD_CHROMIUM at a Chromium binary'
    )
  }
}

/** A number the page shows in a data attribute (what it rendered, not how it formatted it). */
async function shown(page: Page, selector: string, attribute: string): Promise<string | null> {
  return await page.locator(selector).getAttribute(attribute)
}

async function waitForRefresh(page: Page): Promise<void> {
  const before = Number((await page.locator('body').getAttribute('data-refreshes')) ?? 0)
  await page.waitForFunction((n) => Number(document.body.dataset.refreshes ?? 0) > n, before, { timeout: 30_000 })
}

describe('the provider dashboard', () => {
  let net: Network | undefined
  let browser: Browser | undefined
  afterAll(async () => {
    await browser?.close()
    await net?.stop()
  })

  it('shows a deal, its proven periods advancing and its earnings, as /status says, in Chromium', async () => {
    requireChromium()
    net = await startNetwork({ providers: 3, client: { k: 2, m: 1 } })
    const { devnet, client } = net
    const put = await client.put(randomBytes(1024 * 1024 + 777))
    const shard = shardsOf(devnet, put)[0]!
    const provider = shard.provider
    const dealId = shard.dealId.toString()
    expect(provider.wsMultiaddrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\//)

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } })
    onTestFailed(async () => {
      // What the page showed when it went wrong, for whoever reads the CI log.
      await mkdir(ARTIFACTS, { recursive: true })
      const failed = join(ARTIFACTS, 'dashboard-failed.png')
      await page.screenshot({ path: failed, fullPage: true }).then(
        () => {
          console.log(`dashboard screenshot at the failure: ${failed}`)
        },
        () => {}
      )
    })
    const requested: string[] = []
    page.on('request', (req) => {
      requested.push(req.url())
    })
    const pageErrors: string[] = []
    page.on('pageerror', (err) => {
      pageErrors.push(err.message)
    })
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text())
    })
    await page.goto(`${provider.httpUrl}/`)
    await expect(page.title()).resolves.toBe('Sherd provider')

    // The deal, once the node's prover has folded its opening.
    const row = page.locator(`#deals tbody tr[data-deal-id="${dealId}"]`)
    await row.waitFor({ timeout: 60_000 })
    await page.waitForFunction(
      (id) => document.querySelector(`#deals tr[data-deal-id="${id}"] [data-field="state"]`)?.textContent === 'live',
      dealId,
      { timeout: 60_000 }
    )

    // Proven periods advance on the page by themselves (it polls), and the chart draws them.
    const first = Number(await shown(page, '#periods-proven', 'data-count'))
    await page.waitForFunction(
      (target) => Number(document.getElementById('periods-proven')?.dataset.count) >= target,
      first + PERIODS_TO_SEE,
      { timeout: (PERIODS_TO_SEE + 3) * devnet.params.periodBlocks * 1_000 + 60_000 }
    )
    await page.waitForFunction(() => document.querySelectorAll('#chart rect.proven').length > 0, undefined, {
      timeout: 30_000
    })
    // Earnings are what claims have paid: the prover claims every 4 proven periods (claimEveryPeriods), so they can
    // still be 0 after the periods above.
    await page.waitForFunction(
      () => BigInt(document.getElementById('earnings')?.dataset.baseUnits ?? '0') > 0n,
      undefined,
      { timeout: 7 * devnet.params.periodBlocks * 1_000 + 60_000 }
    )

    // What the page shows is what /status says: compared after a refresh, until a period boundary is not in between.
    let status: NodeStatus | undefined
    let page1: Record<string, string | null> = {}
    for (let attempt = 0; attempt < 10; attempt++) {
      await waitForRefresh(page)
      page1 = {
        proven: await shown(page, '#periods-proven', 'data-count'),
        missed: await shown(page, '#periods-missed', 'data-count'),
        earnings: await shown(page, '#earnings', 'data-base-units'),
        dealProven: await row.locator('[data-field="proven"]').textContent(),
        used: await shown(page, '#used-bytes', 'data-bytes')
      }
      status = await provider.status()
      const deal = status.chain.dealList?.find((d) => d.id === dealId)
      if (
        page1.proven === String(status.chain.periodsProven) &&
        page1.earnings === status.chain.earnings &&
        page1.dealProven === String(deal?.periodsProven)
      )
        break
    }
    expect(status).toBeDefined()
    expect(page1).toEqual({
      proven: String(status!.chain.periodsProven),
      missed: String(status!.chain.periodsMissed),
      earnings: status!.chain.earnings,
      dealProven: String(status!.chain.dealList?.find((d) => d.id === dealId)?.periodsProven),
      used: String(status!.store.usedBytes)
    })
    expect(BigInt(status!.chain.earnings)).toBeGreaterThan(0n)
    const symbol = status!.chain.token!.symbol
    await expect(page.locator('#earnings').textContent()).resolves.toMatch(new RegExp(`^[0-9,.]+ ${symbol}$`))
    await expect(page.locator('#capacity-bytes').getAttribute('data-bytes')).resolves.toBe(
      String(status!.store.capacityBytes)
    )
    await expect(page.locator('#addresses').textContent()).resolves.toContain(provider.wsMultiaddrs[0])
    await expect(page.locator('#connection').getAttribute('data-state')).resolves.toBe('live')

    // Offline from the node alone: every request the page made went to the node that served it.
    expect(requested.filter((url) => !url.startsWith(`${provider.httpUrl}/`))).toEqual([])
    expect(pageErrors).toEqual([])

    // Without JavaScript: the summary rendered by the node, and none of the live page's placeholders.
    const noJs = await browser.newContext({ javaScriptEnabled: false })
    const plain = await noJs.newPage()
    await plain.goto(`${provider.httpUrl}/`)
    await expect(plain.locator('#noscript-summary').textContent()).resolves.toContain(provider.peerId)
    await expect(plain.locator('#noscript-summary').textContent()).resolves.toMatch(
      /Periods proven \/ missed[1-9]\d* \/ \d+/
    )
    expect(await plain.locator('main').isVisible()).toBe(false)
    await noJs.close()

    await mkdir(ARTIFACTS, { recursive: true })
    const screenshot = join(ARTIFACTS, 'dashboard.png')
    await page.screenshot({ path: screenshot, fullPage: true })
    console.log(`dashboard screenshot: ${screenshot}`)
  }, 360_000)
})
