import { ProtocolError } from '../errors.js'

/** Base of the wire errors: `.name` tells them apart; a remote error arrives with its `name` preserved. */
export class WireError extends ProtocolError {
  override name = 'WireError'
}
/** A frame or message did not decode or did not have the expected shape. */
export class MalformedMessageError extends WireError {
  override name = 'MalformedMessageError'
}
/** A declared length exceeded the bound for that message. */
export class MessageTooLargeError extends WireError {
  override name = 'MessageTooLargeError'
}
/** The stream ended before a whole message (or the declared number of bytes) arrived. */
export class TruncatedMessageError extends WireError {
  override name = 'TruncatedMessageError'
}
/** Bytes did not match the commitment root or CID they were sent under. */
export class CommitmentMismatchError extends WireError {
  override name = 'CommitmentMismatchError'
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
  constructor (remoteName: string, message: string) {
    super(`${remoteName}: ${message}`)
    this.remoteName = remoteName
  }
}
/** The stream closed while a sender waited for it to drain: the bytes were not all sent. */
export class StreamClosedWhileSendingError extends WireError {
  override name = 'StreamClosedWhileSendingError'
}
