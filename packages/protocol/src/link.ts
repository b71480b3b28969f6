import type { CID } from 'multiformats/cid'
import { base64url } from 'multiformats/bases/base64'
import { parseManifestCid } from './cid.js'
import { InvalidLinkError, ProtocolError, RepairCapabilityError } from './errors.js'
import { checkFileKey, FILE_KEY_BYTES } from './manifest.js'
import { isRepairKey, REPAIR_KEY_BYTES, RepairKey } from './repair-key.js'

export const LINK_SCHEME = 'sherd://'

/** Longest link accepted: a CID string is well under 100 characters and a key 43; more is not a link. */
export const MAX_LINK_CHARS = 512

/** What a `sherd://` link carries: the manifest CID that names the file and the file key. */
export interface SherdLink {
  readonly cid: CID
  readonly key: Uint8Array
}

/** `sherd://<manifest CID in base32>#<file key in unpadded base64url>`. */
export function formatLink(cid: CID | string, key: Uint8Array): string {
  checkFileKey(key)
  const manifest = parseManifestCid(cid)
  // multibase base64url strings start with the prefix "u"; the fragment carries the bare encoding.
  return `${LINK_SCHEME}${manifest.toString()}#${base64url.baseEncode(key)}`
}

/**
 * Fragment prefix of a repair capability. `=` is not in the base64url alphabet, so a fragment that starts with `r=`
 * can never be a file key.
 */
export const REPAIR_FRAGMENT_PREFIX = 'r='

/** A repair capability: the manifest CID and the file's repair key (no file key). */
export interface RepairLink {
  readonly cid: CID
  readonly repairKey: RepairKey
}

/** What a link grants: `read` (a full link, which also repairs) or `repair` only. */
export type ParsedCapability = ({ readonly kind: 'read' } & SherdLink) | ({ readonly kind: 'repair' } & RepairLink)

/** `sherd://<manifest CID in base32>#r=<repair key in unpadded base64url>`. */
export function formatRepairLink(cid: CID | string, repairKey: RepairKey): string {
  if (!isRepairKey(repairKey))
    throw new InvalidLinkError('formatRepairLink needs a RepairKey (deriveRepairKey(fileKey)), not raw bytes')
  const manifest = parseManifestCid(cid)
  return `${LINK_SCHEME}${manifest.toString()}#${REPAIR_FRAGMENT_PREFIX}${base64url.baseEncode(repairKey.bytes())}`
}

/**
 * Parses a full link or a repair capability. Throws InvalidLinkError saying which part is wrong.
 */
export function parseCapability(link: string): ParsedCapability {
  const { cid, fragment } = splitLink(link)
  if (!fragment.startsWith(REPAIR_FRAGMENT_PREFIX))
    return { kind: 'read', cid, key: decodeKey(fragment, FILE_KEY_BYTES, 'file key') }
  const keyText = fragment.slice(REPAIR_FRAGMENT_PREFIX.length)
  if (keyText.length === 0)
    throw new InvalidLinkError('repair capability has an empty key after "#r="; copy the whole capability')
  return { kind: 'repair', cid, repairKey: RepairKey.fromBytes(decodeKey(keyText, REPAIR_KEY_BYTES, 'repair key')) }
}

/**
 * Parses a full `sherd://` link (the one that reads the file); throws InvalidLinkError saying which part is wrong,
 * and RepairCapabilityError for a repair capability (`#r=…`), which cannot decrypt the file.
 */
export function parseLink(link: string): SherdLink {
  const parsed = parseCapability(link)
  if (parsed.kind === 'repair') {
    throw new RepairCapabilityError(
      'this is a repair capability (sherd://<cid>#r=…): it lets a keeper repair the file but cannot ' +
        'decrypt it; reading the file needs the full link sherd://<cid>#<key> from its owner'
    )
  }
  return { cid: parsed.cid, key: parsed.key }
}

function splitLink(link: string): { cid: CID; fragment: string } {
  if (typeof link !== 'string') throw new InvalidLinkError('a sherd link is a string: sherd://<manifest-cid>#<key>')
  const text = link.trim()
  if (text.length > MAX_LINK_CHARS)
    throw new InvalidLinkError(`link is ${text.length} characters; a sherd link is under ${MAX_LINK_CHARS}`)
  if (!text.startsWith(LINK_SCHEME)) {
    throw new InvalidLinkError(`link must start with "${LINK_SCHEME}" (form: sherd://<manifest-cid>#<key>)`)
  }
  const rest = text.slice(LINK_SCHEME.length)
  const hash = rest.indexOf('#')
  if (hash < 0) {
    throw new InvalidLinkError(
      'link has no "#<key>" part: without the file key the file cannot be decrypted; copy the whole link'
    )
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
  return { cid, fragment: keyText }
}

function decodeKey(text: string, bytes: number, what: string): Uint8Array {
  let key: Uint8Array
  try {
    key = base64url.baseDecode(text)
  } catch (err) {
    throw new InvalidLinkError(
      `link's ${what} is not unpadded base64url (A-Z a-z 0-9 - _); the link was cut or altered`,
      { cause: err }
    )
  }
  if (key.length !== bytes) {
    throw new InvalidLinkError(
      `link's ${what} is ${key.length} bytes; a ${what} is ${bytes} (43 base64url characters), ` +
        'the link was cut or altered'
    )
  }
  return key
}
