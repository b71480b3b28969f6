/**
 * Self time of a page's CPU profile by stage: each sample's function is mapped through the bundle's source map to
 * the module it came from, and the module to a stage of the get (noise's ChaCha20-Poly1305, yamux, the WebSocket
 * transport, …). A builtin without a source (WebCrypto's `decrypt`, `WebSocket.send`) counts for the stage that
 * called it. Shares are of the profile's wall time, idle included: a page whose thread is idle most of the get is
 * waiting for bytes, not limited by its own work.
 */
import { originalPositionFor, TraceMap } from '@jridgewell/trace-mapping'
import type { CpuProfile } from './page-driver.js'

/** First match wins: a stage and a test on the module's source path. */
const STAGES: Array<[string, RegExp]> = [
  ['ChaCha20-Poly1305 (noise, @noble/ciphers)', /@noble\/ciphers\//],
  ['noise framing', /libp2p-noise\//],
  ['yamux', /libp2p-yamux\//],
  ['WebSocket transport (@libp2p/websockets)', /@libp2p\/websockets\//],
  ['byte lists (uint8arraylist concat/subarray)', /uint8arraylist\/|uint8arrays\//],
  ['libp2p streams and events', /@libp2p\/|main-event\/|it-[a-z-]+\/|p-queue\/|weald\//],
  ['Sherd wire framing (@sherd/protocol)', /packages\/protocol\//],
  ['AES-GCM decrypt (WebCrypto) and chunk opening', /chunk-cipher|pipeline\/cipher/],
  ['Merkle hashing (@sherd/proofs, hash workers)', /packages\/proofs\/|hash-pool|hashing\./],
  ['decode (erasure, stripes)', /packages\/erasure\/|pipeline\//],
  ['SDK get (client)', /packages\/client\//]
]
/** Profiler pseudo-frames. `(program)` is the engine's native work outside JavaScript (event loop, IPC, GC scheduling). */
const PSEUDO: Record<string, string> = {
  '(idle)': 'idle (waiting for bytes)',
  '(program)': 'native, outside JavaScript (Chromium: IPC, WebSocket receive, event loop)',
  '(garbage collector)': 'garbage collection',
  '(root)': 'other JavaScript'
}

export interface StageShare {
  stage: string
  ms: number
  /** Fraction of the profile's wall time. */
  share: number
}

/** The bundle's inline source map (esbuild `sourcemap: 'inline'`), or undefined. */
export function inlineSourceMap(bundle: string): TraceMap | undefined {
  const m = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(bundle)
  return m === null ? undefined : new TraceMap(Buffer.from(m[1]!, 'base64').toString('utf8'))
}

export function stageShares(profile: CpuProfile, map: TraceMap | undefined): StageShare[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const stageOf = new Map<number, string>()
  const classify = (id: number): string => {
    const known = stageOf.get(id)
    if (known !== undefined) return known
    const { functionName, url, lineNumber, columnNumber } = byId.get(id)!.callFrame
    let stage: string
    if (PSEUDO[functionName] !== undefined) stage = PSEUDO[functionName]
    else if (url === '') {
      const up = parent.get(id)
      stage = up === undefined ? 'other JavaScript' : classify(up)
    } else {
      const source =
        map === undefined
          ? url
          : (originalPositionFor(map, { line: lineNumber + 1, column: columnNumber }).source ?? url)
      stage = STAGES.find(([, test]) => test.test(source))?.[0] ?? 'other JavaScript'
    }
    stageOf.set(id, stage)
    return stage
  }
  const us = new Map<string, number>()
  // timeDeltas[i] is the gap before sample i; the time a sample stands for is the gap after it.
  for (let i = 0; i < profile.samples.length; i++) {
    const stage = classify(profile.samples[i]!)
    us.set(stage, (us.get(stage) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
  }
  const wallUs = profile.endTime - profile.startTime
  return [...us].map(([stage, t]) => ({ stage, ms: t / 1000, share: t / wallUs })).sort((a, b) => b.ms - a.ms)
}
