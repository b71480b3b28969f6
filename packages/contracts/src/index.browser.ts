// The browser entry (package.json "browser" condition): no anvil, ports, deployment files or gas table, which need Node.
export * from './common.js'
