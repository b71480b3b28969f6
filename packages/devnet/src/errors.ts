/** Base of `@sherd/devnet` errors; conditions are told apart by `.name`, messages say what to do. */
export class DevnetError extends Error {
  override name = 'DevnetError'
}

/** The devnet could not start: a process did not come up, or the network did not form in time. */
export class DevnetStartError extends DevnetError {
  override name = 'DevnetStartError'
}

/** A provider process exited (or was killed) when it was expected to run. */
export class ProviderExitedError extends DevnetError {
  override name = 'ProviderExitedError'
}

/** A provider index outside 0..providers − 1, or an operation that does not fit the provider's state. */
export class ProviderStateError extends DevnetError {
  override name = 'ProviderStateError'
}

/** The built `sherd-node` binary is missing: the packages have not been built. */
export class NotBuiltError extends DevnetError {
  override name = 'NotBuiltError'
}
