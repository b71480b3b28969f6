import { fileURLToPath } from 'node:url'
import { defaultServerConditions } from 'vite'
import { defineConfig } from 'vitest/config'

const packages = ['proofs', 'erasure', 'protocol', 'contracts', 'node', 'client', 'devnet', 'test-support']

// Tests run from source: every @sherd/<name> import resolves to packages/<name>/src/index.ts, and a package's
// `#…` imports (package.json "imports", one module per environment) and subpath exports (`@sherd/protocol/noise-node`)
// to src/ through their `source` condition.
export default defineConfig({
  ssr: { resolve: { conditions: ['source', ...defaultServerConditions] } },
  resolve: {
    conditions: ['source', ...defaultServerConditions],
    alias: [
      ...packages.map((name) => ({
        find: new RegExp(`^@sherd/${name}$`),
        replacement: fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url))
      })),
      {
        find: '@sherd/example-web',
        replacement: fileURLToPath(new URL('./examples/web/src/index.ts', import.meta.url))
      }
    ]
  },
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'packages/*/src/**/*.test.ts',
      'bench/test/**/*.test.ts',
      'test/**/*.test.ts'
    ],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
