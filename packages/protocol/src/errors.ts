/**
 * Base of every error `@sherd/protocol` throws for content formats (CIDs, manifests, links).
 * Conditions are told apart by `.name`; the message says what went wrong and what to do.
 */
export class ProtocolError extends Error {
  override name = 'ProtocolError'
}

/** A string or byte array that is not a CID at all. */
export class InvalidCidError extends ProtocolError {
  override name = 'InvalidCidError'
}

/** A well-formed CID whose codec is not the one this use expects (e.g. a manifest CID where a shard CID belongs). */
export class UnexpectedCodecError extends ProtocolError {
  override name = 'UnexpectedCodecError'
  /** `hint` replaces the generic "check that you passed a … CID" when the caller knows what was passed instead. */
  constructor(
    readonly codec: number,
    readonly expected: number,
    what: string,
    hint = `check that you passed a ${what} CID`
  ) {
    super(`CID has codec 0x${codec.toString(16)} but a ${what} CID has codec 0x${expected.toString(16)}; ${hint}`)
  }
}

/** A well-formed CID whose multihash is not the one this use expects, or whose digest has the wrong shape. */
export class UnexpectedHashError extends ProtocolError {
  override name = 'UnexpectedHashError'
}

/**
 * Manifest bytes that do not decode to a valid manifest (not canonical DAG-CBOR, a missing or unknown field, a size
 * out of bounds). `field` is the path of the offending field (`segments[2].shardSize`, `envelope.salt`), or ''.
 */
export class InvalidManifestError extends ProtocolError {
  override name = 'InvalidManifestError'
  readonly field: string
  constructor(message: string, options: ErrorOptions & { field?: string } = {}) {
    super(message, options)
    this.field = options.field ?? ''
  }
}

/** Sealed manifest bytes that do not hash to the CID they were fetched under: they were altered or mixed up. */
export class ManifestCidMismatchError extends ProtocolError {
  override name = 'ManifestCidMismatchError'
  constructor(readonly cid: string) {
    super(
      `manifest bytes do not hash to ${cid}; they were altered in transit or storage, fetch them from another provider`
    )
  }
}

/** A sealed manifest whose AES-GCM tag does not verify: the key is wrong or the ciphertext was altered. */
export class ManifestDecryptionError extends ProtocolError {
  override name = 'ManifestDecryptionError'
  constructor() {
    super(
      'the manifest does not decrypt under this key (AES-GCM tag mismatch): check the key after # in the ' +
        'sherd:// link, or fetch the manifest again if it was altered'
    )
  }
}

/** A key that is not 32 bytes. */
export class InvalidKeyError extends ProtocolError {
  override name = 'InvalidKeyError'
}

/** A `sherd://` link that cannot be parsed; the message says which part is wrong. */
export class InvalidLinkError extends ProtocolError {
  override name = 'InvalidLinkError'
}

/** A repair key given for a manifest sealed before repair keys existed (envelope v1): only the file key opens it. */
export class ManifestNeedsFileKeyError extends ProtocolError {
  override name = 'ManifestNeedsFileKeyError'
  constructor() {
    super(
      'this manifest was sealed before repair capabilities existed (envelope v1): only the full link opens it; ' +
        'give the keeper the full link sherd://<cid>#<key> for this file'
    )
  }
}

/**
 * A repair capability (`sherd://<cid>#r=<repair key>`) where a full link is needed: it can repair the file, not read
 * it.
 */
export class RepairCapabilityError extends InvalidLinkError {
  override name = 'RepairCapabilityError'
}
