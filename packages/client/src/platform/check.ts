// Compile-time only: the browser's `#platform` offers what the Node one does, with the same types.
import type * as NodePlatform from './node.js'
import type * as BrowserPlatform from './browser.js'

type SameExports = { [K in keyof typeof NodePlatform]: K extends 'PLATFORM_NAME' ? string : (typeof NodePlatform)[K] }
export type BrowserPlatformMatches = typeof BrowserPlatform extends SameExports ? true : never
export const browserPlatformMatches: BrowserPlatformMatches = true
