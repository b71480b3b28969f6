// sherd-market: deploys ProofSetMarket (and optionally a SherdToken) to any JSON-RPC endpoint and records the
// deployment as JSON.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { BaseError, createPublicClient, createWalletClient, http, isAddress, isHex } from 'viem'
import type { PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { rpcChain } from './chain.js'
import { formatMarketDeployment, writeMarketDeployment } from './deployment-file.js'
import type { MarketDeploymentRecord } from './deployment-file.js'
import { DeploymentFileError } from './errors.js'
import { deployProofSetMarket, PROOF_SET_DEFAULT_PARAMS, PROOF_SET_DEVNET_PARAMS } from './proof-set.js'

const HELP = `sherd-market: deploy the Sherd ProofSetMarket settlement contract

Usage:
  sherd-market deploy --rpc-url URL [--private-key KEY] (--with-token | --token ADDRESS) [--out FILE] [--force] [--devnet]

Flags:
  --rpc-url URL        JSON-RPC endpoint of the chain (or SHERD_RPC_URL)
  --private-key KEY    0x-prefixed deployer key (or SHERD_PRIVATE_KEY, which keeps it out of the process list)
  --with-token         also deploy a mintable SherdToken (test networks) and settle in it
  --token ADDRESS      settle in an existing ERC-20 instead
  --out FILE           where to write the deployment JSON (default ./sherd-market-deployment.json)
  --force              overwrite FILE if it exists
  --devnet             8-block periods (PROOF_SET_DEVNET_PARAMS) instead of the 256-block defaults
  -h, --help

Prints the deployment (chain id, market, token, genesis block, deployer, parameters) as JSON and writes it to FILE.`

/** A mistake of the caller: printed as one line with what to do, no stack trace. */
class UsageError extends Error {}
class DeployedButNotWrittenError extends Error {}

async function deployCommand(args: string[]): Promise<MarketDeploymentRecord> {
  const { values } = parseArgs({
    args,
    options: {
      'rpc-url': { type: 'string' },
      'private-key': { type: 'string' },
      'with-token': { type: 'boolean', default: false },
      token: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      devnet: { type: 'boolean', default: false }
    },
    strict: true
  })
  const rpcUrl = values['rpc-url'] ?? process.env.SHERD_RPC_URL
  if (rpcUrl === undefined) throw new UsageError('missing --rpc-url (or SHERD_RPC_URL): the chain to deploy to')
  const key = values['private-key'] ?? process.env.SHERD_PRIVATE_KEY
  if (key === undefined)
    throw new UsageError('missing --private-key (or SHERD_PRIVATE_KEY): the account that pays for the deployment')
  if (!isHex(key) || key.length !== 66) throw new UsageError('the private key must be 0x followed by 64 hex digits')
  if (values['with-token'] === (values.token !== undefined))
    throw new UsageError(
      'pass exactly one of --with-token (deploy a test token) or --token ADDRESS (an existing ERC-20)'
    )
  const token = values.token
  if (token !== undefined && !isAddress(token)) throw new UsageError(`--token ${token} is not an address`)
  const out = resolve(values.out ?? 'sherd-market-deployment.json')
  if (existsSync(out) && !values.force)
    throw new UsageError(
      `${out} exists: it may record a deployment you still need; pass --force to overwrite or --out for another file`
    )

  const transport = http(rpcUrl)
  let chainId: number
  try {
    chainId = await createPublicClient({ transport }).getChainId()
  } catch (err) {
    throw new UsageError(
      `cannot reach ${rpcUrl}: ${err instanceof BaseError ? err.shortMessage : (err as Error).message}`
    )
  }
  const chain = rpcChain(chainId, rpcUrl, `chain ${chainId}`)
  const publicClient = createPublicClient({ chain, transport }) as PublicClient
  const account = privateKeyToAccount(key)
  const wallet = createWalletClient({ account, chain, transport })
  const params = values.devnet ? PROOF_SET_DEVNET_PARAMS : PROOF_SET_DEFAULT_PARAMS
  const d = await deployProofSetMarket(wallet, { publicClient, token, params })
  const record: MarketDeploymentRecord = {
    contract: 'ProofSetMarket',
    chainId,
    rpcUrl,
    market: d.market,
    token: d.token,
    tokenDeployed: token === undefined,
    genesisBlock: d.genesisBlock,
    deployer: account.address,
    params: d.params
  }
  try {
    await writeMarketDeployment(out, record, { force: values.force })
  } catch (err) {
    // The contracts are on chain and paid for: the record must reach the user even if the file cannot be written.
    process.stdout.write(formatMarketDeployment(record))
    throw new DeployedButNotWrittenError(
      `deployed, but could not write ${out} (${(err as Error).message}); the deployment is printed above: save it to a file`
    )
  }
  return record
}

/** Runs the CLI; returns the exit code (0 ok, 1 failed, 2 usage). */
export async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (
    command === undefined ||
    command === '-h' ||
    command === '--help' ||
    rest.includes('-h') ||
    rest.includes('--help')
  ) {
    process.stdout.write(HELP + '\n')
    return command === undefined ? 2 : 0
  }
  try {
    if (command !== 'deploy')
      throw new UsageError(`unknown command ${command}; the only one is deploy (sherd-market --help)`)
    const record = await deployCommand(rest)
    process.stdout.write(formatMarketDeployment(record))
    return 0
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      process.stderr.write(`sherd-market: ${err.message}\n`)
      return 2
    }
    if (err instanceof DeployedButNotWrittenError || err instanceof DeploymentFileError) {
      process.stderr.write(`sherd-market: ${err.message}\n`)
      return 1
    }
    if (err instanceof BaseError) {
      process.stderr.write(
        `sherd-market: deployment failed: ${err.shortMessage} (check the account's balance and the RPC URL)\n`
      )
      return 1
    }
    throw err
  }
}
