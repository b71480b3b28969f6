// The deployment file: what `sherd-market deploy` (and the devnet) write and `sherd --deployment FILE` /
// `sherd-node --deployment FILE` read: chain id, RPC URL, market and token addresses, the block to scan events
// from, and the market's parameters. JSON, bigints as decimal strings; validated field by field on read.
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { getAddress, isAddress } from 'viem'
import type { Address } from 'viem'
import { DeploymentFileError, DeploymentFileExistsError } from './errors.js'
import type { ProofSetParams } from './proof-set.js'

/** A ProofSetMarket deployment, as recorded in the deployment file. */
export interface MarketDeploymentRecord {
  contract: 'ProofSetMarket'
  chainId: number
  /** JSON-RPC endpoint the deployment was made through (http, https, ws or wss). */
  rpcUrl: string
  market: Address
  /** The ERC-20 the market settles in. */
  token: Address
  /** Whether `sherd-market deploy --with-token` deployed `token` (a mintable test token). */
  tokenDeployed: boolean
  /** Block of the market's deployment (period 0 starts there); scan events from it. */
  genesisBlock: bigint
  deployer: Address
  params: ProofSetParams
}

const FIELDS = [
  'contract',
  'chainId',
  'rpcUrl',
  'market',
  'token',
  'tokenDeployed',
  'genesisBlock',
  'deployer',
  'params'
] as const
const PARAM_FIELDS = [
  'periodBlocks',
  'challengeDelayBlocks',
  'maxMissedPeriods',
  'collateralBps',
  'slashBps',
  'reporterBps',
  'auditBond'
] as const
/** Largest value of each integer parameter (its Solidity type, or the contract's own bound). */
const PARAM_MAX = {
  periodBlocks: 2n ** 64n - 1n,
  challengeDelayBlocks: 2n ** 64n - 1n,
  maxMissedPeriods: 255n,
  collateralBps: 100_000n,
  slashBps: 10_000n,
  reporterBps: 10_000n,
  auditBond: 2n ** 128n - 1n
} as const

/** The file's text: the record as indented JSON, bigints as decimal strings, addresses checksummed. */
export function formatMarketDeployment(record: MarketDeploymentRecord): string {
  return (
    JSON.stringify(
      {
        ...record,
        market: getAddress(record.market),
        token: getAddress(record.token),
        deployer: getAddress(record.deployer),
        genesisBlock: record.genesisBlock.toString(),
        params: { ...record.params, auditBond: record.params.auditBond.toString() }
      },
      null,
      2
    ) + '\n'
  )
}

/**
 * Validates a deployment file's text. Throws DeploymentFileError naming the first bad field and what it should
 * be; `source` (a path) goes into the message.
 */
export function parseMarketDeployment(text: string, source = 'deployment file'): MarketDeploymentRecord {
  const fail = (field: string | undefined, message: string): never => {
    throw new DeploymentFileError(
      `${source}: ${field === undefined ? '' : `${field} `}${message}; fix the file or write it again with sherd-market deploy --out ${source} --force`,
      { path: source, field }
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new DeploymentFileError(
      `${source} is not JSON (${(err as Error).message}); it should be the file sherd-market deploy wrote`,
      { path: source, cause: err }
    )
  }
  if (!isObject(json)) return fail(undefined, 'must hold a JSON object')
  for (const key of Object.keys(json))
    if (!(FIELDS as readonly string[]).includes(key))
      fail(key, `is not a field of a deployment file (fields: ${FIELDS.join(', ')})`)
  if (json.contract !== 'ProofSetMarket') fail('contract', `must be "ProofSetMarket", not ${show(json.contract)}`)
  const chainId = json.chainId
  if (typeof chainId !== 'number' || !Number.isSafeInteger(chainId) || chainId < 1)
    return fail('chainId', `must be a positive integer, not ${show(chainId)}`)
  const rpcUrl = json.rpcUrl
  if (typeof rpcUrl !== 'string' || !isRpcUrl(rpcUrl))
    return fail('rpcUrl', `must be an http(s) or ws(s) URL, not ${show(rpcUrl)}`)
  const address = (field: 'market' | 'token' | 'deployer'): Address => {
    const v = json[field]
    if (typeof v !== 'string' || !isAddress(v, { strict: false }))
      return fail(field, `must be a 0x-prefixed 20-byte address, not ${show(v)}`)
    return getAddress(v)
  }
  const market = address('market')
  const token = address('token')
  const deployer = address('deployer')
  const tokenDeployed = json.tokenDeployed
  if (typeof tokenDeployed !== 'boolean')
    return fail('tokenDeployed', `must be true or false, not ${show(tokenDeployed)}`)
  const genesisBlock =
    integer(json.genesisBlock, 2n ** 64n - 1n) ??
    fail(
      'genesisBlock',
      `must be a block number (a non-negative integer, as a decimal string), not ${show(json.genesisBlock)}`
    )
  const params = json.params
  if (!isObject(params)) return fail('params', `must be an object with ${PARAM_FIELDS.join(', ')}`)
  for (const key of Object.keys(params))
    if (!(PARAM_FIELDS as readonly string[]).includes(key))
      fail(`params.${key}`, `is not a market parameter (parameters: ${PARAM_FIELDS.join(', ')})`)
  // The small parameters are JSON numbers, as written; auditBond (up to 2^128) a decimal string or a safe integer.
  const small = (field: Exclude<(typeof PARAM_FIELDS)[number], 'auditBond'>): number => {
    const v = params[field]
    const max = Number(
      PARAM_MAX[field] < BigInt(Number.MAX_SAFE_INTEGER) ? PARAM_MAX[field] : BigInt(Number.MAX_SAFE_INTEGER)
    )
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max)
      return fail(`params.${field}`, `must be an integer number from 0 to ${max}, not ${show(v)}`)
    return v
  }
  const parsed: ProofSetParams = {
    periodBlocks: small('periodBlocks'),
    challengeDelayBlocks: small('challengeDelayBlocks'),
    maxMissedPeriods: small('maxMissedPeriods'),
    collateralBps: small('collateralBps'),
    slashBps: small('slashBps'),
    reporterBps: small('reporterBps'),
    auditBond:
      integer(params.auditBond, PARAM_MAX.auditBond) ??
      fail(
        'params.auditBond',
        `must be an integer from 0 to 2^128 − 1 as a decimal string, not ${show(params.auditBond)}`
      )
  }
  // The contract's constructor refuses these, so a file holding them cannot describe a deployed market.
  if (parsed.challengeDelayBlocks + 2 > parsed.periodBlocks)
    fail(
      'params.periodBlocks',
      `must be at least challengeDelayBlocks + 2 (${parsed.challengeDelayBlocks + 2}), not ${parsed.periodBlocks}`
    )
  if (parsed.maxMissedPeriods === 0) fail('params.maxMissedPeriods', 'must be at least 1')
  return {
    contract: 'ProofSetMarket',
    chainId,
    rpcUrl,
    market,
    token,
    tokenDeployed,
    genesisBlock,
    deployer,
    params: parsed
  }
}

/** Reads and validates a deployment file (DeploymentFileError says what is wrong and what to do). */
export async function readMarketDeployment(path: string): Promise<MarketDeploymentRecord> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const missing = err instanceof Error && 'code' in err && err.code === 'ENOENT'
    throw new DeploymentFileError(
      missing
        ? `${path} does not exist: pass the file sherd-market deploy --out wrote (or the devnet's), or give --rpc-url, --chain-id, --market and --token instead`
        : `cannot read ${path}: ${(err as Error).message}`,
      { path, cause: err }
    )
  }
  return parseMarketDeployment(text, path)
}

export interface WriteMarketDeploymentOptions {
  /** Replace an existing file (otherwise DeploymentFileExistsError: it may record a deployment still in use). */
  force?: boolean
}

/**
 * Writes the record atomically: a reader sees the old file or the whole new one, an interrupted write leaves the
 * old file intact, and without `force` an existing file is never replaced (checked by the link itself, so two
 * writers cannot both win).
 */
export async function writeMarketDeployment(
  path: string,
  record: MarketDeploymentRecord,
  options: WriteMarketDeploymentOptions = {}
): Promise<void> {
  const text = formatMarketDeployment(record)
  // Refuse to write what cannot be read back.
  parseMarketDeployment(text, path)
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
  await writeFile(tmp, text, { flag: 'wx' })
  try {
    if (options.force === true) {
      await rename(tmp, path)
      return
    }
    try {
      await link(tmp, path)
    } catch (err) {
      if (err instanceof Error && 'code' in err && err.code === 'EEXIST') {
        throw new DeploymentFileExistsError(
          `${path} exists: it may record a deployment you still need; pass --force to overwrite it or --out for another file`,
          { path, cause: err }
        )
      }
      throw err
    }
    await unlink(tmp)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A non-negative integer up to `max`, given as a decimal string or a safe-integer number. */
function integer(v: unknown, max: bigint): bigint | undefined {
  let n: bigint
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v)
  else if (typeof v === 'string' && /^(0|[1-9][0-9]*)$/.test(v)) n = BigInt(v)
  else return undefined
  return n >= 0n && n <= max ? n : undefined
}

function isRpcUrl(v: string): boolean {
  try {
    return ['http:', 'https:', 'ws:', 'wss:'].includes(new URL(v).protocol)
  } catch {
    return false
  }
}

function show(v: unknown): string {
  return v === undefined ? 'missing' : JSON.stringify(v)
}
