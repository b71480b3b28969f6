import type { CID } from 'multiformats/cid'
import { base64url } from 'multiformats/bases/base64'
import { parseManifestCid } from './cid.js'
import { InvalidLinkError, ProtocolError } from './errors.js'
import { checkFileKey, FILE_KEY_BYTES } from './manifest.js'

export const LINK_SCHEME = 'sherd://'

/** Longest link accepted: a CID string is well under 100 characters and a key 43; more is not a link. */
export const MAX_LINK_CHARS = 512

/** What a `sherd://` link carries: the manifest CID that names the file and the file key. */
export interface SherdLink {
  readonly cid: CID
  readonly key: Uint8Array
}

/** `sherd://<manifest CID in base32>#<file key in unpadded base64url>`. */
export function formatLink (cid: CID | string, key: Uint8Array): string {
  checkFileKey(key)
  const manifest = parseManifestCid(cid)
  // multibase base64url strings start with the prefix "u"; the fragment carries the bare encoding.
  return `${LINK_SCHEME}${manifest.toString()}#${base64url.baseEncode(key)}`
}

/** Parses a `sherd://` link; throws InvalidLinkError saying which part is wrong. */
export function parseLink (link: string): SherdLink {
  if (typeof link !== 'string') throw new InvalidLinkError('a sherd link is a string: sherd://<manifest-cid>#<key>')
  const text = link.trim()
  if (text.length > MAX_LINK_CHARS) throw new InvalidLinkError(`link is ${text.length} characters; a sherd link is under ${MAX_LINK_CHARS}`)
  if (!text.startsWith(LINK_SCHEME)) {
    throw new InvalidLinkError(`link must start with "${LINK_SCHEME}" (form: sherd://<manifest-cid>#<key>)`)
  }
  const rest = text.slice(LINK_SCHEME.length)
  const hash = rest.indexOf('#')
  if (hash < 0) {
    throw new InvalidLinkError('link has no "#<key>" part: without the file key the file cannot be decrypted; copy the whole link')
  }
  const cidText = rest.slice(0, hash)
  const keyText = rest.slice(hash + 1)
  if (cidText.length === 0) throw new InvalidLinkError('link has no manifest CID between "sherd://" and "#"')
  if (keyText.length === 0) throw new InvalidLinkError('link has an empty key after "#"; copy the whole link')
  let cid: CID
  try {
    cid = parseManifestCid(cidText)
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err
    throw new InvalidLinkError(`link's manifest CID is invalid: ${err.message}`, { cause: err })
  }
  let key: Uint8Array
  try {
    key = base64url.baseDecode(keyText)
  } catch (err) {
    throw new InvalidLinkError('link\'s key is not unpadded base64url (A-Z a-z 0-9 - _); the link was cut or altered', { cause: err })
  }
  if (key.length !== FILE_KEY_BYTES) {
    throw new InvalidLinkError(`link's key is ${key.length} bytes; a file key is ${FILE_KEY_BYTES} (43 base64url characters), ` +
      'the link was cut or altered')
  }
  return { cid, key }
}
