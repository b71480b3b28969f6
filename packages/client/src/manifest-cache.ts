/**
 * Sealed manifests kept on this machine, by manifest CID. A copy is what providers hold (encrypted under the file
 * key, which the cache never sees), and every read is checked against its CID like a provider's answer, so a
 * damaged or planted entry is ignored, never trusted.
 */
export interface ManifestCache {
  read: (cid: string) => Promise<Uint8Array | undefined>
  write: (cid: string, sealed: Uint8Array) => Promise<void>
}

// One file per manifest in a directory (Node), one localStorage key per manifest (browser): `#platform`.
export { directoryManifestCache } from '#platform'
