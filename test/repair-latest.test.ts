// A manual `sherd repair` publishes the file's latest-version record as the keeper does, so the owner's older link
// reads the repaired version; and following that record does not wait for a provider that stalls (SIGSTOP: it
// accepts connections and never answers). Devnet of 5 providers, a 2+1 file.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseLink } from '@sherd/protocol'
import type { DevnetProvider } from '@sherd/devnet'
import { randomBytes, readAll, sha256, startNetwork, TEST_DEAL_PERIODS } from './helpers.js'
import type { Network } from './helpers.js'

const SHERD_BIN = fileURLToPath(new URL('../packages/client/bin/sherd.js', import.meta.url))

describe('a manual repair and the latest-version record', () => {
  let net: Network
  let dir: string
  let link: string
  let digest: string
  let repaired: {
    link: string
    cid: string
    previousCid: string
    published?: { accepted?: number; asked?: number; error?: string }
  }
  let stalled: DevnetProvider | undefined

  beforeAll(async () => {
    net = await startNetwork({ providers: 5, client: { k: 2, m: 1 } })
    const data = randomBytes(200 * 1024)
    digest = sha256(data)
    link = (await net.client.put(data)).link
    dir = await mkdtemp(join(tmpdir(), 'sherd-repair-latest-'))
  }, 600_000)

  afterAll(async () => {
    if (stalled?.pid !== undefined) {
      try {
        process.kill(stalled.pid, 'SIGCONT')
      } catch {}
    }
    await net?.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  async function sherd(args: string[]): Promise<string> {
    const env = {
      ...process.env,
      SHERD_RPC_URL: net.devnet.rpcUrl,
      SHERD_CONTRACT: net.devnet.market,
      SHERD_PRIVATE_KEY: net.devnet.client.privateKey,
      SHERD_BOOTSTRAP: net.devnet.bootstrap.join(','),
      HOME: dir,
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
      XDG_CACHE_HOME: join(dir, 'cache')
    }
    const child = spawn(process.execPath, [SHERD_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    if (code !== 0) throw new Error(`sherd ${args.join(' ')} exited ${code}: ${err}`)
    return out
  }

  it('sherd repair publishes the new version: the original link reads it', async () => {
    const manifest = await net.client.getManifest(link)
    const victimId = manifest.segments[0]!.shards[2]!.provider!
    const victim = net.devnet.providers.find((p) => p.peerId === victimId)!
    await victim.kill()
    repaired = JSON.parse(
      await sherd(['repair', link, '--periods', String(TEST_DEAL_PERIODS), '--json'])
    ) as typeof repaired
    expect(repaired.previousCid).toBe(parseLink(link).cid.toString())
    expect(repaired.cid).not.toBe(repaired.previousCid)
    expect(repaired.published?.error).toBeUndefined()
    expect(repaired.published?.accepted).toBeGreaterThanOrEqual(1)
    // The owner's client, asked with the original link, is pointed at the repaired version.
    expect(await net.client.latestCid(link)).toBe(repaired.cid)
    expect(sha256(await readAll(net.client, link))).toBe(digest)
  }, 600_000)

  it('follows the record without waiting for a provider that stalls', async () => {
    // A provider of the original manifest that holds the record and answers nothing (stopped, its socket open):
    // with a 10-minute per-provider timeout, a lookup that waited for every provider would not return in this test.
    const original = new Set(
      (await net.client.getManifest(link)).segments.flatMap((s) =>
        s.shards.flatMap((sh) => (sh.provider === undefined ? [] : [sh.provider]))
      )
    )
    stalled = net.devnet.providers.find((p) => p.state === 'running' && original.has(p.peerId))
    expect(stalled, 'a running provider of the original manifest (the record was published to it)').toBeDefined()
    process.kill(stalled!.pid!, 'SIGSTOP')
    const started = Date.now()
    expect(await net.client.latestCid(link, { latestTimeoutMs: 600_000 })).toBe(repaired.cid)
    console.log(`latest-record lookup with one of ${original.size} providers stalled: ${Date.now() - started} ms`)
    process.kill(stalled!.pid!, 'SIGCONT')
    stalled = undefined
    expect(sha256(await readAll(net.client, link))).toBe(digest)
  }, 300_000)
})
