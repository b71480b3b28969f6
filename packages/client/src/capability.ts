import { formatLink, formatRepairLink, isRepairKey, parseCapability, parseManifestCid } from '@sherd/protocol'
import type { Manifest, ManifestKey, RepairKey } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import type { ClientContext } from './context.js'
import { fetchFileManifest } from './actions/manifest.js'
import type { FileTarget, GetOptions } from './actions/get.js'

/**
 * A file to look after without reading it: a full link or file target (which also reads), a repair capability
 * `sherd://<cid>#r=<repair key>`, or its CID and RepairKey. Accepted by `stat`, `repair` and `extend`; `get` takes a
 * `FileTarget` only, so a repair capability cannot reach the code that decrypts segments.
 */
export type RepairTarget = FileTarget | { cid: CID | string; repairKey: RepairKey }

/** The manifest CID and the key that opens the manifest (a file key or a repair key). */
export function parseRepairTarget(target: RepairTarget): { cid: CID; manifestKey: ManifestKey } {
  if (typeof target === 'string') {
    const parsed = parseCapability(target)
    return { cid: parsed.cid, manifestKey: parsed.kind === 'read' ? parsed.key : parsed.repairKey }
  }
  if ('repairKey' in target) return { cid: parseManifestCid(target.cid), manifestKey: target.repairKey }
  return { cid: parseManifestCid(target.cid), manifestKey: target.key }
}

/** The link of the same kind as the key: a full link for a file key, a repair capability for a repair key. */
export function linkFor(cid: CID | string, manifestKey: ManifestKey): string {
  return isRepairKey(manifestKey) ? formatRepairLink(cid, manifestKey) : formatLink(cid, manifestKey)
}

/** Reads and opens a file's manifest with whichever key the target carries. */
export async function getRepairableManifest(
  ctx: ClientContext,
  target: RepairTarget,
  options: Pick<GetOptions, 'signal' | 'manifestProviders'> = {}
): Promise<{ manifest: Manifest; cid: CID; manifestKey: ManifestKey }> {
  const { cid, manifestKey } = parseRepairTarget(target)
  const { manifest } = await fetchFileManifest(ctx, cid, manifestKey, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.manifestProviders === undefined ? {} : { prefer: options.manifestProviders })
  })
  return { manifest, cid, manifestKey }
}
