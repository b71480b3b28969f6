import { ProtocolError } from '../errors.js'

/** Base of the wire errors: `.name` tells them apart; a remote error arrives with its `name` preserved. */
export class WireError extends ProtocolError {
  override name = 'WireError'
}
/**
 * A frame or message did not decode or did not have the expected shape. `field` is the path of the offending
 * field within the message (`byteLength`, `receipt.subject`, `addrs[2]`), or '' for the message as a whole.
 */
export class MalformedMessageError extends WireError {
  override name = 'MalformedMessageError'
  readonly field: string
  constructor(message: string, options: ErrorOptions & { field?: string } = {}) {
    super(message, options)
    this.field = options.field ?? ''
  }
}
/** A declared length exceeded the bound for that message. */
export class MessageTooLargeError extends WireError {
  override name = 'MessageTooLargeError'
}
/** The stream ended before a whole message (or the declared number of bytes) arrived. */
export class TruncatedMessageError extends WireError {
  override name = 'TruncatedMessageError'
}
/**
 * The sender went on after the bytes it declared (a store sent more than `byteLength`, a frame was followed by data
 * where the stream should have ended). Nothing of the request is kept.
 */
export class ExcessBytesError extends WireError {
  override name = 'ExcessBytesError'
}
/** Bytes did not match the commitment root or CID they were sent under. */
export class CommitmentMismatchError extends WireError {
  override name = 'CommitmentMismatchError'
}
/** A shard's bytes are not as long as its commitment says (a shard CID or a `{ root, byteLength }`). */
export class ShardLengthMismatchError extends CommitmentMismatchError {
  override name = 'ShardLengthMismatchError'
  constructor(
    readonly expected: number,
    readonly actual: number,
    advice = 'fetch it from another provider'
  ) {
    super(`the shard is ${actual} bytes but its commitment says ${expected}; ${advice}`)
  }
}
/**
 * A byte range of a shard was asked of a helper that returns only verified bytes: a range cannot be checked against
 * the shard's root without the rest of the shard.
 */
export class UnverifiableRangeError extends WireError {
  override name = 'UnverifiableRangeError'
}
/** A signature did not recover to the expected signer, or was malformed. */
export class InvalidSignatureError extends WireError {
  override name = 'InvalidSignatureError'
}
/**
 * The remote answered with an error frame. `remoteName` is the remote's error name
 * (e.g. `CapacityExceededError`, `NotFoundError`), `message` its explanation.
 */
export class RemoteError extends WireError {
  override name = 'RemoteError'
  readonly remoteName: string
  constructor(remoteName: string, message: string) {
    super(`${remoteName}: ${message}`)
    this.remoteName = remoteName
  }
}
/** The stream closed while a sender waited for it to drain: the bytes were not all sent. */
export class StreamClosedWhileSendingError extends WireError {
  override name = 'StreamClosedWhileSendingError'
}
