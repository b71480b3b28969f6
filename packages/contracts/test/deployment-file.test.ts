// The deployment file: round trip, atomic refusal to overwrite, and every malformed field named in the error.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { removeDir, tempDir } from '@sherd/test-support'
import {
  DeploymentFileError,
  DeploymentFileExistsError,
  formatMarketDeployment,
  parseMarketDeployment,
  PROOF_SET_DEVNET_PARAMS,
  readMarketDeployment,
  writeMarketDeployment
} from '../src/index.js'
import type { MarketDeploymentRecord } from '../src/index.js'

let dir: string
beforeAll(async () => {
  dir = await tempDir('sherd-deployment-')
})
afterAll(async () => {
  if (dir !== undefined) await removeDir(dir)
})

const RECORD: MarketDeploymentRecord = {
  contract: 'ProofSetMarket',
  chainId: 31337,
  rpcUrl: 'http://127.0.0.1:8545',
  market: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  token: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
  tokenDeployed: true,
  genesisBlock: 12_345_678_901n,
  deployer: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  params: { ...PROOF_SET_DEVNET_PARAMS, auditBond: 2n ** 100n }
}

describe('round trip', () => {
  test('write then read gives the record back; bigints are decimal strings in the file', async () => {
    const path = join(dir, 'a.json')
    await writeMarketDeployment(path, RECORD)
    expect(await readMarketDeployment(path)).toEqual(RECORD)
    const json = JSON.parse(readFileSync(path, 'utf8'))
    expect(json.genesisBlock).toBe('12345678901')
    expect(json.params.auditBond).toBe((2n ** 100n).toString())
    // Lower-case addresses (hand-written files) are accepted and checksummed.
    const lower = parseMarketDeployment(
      JSON.stringify({ ...json, market: RECORD.market.toLowerCase(), genesisBlock: 7 })
    )
    expect(lower.market).toBe(RECORD.market)
    expect(lower.genesisBlock).toBe(7n)
  })

  test('an existing file is not replaced without force, and no temporary file is left behind', async () => {
    const path = join(dir, 'b.json')
    await writeMarketDeployment(path, RECORD)
    const other = { ...RECORD, chainId: 84532, rpcUrl: 'https://sepolia.base.org' }
    const err = await writeMarketDeployment(path, other).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DeploymentFileExistsError)
    expect((err as Error).message).toMatch(/exists.*--force/)
    expect(await readMarketDeployment(path)).toEqual(RECORD)
    await writeMarketDeployment(path, other, { force: true })
    expect(await readMarketDeployment(path)).toEqual(other)
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  test('a missing or unreadable file says what to pass instead', async () => {
    const err = await readMarketDeployment(join(dir, 'none.json')).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DeploymentFileError)
    expect((err as Error).message).toMatch(/does not exist.*sherd-market deploy/)
    const path = join(dir, 'broken.json')
    writeFileSync(path, '{"contract": "ProofSetMarket",')
    const bad = await readMarketDeployment(path).catch((e: unknown) => e)
    expect(bad).toBeInstanceOf(DeploymentFileError)
    expect((bad as Error).message).toMatch(/is not JSON/)
    expect((bad as Error).cause).toBeInstanceOf(SyntaxError)
  })

  test('writing a record that could not be read back is refused before anything is written', async () => {
    const path = join(dir, 'c.json')
    await expect(writeMarketDeployment(path, { ...RECORD, chainId: 0 })).rejects.toThrow(DeploymentFileError)
    expect(readdirSync(dir).filter((f) => f.startsWith('c.json'))).toEqual([])
  })
})

describe('every malformed field is named', () => {
  const good = (): Record<string, unknown> => JSON.parse(formatMarketDeployment(RECORD))
  const cases: Array<[string, (j: Record<string, unknown>) => void]> = [
    [
      'contract',
      (j) => {
        j.contract = 'StorageMarket'
      }
    ],
    [
      'contract',
      (j) => {
        delete j.contract
      }
    ],
    [
      'chainId',
      (j) => {
        j.chainId = '31337'
      }
    ],
    [
      'chainId',
      (j) => {
        j.chainId = 0
      }
    ],
    [
      'chainId',
      (j) => {
        j.chainId = 1.5
      }
    ],
    [
      'rpcUrl',
      (j) => {
        j.rpcUrl = 'localhost:8545'
      }
    ],
    [
      'rpcUrl',
      (j) => {
        j.rpcUrl = 'ftp://127.0.0.1'
      }
    ],
    [
      'market',
      (j) => {
        j.market = '0x1234'
      }
    ],
    [
      'token',
      (j) => {
        j.token = 42
      }
    ],
    [
      'deployer',
      (j) => {
        delete j.deployer
      }
    ],
    [
      'tokenDeployed',
      (j) => {
        j.tokenDeployed = 'yes'
      }
    ],
    [
      'genesisBlock',
      (j) => {
        j.genesisBlock = '-1'
      }
    ],
    [
      'genesisBlock',
      (j) => {
        j.genesisBlock = '0x10'
      }
    ],
    [
      'genesisBlock',
      (j) => {
        j.genesisBlock = 1e300
      }
    ],
    [
      'params',
      (j) => {
        j.params = []
      }
    ],
    [
      'params.periodBlocks',
      (j) => {
        ;(j.params as Record<string, unknown>).periodBlocks = '8'
      }
    ],
    [
      'params.periodBlocks',
      (j) => {
        ;(j.params as Record<string, unknown>).periodBlocks = 2
      }
    ],
    [
      'params.challengeDelayBlocks',
      (j) => {
        delete (j.params as Record<string, unknown>).challengeDelayBlocks
      }
    ],
    [
      'params.maxMissedPeriods',
      (j) => {
        ;(j.params as Record<string, unknown>).maxMissedPeriods = 256
      }
    ],
    [
      'params.maxMissedPeriods',
      (j) => {
        ;(j.params as Record<string, unknown>).maxMissedPeriods = 0
      }
    ],
    [
      'params.collateralBps',
      (j) => {
        ;(j.params as Record<string, unknown>).collateralBps = 100_001
      }
    ],
    [
      'params.slashBps',
      (j) => {
        ;(j.params as Record<string, unknown>).slashBps = -1
      }
    ],
    [
      'params.reporterBps',
      (j) => {
        ;(j.params as Record<string, unknown>).reporterBps = 10_001
      }
    ],
    [
      'params.auditBond',
      (j) => {
        ;(j.params as Record<string, unknown>).auditBond = '1.5'
      }
    ],
    [
      'params.auditBond',
      (j) => {
        ;(j.params as Record<string, unknown>).auditBond = (2n ** 128n).toString()
      }
    ],
    [
      'params.lambda',
      (j) => {
        ;(j.params as Record<string, unknown>).lambda = 4
      }
    ],
    [
      'marketAddress',
      (j) => {
        j.marketAddress = j.market
      }
    ]
  ]
  test.each(cases)('%s', (field, spoil) => {
    const json = good()
    spoil(json)
    let err: unknown
    try {
      parseMarketDeployment(JSON.stringify(json), 'dep.json')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(DeploymentFileError)
    expect((err as DeploymentFileError).field).toBe(field)
    expect((err as Error).message).toContain(`dep.json: ${field} `)
  })

  test('not an object', () => {
    for (const text of ['[]', '"x"', 'null'])
      expect(() => parseMarketDeployment(text)).toThrow(/must hold a JSON object/)
  })
})
