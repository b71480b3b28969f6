import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'node:http'
import { removeDir } from '@sherd/test-support'
import { StatusHistory } from '../src/index.js'
import type { ChainStatus, ProviderNode, StatusHistoryJson } from '../src/index.js'
import { startNode } from './helpers.js'

function chainStatus(over: Partial<ChainStatus> = {}): ChainStatus {
  return { deals: 1, periodsProven: 0, periodsMissed: 0, earnings: '0', withdrawn: '0', ...over }
}

describe('StatusHistory', () => {
  it('keeps one point per proving period, the latest counts of each, at most maxPeriods', () => {
    let chain = chainStatus()
    const history = new StatusHistory(() => chain, { maxPeriods: 3 })
    history.sample()
    expect(history.toJSON().points).toEqual([])
    chain = chainStatus({ period: '5', block: '40', periodsProven: 1, earnings: '10' })
    history.sample()
    chain = { ...chain, block: '41', periodsProven: 2, earnings: '20' }
    history.sample()
    expect(history.toJSON().points.map((p) => [p.period, p.block, p.periodsProven, p.earnings])).toEqual([
      ['5', '41', 2, '20']
    ])
    for (const [period, proven, missed] of [
      ['6', 3, 0],
      ['7', 3, 1],
      ['8', 4, 1]
    ] as const) {
      chain = { ...chain, period, periodsProven: proven, periodsMissed: missed }
      history.sample()
    }
    expect(history.toJSON().points.map((p) => [p.period, p.periodsProven, p.periodsMissed])).toEqual([
      ['6', 3, 0],
      ['7', 3, 1],
      ['8', 4, 1]
    ])
  })

  it('records each new error once, newest first, again when it comes back after a success, at most maxErrors', () => {
    let chain = chainStatus({ lastError: 'prove: rpc down' })
    const history = new StatusHistory(() => chain, { maxErrors: 2 })
    history.sample()
    history.sample()
    expect(history.toJSON().errors.map((e) => e.message)).toEqual(['prove: rpc down'])
    chain = chainStatus()
    history.sample()
    chain = chainStatus({ lastError: 'prove: rpc down' })
    history.sample()
    chain = chainStatus({ lastError: 'withdraw: reverted' })
    history.sample()
    expect(history.toJSON().errors.map((e) => e.message)).toEqual(['withdraw: reverted', 'prove: rpc down'])
  })
})

describe('the dashboard on the HTTP API', () => {
  let node: ProviderNode
  beforeAll(async () => {
    node = await startNode()
  })
  afterAll(async () => {
    if (node === undefined) return
    await node.stop()
    await removeDir(node.ready().dataDir)
  })

  it('serves the page, its script and style from the package, with a policy that allows only this node', async () => {
    for (const path of ['/', '/dashboard']) {
      const res = await fetch(`${node.ready().httpUrl}${path}`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*connect-src 'self'/)
      const html = await res.text()
      expect(html).toContain('<title>Sherd provider</title>')
      expect(html).toContain('src="/dashboard.js"')
      // Without JavaScript the page still says where the node stands, as of this request.
      const noscript = /<noscript>([\s\S]*)<\/noscript>/.exec(html)?.[1] ?? ''
      expect(noscript).toContain(`<dt>Peer id</dt><dd>${node.peerId}</dd>`)
      expect(noscript).toContain(`<dt>Periods proven / missed</dt><dd>0 / 0</dd>`)
      expect(noscript).not.toContain('<!--sherd:noscript-->')
    }
    const js = await fetch(`${node.ready().httpUrl}/dashboard.js`)
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(await js.text()).toContain("getJson('/status')")
    expect((await fetch(`${node.ready().httpUrl}/dashboard.css`)).headers.get('content-type')).toMatch(/^text\/css/)
  })

  it('answers /history with the ring (empty without a chain) and never serves other files', async () => {
    const history = (await (await fetch(`${node.ready().httpUrl}/history`)).json()) as StatusHistoryJson
    expect(history.points).toEqual([])
    expect(history.errors).toEqual([])
    expect(history.sampleIntervalMs).toBeGreaterThan(0)
    // A raw request path, as fetch would normalise the dots away.
    const raw = await new Promise<number>((resolve, reject) => {
      const url = new URL(node.ready().httpUrl)
      request({ host: url.hostname, port: url.port, path: '/../package.json' }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
        .on('error', reject)
        .end()
    })
    expect(raw).toBe(404)
    const missing = await fetch(`${node.ready().httpUrl}/dashboard.html`)
    expect(missing.status).toBe(404)
    expect(await missing.text()).toMatch(/try \/ \(the dashboard\)/)
  })
})
