/**
 * Base of the errors the networked SDK throws itself. `.name` tells them apart; `provider` (a peer id) names the
 * provider involved when there is one, and the message says what to do next.
 */
export class ClientError extends Error {
  override name = 'ClientError'
  readonly provider?: string
  constructor(message: string, options: { provider?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    if (options.provider !== undefined) this.provider = options.provider
  }
}

/** Missing or contradictory configuration (RPC, contract, account, bootstrap). */
export class ClientConfigError extends ClientError {
  override name = 'ClientConfigError'
}

// The chain conditions a caller handles differently from a typo in its configuration: each is a ClientConfigError
// too (`instanceof`), told apart by class and `.name`, as in @sherd/node.

/** The chain's RPC did not answer: start it, or retry once it is up. */
export class ChainUnreachableError extends ClientConfigError {
  override name = 'ChainUnreachableError'
}

/** The RPC serves another chain than the deployment names. */
export class WrongChainError extends ClientConfigError {
  override name = 'WrongChainError'
}

/** No ProofSetMarket at the configured address, or one that settles in another token than the deployment says. */
export class NotAMarketError extends ClientConfigError {
  override name = 'NotAMarketError'
}

/** The client was used before `start()` or after `stop()`. */
export class ClientNotStartedError extends ClientError {
  override name = 'ClientNotStartedError'
  constructor() {
    super('the client is not started: call `await client.start()` first')
  }
}

/** Fewer usable providers than a segment needs (k + m distinct ones). */
export class NotEnoughProvidersError extends ClientError {
  override name = 'NotEnoughProvidersError'
  constructor(
    readonly needed: number,
    readonly available: number,
    detail = ''
  ) {
    super(
      `${needed} distinct provider(s) are needed but only ${available} are usable${detail}; ` +
        'add bootstrap addresses of more providers (client.connect / --bootstrap), wait for their announcements, or lower k + m'
    )
  }
}

/** A shard could not be placed on any provider after every attempt. */
export class ShardPlacementError extends ClientError {
  override name = 'ShardPlacementError'
  constructor(
    readonly segmentIndex: number,
    readonly shardIndex: number,
    readonly attempts: ReadonlyArray<{ provider: string; error: string }>
  ) {
    super(
      `segment ${segmentIndex} shard ${shardIndex} could not be stored: ` +
        attempts.map((a) => `${a.provider}: ${a.error}`).join('; ') +
        '; retry the put once more providers are up',
      { provider: attempts.at(-1)?.provider }
    )
  }
}

/** One request to a provider failed (unreachable, refused, timed out, malformed answer). */
export class ProviderRequestError extends ClientError {
  override name = 'ProviderRequestError'
  constructor(
    provider: string,
    readonly operation: string,
    cause: unknown,
    /** True when the provider could not be reached at all (no address, dial failed): it is likely down. */
    readonly unreachable = false
  ) {
    super(
      `${operation} on provider ${provider} failed${unreachable ? ' (unreachable)' : ''}: ${(cause as Error)?.message ?? String(cause)}; ` +
        'the client tries another provider where it can',
      { provider, cause }
    )
  }
}

/** A provider sent bytes that do not match what was asked for (a shard's root, a manifest's CID, an offer). */
export class ProviderMisbehaviourError extends ClientError {
  override name = 'ProviderMisbehaviourError'
  constructor(provider: string, what: string, options: { cause?: unknown } = {}) {
    super(`provider ${provider} ${what}; its score was lowered and another provider is used`, { provider, ...options })
  }
}

/** A provider served bytes that do not match the shard's commitment (root or length): a lie, not an outage. */
export class CorruptShardError extends ProviderMisbehaviourError {
  override name = 'CorruptShardError'
  constructor(provider: string, cause: Error) {
    super(provider, `served a shard that does not match its commitment (${cause.message})`, { cause })
  }
}

/** No provider asked holds the manifest (or every copy failed its CID check). */
export class ManifestNotFoundError extends ClientError {
  override name = 'ManifestNotFoundError'
  constructor(
    readonly cid: string,
    readonly asked: readonly string[]
  ) {
    super(
      `no provider among the ${asked.length} asked serves manifest ${cid}: check the link, add bootstrap ` +
        'addresses of the providers that stored the file, or wait for their announcements'
    )
  }
}

/** The sealed manifest could not be stored on any provider. */
export class ManifestStoreError extends ClientError {
  override name = 'ManifestStoreError'
}

/** Deals were opened but not all were activated by their providers in time. */
export class DealActivationError extends ClientError {
  override name = 'DealActivationError'
  constructor(
    /** Deals not activated in time (`dealId`), or shards whose deal could not be opened (no `dealId`). */
    readonly pending: ReadonlyArray<{ dealId?: bigint; provider: string }>,
    /** The file was stored and its manifest written: the link works; `repair` re-places the shards not activated. */
    readonly link: string
  ) {
    super(
      `${pending.length} deal(s) were not opened or not activated in time (${pending
        .slice(0, 4)
        .map((p) => `${p.dealId === undefined ? 'unopened deal' : `deal ${p.dealId}`} on ${p.provider}`)
        .join(', ')}` +
        `${pending.length > 4 ? ', …' : ''}); the file is stored at ${link}: run repair on it to move those shards`,
      { provider: pending[0]?.provider }
    )
  }
}

/** What to do about a failed transaction: the client's funds, unless the contract named another reason. */
function chainActionHint(revert: string | undefined): string {
  // The provider's stake, not the client's account, is short: the provider must stake more; another provider can take the shard.
  if (revert === 'InsufficientStake')
    return "the provider's free stake does not cover the deal's collateral: the provider must stake more"
  if (revert === 'TermTooLong') return "the term is beyond the provider's limit (maxTermPeriods): ask for fewer periods"
  if (revert === 'OfferExpired') return "the provider's offer expired: ask for a new one (put --resume does)"
  return "check the account's token balance and gas, and the RPC"
}

/**
 * A transaction the SDK needed (approve, open, extend, claim, audit) failed. `revert` is the market's custom error
 * name when it gave one (`proofSetRevertName` of the cause: the caller decodes it, so this module imports nothing).
 */
export class ChainActionError extends ClientError {
  override name = 'ChainActionError'
  constructor(
    operation: string,
    cause: unknown,
    provider?: string,
    readonly revert?: string
  ) {
    const short = (cause as { shortMessage?: unknown })?.shortMessage
    const text = typeof short === 'string' ? short : ((cause as Error)?.message ?? String(cause))
    super(
      `${operation} failed: ${text.split('\n')[0]}${revert === undefined ? '' : ` (${revert})`}; ${chainActionHint(revert)}`,
      { provider, cause }
    )
  }
}

/** The wallet lacks the tokens the deals escrow. */
export class InsufficientFundsError extends ClientError {
  override name = 'InsufficientFundsError'
  /** Token base units short: `needed - balance`. */
  readonly missing: bigint
  constructor(
    readonly needed: bigint,
    readonly balance: bigint,
    readonly token: string,
    // A formatter rather than the token's decimals and symbol keeps this module free of imports: the CLI loads it
    // on paths that must stay fast.
    formatAmount: (amount: bigint) => string = (amount) => `${amount} base units`
  ) {
    super(
      `the deals need ${formatAmount(needed)} but the account holds ${formatAmount(balance)} (token ${token}): ${formatAmount(needed - balance)} missing; ` +
        'fund the account with at least that much, or store fewer periods, then run the same command again'
    )
    this.missing = needed - balance
  }
}

/** The account has no native coin to pay gas with: it could not send the approval or open a deal. */
export class InsufficientGasError extends ClientError {
  override name = 'InsufficientGasError'
  constructor(readonly account: string) {
    super(
      `the account ${account} holds no native coin for gas, so it cannot approve the market or open deals: send it some, then run the same command again`
    )
  }
}

/**
 * A get found too few shards, and every deal of the file is over on chain (its term ended, or it expired or
 * failed): the providers were right to delete the shards. Nothing is wrong with the network or the link.
 */
export class StorageEndedError extends ClientError {
  override name = 'StorageEndedError'
  constructor(
    /** When the last deal of the file ended (undefined when the chain cannot date the block). */
    readonly endedAt: Date | undefined,
    readonly endedBlock: bigint,
    readonly deals: number,
    cause?: unknown
  ) {
    super(
      `storage of this file ended on ${endedAt === undefined ? `block ${endedBlock}` : `${endedAt.toISOString().slice(0, 16).replace('T', ' ')}Z`}; nothing to read: ` +
        `all ${deals} of its deals are over and their providers have deleted the shards. Put the file again from a copy you hold ` +
        '(and extend the deals before they end next time: sherd stat shows when)',
      { cause }
    )
  }
}

/** Repair could not bring a segment back (fewer than k good shards left). */
export class RepairError extends ClientError {
  override name = 'RepairError'
}
