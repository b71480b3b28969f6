import { logger } from '@libp2p/logger'
import { createPublicClient, createWalletClient, http } from 'viem'
import type { Address, Hex, PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  addProofSetStake,
  getProofSetDeal,
  getProofSetParams,
  getProofSetProvider,
  getProofSetWithdrawable,
  isProofSetRevert,
  PROOF_SET_DEFAULT_MAX_TERM_PERIODS,
  proofSetMarketAbi,
  readProofSetEvents,
  readTokenInfo,
  registerProofSetProvider,
  removeProofSetStake,
  rpcChain,
  setProofSetMaxTerm,
  withdrawProofSet
} from '@sherd/contracts'
import type { MarketClient, ProofSetDealState, ProofSetParams, TokenInfo } from '@sherd/contracts'
import { tokens } from './amounts.js'
import {
  ChainUnreachableError,
  ConfigError,
  NotAMarketError,
  NotRegisteredError,
  OpenDealsError,
  ProviderExitedError,
  RegistrationFailedError,
  WrongChainError
} from '../errors.js'
import { ProofSetClock } from '../prover/context.js'

const log = logger('sherd:node:chain')

/** RPC calls at start must not hang on a dead endpoint. */
export const RPC_TIMEOUT_MS = 10_000
/**
 * Longest term a provider signs, and so how far clients may extend its deals (`maxTermPeriods` on chain): the
 * market's default of 10,000 periods, about a year at the default 256-block (≈ 51 min) periods. Collateral grows
 * with the term, so a provider that wants shorter commitments lowers it (`--max-term`).
 */
export const DEFAULT_MAX_TERM_PERIODS = PROOF_SET_DEFAULT_MAX_TERM_PERIODS

export interface ChainConnection {
  /** The ProofSetMarket, with the provider's wallet. */
  mc: MarketClient
  chainId: number
  address: Address
  /** The market's token: its decimals turn typed amounts into base units, its symbol labels what is printed. */
  token: TokenInfo
  params: ProofSetParams
  genesisBlock: bigint
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0] ?? ''
}

/**
 * Connects to the ProofSetMarket with the provider's chain key. Errors say what to fix: an unreachable RPC, an
 * address with no contract, or a contract that is not a Sherd ProofSetMarket.
 */
export async function connectChain(init: {
  rpcUrl: string
  market: string
  privateKey: Hex
  timeoutMs?: number
  expectedChainId?: number
}): Promise<ChainConnection> {
  if (!/^0x[0-9a-fA-F]{40}$/.test(init.market))
    throw new ConfigError(`--contract must be a 0x-prefixed 20-byte address, got "${init.market}"`)
  const market = init.market as Address
  const transport = http(init.rpcUrl, { timeout: init.timeoutMs ?? RPC_TIMEOUT_MS, retryCount: 1 })
  const probe = createPublicClient({ transport })
  let chainId: number
  try {
    chainId = await probe.getChainId()
  } catch (err) {
    throw new ChainUnreachableError(
      `cannot reach the chain RPC at ${init.rpcUrl} (${firstLine(err)}): start the chain node (anvil) or fix --rpc-url`,
      { cause: err }
    )
  }
  if (init.expectedChainId !== undefined && init.expectedChainId !== chainId) {
    throw new WrongChainError(
      `the RPC at ${init.rpcUrl} serves chain ${chainId}, but the deployment file is for chain ${init.expectedChainId}: fix --rpc-url or use that chain's deployment file`
    )
  }
  const code = await probe.getCode({ address: market })
  if (code === undefined || code === '0x') {
    throw new NotAMarketError(
      `no contract is deployed at ${market} on chain ${chainId} (${init.rpcUrl}): check --contract or --deployment (the devnet writes deployment.json)`
    )
  }
  const chain = rpcChain(chainId, init.rpcUrl)
  const account = privateKeyToAccount(init.privateKey)
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 250 }) as PublicClient
  const walletClient = createWalletClient({ account, chain, transport })
  const mc: MarketClient = { market, publicClient, walletClient }
  let params: ProofSetParams
  let genesisBlock: bigint
  try {
    params = await getProofSetParams(mc)
    genesisBlock = await publicClient.readContract({
      address: market,
      abi: proofSetMarketAbi,
      functionName: 'genesisBlock'
    })
  } catch (err) {
    throw new NotAMarketError(
      `the contract at ${market} is not a Sherd ProofSetMarket (${firstLine(err)}): check --contract or --deployment`,
      { cause: err }
    )
  }
  const token = await readTokenInfo(publicClient, await readToken(mc))
  return { mc, chainId, address: account.address, token, params, genesisBlock }
}

async function readToken(mc: Pick<MarketClient, 'market' | 'publicClient'>): Promise<Address> {
  return await mc.publicClient.readContract({ address: mc.market, abi: proofSetMarketAbi, functionName: 'token' })
}

/** Reads the market's token (decimals, symbol) without a key: what `init` needs to turn typed amounts into base units. */
export async function readMarketToken(rpcUrl: string, market: Address, timeoutMs = RPC_TIMEOUT_MS): Promise<TokenInfo> {
  const publicClient = createPublicClient({
    transport: http(rpcUrl, { timeout: timeoutMs, retryCount: 0 })
  }) as PublicClient
  return await readTokenInfo(publicClient, await readToken({ market, publicClient }))
}

function isNotRegistered(err: unknown): boolean {
  return isProofSetRevert(err, 'NotRegistered')
}

/** The provider's registry entry, or undefined when it never registered. */
export async function providerInfo(
  conn: ChainConnection
): Promise<Awaited<ReturnType<typeof getProofSetProvider>> | undefined> {
  try {
    return await getProofSetProvider(conn.mc, conn.address)
  } catch (err) {
    if (isNotRegistered(err)) return undefined
    throw err
  }
}

export type RegistrationOutcome = 'registered' | 'restaked' | 'updated' | 'unchanged'

/**
 * Registers the provider with its stake, term limit and peer id. Registered already: its term limit is set to
 * `maxTermPeriods` if it differs, and `restake` (start --register-again after an exit) adds the stake back. The market cannot change a registered peer
 * id: a mismatch is returned as a warning for status (clients would not trust this node's announcements).
 */
export async function ensureRegistered(
  conn: ChainConnection,
  p: { stake: bigint; peerId: string; maxTermPeriods: number },
  options: { signal?: AbortSignal; refuseToRegister?: string; restake?: boolean } = {}
): Promise<{ outcome: RegistrationOutcome; warning?: string }> {
  const current = await providerInfo(conn)
  if (current === undefined) {
    // Registering pulls the stake from the account: never do it for a provider that chose to leave.
    if (options.refuseToRegister !== undefined) throw new ProviderExitedError(options.refuseToRegister)
    try {
      // The term limit is this provider's consent to how long its deals may run (and be extended to).
      await registerProofSetProvider(
        conn.mc,
        { stake: p.stake, peerId: p.peerId, maxTermPeriods: p.maxTermPeriods },
        { signal: options.signal }
      )
    } catch (err) {
      throw new RegistrationFailedError(
        `registering ${conn.address} with a stake of ${tokens(p.stake, conn.token)} failed (${firstLine(err)}): fund this address with tokens and gas, or lower --stake`,
        { cause: err }
      )
    }
    log('registered %s on chain %d', conn.address, conn.chainId)
    return { outcome: 'registered' }
  }
  const warning =
    current.peerId === p.peerId
      ? undefined
      : `registered with peer id ${current.peerId}, but this node is ${p.peerId}: the market cannot change it, so clients will not trust this node's announcements; restore the old peer.key or register a new chain address`
  let outcome: RegistrationOutcome = 'unchanged'
  if (current.maxTermPeriods !== p.maxTermPeriods) {
    try {
      await setProofSetMaxTerm(conn.mc, p.maxTermPeriods, { signal: options.signal })
    } catch (err) {
      throw new RegistrationFailedError(
        `setting ${conn.address}'s term limit to ${p.maxTermPeriods} periods failed (${firstLine(err)}): fund this address with gas, or check the RPC`,
        { cause: err }
      )
    }
    outcome = 'updated'
  }
  if (options.restake === true) {
    if (options.refuseToRegister !== undefined) throw new ProviderExitedError(options.refuseToRegister)
    if (p.stake > 0n) {
      try {
        await addProofSetStake(conn.mc, p.stake, { signal: options.signal })
      } catch (err) {
        throw new RegistrationFailedError(
          `adding a stake of ${tokens(p.stake, conn.token)} for ${conn.address} failed (${firstLine(err)}): fund this address with tokens and gas, or lower --stake`,
          { cause: err }
        )
      }
      return { outcome: 'restaked', warning }
    }
  }
  return { outcome, warning }
}

/** Adds `amount` to the provider's stake (more deals can then be backed). */
export async function addStake(
  conn: ChainConnection,
  amount: bigint,
  options: { signal?: AbortSignal } = {}
): Promise<Hex> {
  if ((await providerInfo(conn)) === undefined)
    throw new NotRegisteredError(
      `${conn.address} is not registered with this market: \`sherd-node start\` registers it with --stake`
    )
  return (await addProofSetStake(conn.mc, amount, options)).transactionHash
}

/** Withdraws earnings claimed (and stake removed); 0 when there is nothing to withdraw. */
export async function withdrawEarnings(
  conn: ChainConnection,
  options: { signal?: AbortSignal } = {}
): Promise<{ amount: bigint; tx?: Hex }> {
  if ((await getProofSetWithdrawable(conn.mc, conn.address)) === 0n) return { amount: 0n }
  const { amount, receipt } = await withdrawProofSet(conn.mc, options)
  return { amount, tx: receipt.transactionHash }
}

/** Seconds per block, measured over the last blocks (12, Ethereum's slot, on a chain too young to tell). */
async function secondsPerBlock(
  publicClient: PublicClient,
  head: bigint
): Promise<{ headTime: number; perBlock: number }> {
  const back = head < 100n ? head : 100n
  const [latest, earlier] = await Promise.all([
    publicClient.getBlock({ blockNumber: head }),
    publicClient.getBlock({ blockNumber: head - back })
  ])
  const perBlock = back === 0n ? 12 : Number(latest.timestamp - earlier.timestamp) / Number(back)
  return { headTime: Number(latest.timestamp), perBlock: perBlock > 0 ? perBlock : 12 }
}

/** `2026-12-01 23:41 UTC`: a date a person reads, to the minute (block times are estimates anyway). */
function formatDate(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** One deal still holding this provider's collateral, and from when a claim can release it. */
export interface OpenDeal {
  id: bigint
  state: ProofSetDealState
  /** First period the deal is void in (its term's end, or earlier after a fault). */
  voidFrom: bigint
  /** First block from which a claim can take it off the books (once its last period is proven). */
  settlesAtBlock: bigint
  settlesAt: string
  /** Its term is over: the running node's next claim releases it. */
  due: boolean
}

/**
 * The provider's deals not yet off the books (their collateral still locked), newest first: its DealOpened events
 * from the market's deployment, each read back with getDeal.
 */
export async function findOpenDeals(
  conn: ChainConnection,
  options: { signal?: AbortSignal } = {}
): Promise<OpenDeal[]> {
  const { mc } = conn
  const clock = new ProofSetClock(conn.genesisBlock, conn.params)
  const head = await mc.publicClient.getBlockNumber({ cacheTime: 0 })
  const { headTime, perBlock } = await secondsPerBlock(mc.publicClient, head)
  const logs = await readProofSetEvents(mc, {
    eventName: 'DealOpened',
    args: { provider: conn.address },
    fromBlock: conn.genesisBlock,
    toBlock: head,
    signal: options.signal
  })
  const found: OpenDeal[] = []
  for (const entry of logs.reverse()) {
    options.signal?.throwIfAborted()
    const deal = await getProofSetDeal(mc, entry.args.dealId)
    if (deal.settled) continue
    // Its last period must be proven (the period after it opens) before a claim releases the collateral.
    const block = clock.startBlock(deal.voidFrom + 1n)
    const at = headTime * 1000 + Math.max(0, Number(block - head)) * perBlock * 1000
    found.push({
      id: entry.args.dealId,
      state: deal.state,
      voidFrom: deal.voidFrom,
      settlesAtBlock: block,
      settlesAt: formatDate(at),
      due: block <= head + 1n
    })
  }
  return found
}

/**
 * Leaves the market. The market has no exit call: a provider leaves by signing no new offers (the caller records
 * that first), waiting until no collateral is locked, then removing its whole stake and withdrawing it. While
 * collateral is locked this refuses (OpenDealsError) with the deals and when each can be released.
 */
export async function leaveMarket(
  conn: ChainConnection,
  options: { signal?: AbortSignal } = {}
): Promise<{ stakeRemoved: bigint; withdrawn: bigint; txs: Hex[] }> {
  const info = await providerInfo(conn)
  if (info === undefined)
    throw new NotRegisteredError(`${conn.address} is not registered with this market: nothing to exit`)
  if (info.locked > 0n) {
    const open = await findOpenDeals(conn, options)
    const lines = open.map((d) =>
      d.due
        ? `  deal ${d.id}: its term is over; a running node claims it (releasing its collateral) within a few periods`
        : `  deal ${d.id}: ${d.state}, its collateral is released after block ${d.settlesAtBlock} (about ${d.settlesAt})`
    )
    const last = open.reduce<OpenDeal | undefined>(
      (a, d) => (a === undefined || d.settlesAtBlock > a.settlesAtBlock ? d : a),
      undefined
    )
    throw new OpenDealsError(
      `${conn.address} still has ${tokens(info.locked, conn.token)} of collateral locked in ${open.length === 1 ? 'a deal' : `${open.length} deals`}:\n${lines.join('\n')}\n` +
        'It signs no new offers from now on. Keep `sherd-node start` running: it proves the deals to the end of their terms and ' +
        `claims them, which releases the collateral. Run exit again after that${last === undefined ? '' : ` (from about ${last.settlesAt})`}.`
    )
  }
  const txs: Hex[] = []
  if (info.stake > 0n) txs.push((await removeProofSetStake(conn.mc, info.stake, options)).transactionHash)
  const { amount, tx } = await withdrawEarnings(conn, options)
  if (tx !== undefined) txs.push(tx)
  return { stakeRemoved: info.stake, withdrawn: amount, txs }
}
