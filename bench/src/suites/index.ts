import type { Suite } from '../harness.js'
import { aesSuite } from './aes.js'
import { browserSuite } from './browser.js'
import { durabilitySuite } from './durability.js'
import { erasureSuite } from './erasure.js'
import { gasSuite } from './gas.js'
import { leafSuite } from './leaf.js'
import { merkleSuite } from './merkle.js'
import { noiseSuite } from './noise.js'
import { pipelineSuite } from './pipeline.js'
import { provingSuite } from './proving.js'
import { proverSuite } from './prover.js'
import { systemSuite } from './system.js'

/** Every suite `npm run bench` knows; add yours with one line. Order is run order. */
export const suites: Suite[] = [
  merkleSuite,
  leafSuite,
  erasureSuite,
  aesSuite,
  noiseSuite,
  gasSuite,
  proverSuite,
  pipelineSuite,
  provingSuite,
  systemSuite,
  browserSuite,
  durabilitySuite
]
