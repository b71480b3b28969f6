/** Base of every error this package throws itself; viem's errors (reverts, RPC failures) pass through as they are. */
export class ContractsError extends Error {
  override name = 'ContractsError'
}

/** anvil could not be found, did not start, or did not answer in time. */
export class AnvilStartError extends ContractsError {
  override name = 'AnvilStartError'
}

/** An offer failed verification: bad signature, wrong signer, wrong market or chain, or expired. */
export class InvalidOfferError extends ContractsError {
  override name = 'InvalidOfferError'
}

/** A proof cannot be encoded: the number of items or a path length does not match the deal. */
export class ProofEncodingError extends ContractsError {
  override name = 'ProofEncodingError'
}

/** A transaction was mined but reverted, or its receipt lacks the expected event. */
export class TransactionFailedError extends ContractsError {
  override name = 'TransactionFailedError'
}

/** A deployment file is missing, unreadable or malformed; `field` names the bad field when there is one. */
export class DeploymentFileError extends ContractsError {
  override name = 'DeploymentFileError'
  readonly path: string
  readonly field?: string
  constructor(message: string, options: { path: string; field?: string; cause?: unknown }) {
    super(message, { cause: options.cause })
    this.path = options.path
    if (options.field !== undefined) this.field = options.field
  }
}

/** `writeMarketDeployment` without `force` found the file already there; nothing was written. */
export class DeploymentFileExistsError extends DeploymentFileError {
  override name = 'DeploymentFileExistsError'
}

/** `freePorts` found fewer free TCP ports on 127.0.0.1 than asked for. */
export class FreePortError extends ContractsError {
  override name = 'FreePortError'
}
