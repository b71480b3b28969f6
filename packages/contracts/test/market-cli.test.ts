// sherd-market deploy against a real anvil, run as the CLI (dist) in a child process.
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPublicClient, http } from 'viem'
import type { PublicClient } from 'viem'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { anvilKey, removeDir, tempDir } from '@sherd/test-support'
import { getProofSetParams, PROOF_SET_DEVNET_PARAMS, readMarketDeployment, startAnvil } from '../src/index.js'
import type { Anvil } from '../src/index.js'

const BIN = fileURLToPath(new URL('../bin/sherd-market.js', import.meta.url))
// anvil's first dev account.
const KEY = anvilKey(0)

let anvil: Anvil
let dir: string
beforeAll(async () => {
  anvil = await startAnvil({ accounts: 2, hardfork: 'osaka' })
  dir = await tempDir('sherd-market-')
})
afterAll(async () => {
  await anvil?.stop()
  if (dir !== undefined) await removeDir(dir)
})

async function cli(
  args: string[],
  env: Record<string, string> = {},
  node = process.execPath
): Promise<{ code: number; stdout: string; stderr: string }> {
  return await new Promise((resolve) => {
    execFile(node, [BIN, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

test('deploys market and token, prints and writes the deployment, refuses to overwrite it', async () => {
  const out = join(dir, 'deployment.json')
  const r = await cli(['deploy', '--rpc-url', anvil.url, '--with-token', '--devnet', '--out', out], {
    SHERD_PRIVATE_KEY: KEY
  })
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  const printed = JSON.parse(r.stdout)
  const written = JSON.parse(readFileSync(out, 'utf8'))
  expect(written).toEqual(printed)
  expect(written.chainId).toBe(anvil.chainId)
  expect(written.tokenDeployed).toBe(true)
  const publicClient = createPublicClient({ transport: http(anvil.url) }) as PublicClient
  for (const a of [written.market, written.token])
    expect((await publicClient.getCode({ address: a }))?.length).toBeGreaterThan(2)
  const params = await getProofSetParams({ market: written.market, publicClient })
  expect(params.periodBlocks).toBe(PROOF_SET_DEVNET_PARAMS.periodBlocks)
  expect(BigInt(written.genesisBlock)).toBeGreaterThan(0n)
  // The file is what readMarketDeployment (sherd --deployment, sherd-node --deployment) accepts.
  const read = await readMarketDeployment(out)
  expect(read).toMatchObject({
    chainId: anvil.chainId,
    rpcUrl: anvil.url,
    market: written.market,
    token: written.token,
    genesisBlock: BigInt(written.genesisBlock)
  })
  expect(read.params).toEqual(params)

  const again = await cli(['deploy', '--rpc-url', anvil.url, '--token', written.token, '--out', out], {
    SHERD_PRIVATE_KEY: KEY
  })
  expect(again.code).toBe(2)
  expect(again.stderr).toMatch(/exists.*--force/)
  expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(written)
  const forced = await cli([
    'deploy',
    '--rpc-url',
    anvil.url,
    '--token',
    written.token,
    '--out',
    out,
    '--force',
    '--private-key',
    KEY
  ])
  expect(forced.code).toBe(0)
  const second = JSON.parse(readFileSync(out, 'utf8'))
  expect(second.token).toBe(written.token)
  expect(second.tokenDeployed).toBe(false)
  expect(second.market).not.toBe(written.market)
})

test('usage mistakes are one line with what to do, no stack trace', async () => {
  const noKey = await cli(['deploy', '--rpc-url', anvil.url, '--with-token', '--out', join(dir, 'x.json')], {
    SHERD_PRIVATE_KEY: ''
  })
  expect(noKey.code).toBe(2)
  const cases = [
    await cli(['deploy', '--rpc-url', anvil.url, '--out', join(dir, 'y.json')], { SHERD_PRIVATE_KEY: KEY }),
    await cli(['deploy', '--rpc-url', 'http://127.0.0.1:1', '--with-token', '--out', join(dir, 'z.json')], {
      SHERD_PRIVATE_KEY: KEY
    }),
    await cli(['launch'])
  ]
  for (const r of [noKey, ...cases]) {
    expect(r.code).toBe(2)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  }
  expect(cases[1]!.stderr).toMatch(/cannot reach/)
})

/** An older Node on this machine (the system one), to check the bin refuses it; undefined if there is none. */
function oldNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node']) {
    if (!existsSync(candidate)) continue
    const version = spawnSync(candidate, ['--version'], { encoding: 'utf8' }).stdout.trim()
    if (Number(version.replace(/^v/, '').split('.')[0]) < 22) return candidate
  }
  return undefined
}

// The one launcher of every Sherd bin (packages/protocol/bin/launch.js).
test('--version prints the package version', async () => {
  const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version
  const r = await cli(['--version'])
  expect(r).toEqual({ code: 0, stdout: `sherd-market ${version}\n`, stderr: '' })
})

test.skipIf(oldNode() === undefined)(
  'on Node < 22 it says what to do and exits non-zero, before anything crashes',
  async () => {
    const r = await cli(['--version'], {}, oldNode()!)
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /^Sherd needs Node\.js >= 22 \(this is v\d+\.\d+\.\d+\); run it with npx from the repository, or install Node 22\+\n$/
    )
    expect(r.stdout).toBe('')
  }
)
