/** Base of `@sherd/node` errors; conditions are told apart by `.name`, messages say what to do. */
export class NodeError extends Error {
  override name = 'NodeError'
}
/** Storing this would exceed the configured capacity. */
export class CapacityExceededError extends NodeError {
  override name = 'CapacityExceededError'
}
/** The provider's free stake cannot back the collateral of another deal: it refuses the offer (the client tries another). */
export class InsufficientStakeError extends NodeError {
  override name = 'InsufficientStakeError'
}
/** No shard or manifest under that root or CID. */
export class NotFoundError extends NodeError {
  override name = 'NotFoundError'
}
/** The shard is already stored (or being stored) here. */
export class AlreadyStoredError extends NodeError {
  override name = 'AlreadyStoredError'
}
/** A byte range lies outside the shard. */
export class RangeNotSatisfiableError extends NodeError {
  override name = 'RangeNotSatisfiableError'
}
/** The disk is full: LevelDB could not write. */
export class DiskFullError extends NodeError {
  override name = 'DiskFullError'
}
/** Another process holds the data dir's LevelDB lock. */
export class DataDirLockedError extends NodeError {
  override name = 'DataDirLockedError'
}
/** The node is stopping or stopped and accepts no new work. */
export class NodeStoppingError extends NodeError {
  override name = 'NodeStoppingError'
}
/** The data dir is missing its keys or config: run `sherd-node init`. */
export class NotInitializedError extends NodeError {
  override name = 'NotInitializedError'
}
/** Bad configuration or command-line input. */
export class ConfigError extends NodeError {
  override name = 'ConfigError'
}
/** A chain-side command that is not available yet. */
export class NotWiredError extends NodeError {
  override name = 'NotWiredError'
}
/** The shard is being read, written or deleted right now; the operation can be tried again later. */
export class ShardBusyError extends NodeError {
  override name = 'ShardBusyError'
}
/** `init` found an existing config and was not given --force. */
export class AlreadyInitializedError extends NodeError {
  override name = 'AlreadyInitializedError'
}
/** The provider left the market with `exit`; `start` does not register and stake again unless told to. */
export class ProviderExitedError extends NodeError {
  override name = 'ProviderExitedError'
}
/** `exit` was refused: deals are still open (the message lists them and when they end). */
export class OpenDealsError extends NodeError {
  override name = 'OpenDealsError'
}
/** An offer was asked for a shard this provider does not hold whole and verified: store it first. */
export class UnknownShardError extends NodeError {
  override name = 'UnknownShardError'
}
/** An offer was asked with a byte length other than that of the stored shard with that root. */
export class ShardSizeMismatchError extends NodeError {
  override name = 'ShardSizeMismatchError'
}
/**
 * Shards no deal has claimed yet already take the bytes this provider allows for them: open deals for what was
 * uploaded (or wait for unclaimed shards to expire) before uploading more.
 */
export class UnclaimedBytesExceededError extends NodeError {
  override name = 'UnclaimedBytesExceededError'
}
/** The offer's term is longer than this provider's maximum (its `maxTermPeriods` on chain). */
export class TermTooLongError extends NodeError {
  override name = 'TermTooLongError'
}
/** The provider is leaving the market (`sherd-node exit`) and signs no new offers. */
export class NotAcceptingOffersError extends NodeError {
  override name = 'NotAcceptingOffersError'
}

/*
 * Conditions split out of ConfigError because a caller handles them differently (retry later, fund an address,
 * point at another chain). Each is still a ConfigError (`instanceof`), so code that catches configuration
 * problems as a whole keeps working; `.name` tells them apart.
 */

/** The chain's RPC did not answer: start it, or retry once it is up. */
export class ChainUnreachableError extends ConfigError {
  override name = 'ChainUnreachableError'
}
/** The RPC serves another chain than the deployment file names. */
export class WrongChainError extends ConfigError {
  override name = 'WrongChainError'
}
/** No ProofSetMarket at the configured address (no code there, or another contract). */
export class NotAMarketError extends ConfigError {
  override name = 'NotAMarketError'
}
/** Registering, staking or setting the term limit failed on chain: usually the address lacks tokens or gas. */
export class RegistrationFailedError extends ConfigError {
  override name = 'RegistrationFailedError'
}
/** This provider's address is not registered with the market. */
export class NotRegisteredError extends ConfigError {
  override name = 'NotRegisteredError'
}
/** A token amount (--price, --stake, --add, config.json) cannot be read. */
export class InvalidAmountError extends ConfigError {
  override name = 'InvalidAmountError'
}
/** A listen address (libp2p TCP or WebSocket, or the status API's port) is taken by another process. */
export class AddressInUseError extends ConfigError {
  override name = 'AddressInUseError'
}
/** `sherd-node status` found no node answering on the configured HTTP API. */
export class NodeUnreachableError extends ConfigError {
  override name = 'NodeUnreachableError'
}
/** A part was asked for work before its `start()` (or after `stop()`). */
export class NotStartedError extends NodeError {
  override name = 'NotStartedError'
}
