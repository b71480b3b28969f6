/**
 * The two bulk operations every tree in this package is built from. The pure-TypeScript reference and the WASM
 * kernel both implement them; the tree code above them is shared, so the two paths differ only in hashing.
 *
 * `data` is shard bytes; its leaves are `ceil(len / 64)` (at least 1), the last one zero-padded.
 */
export interface TreeHasher {
  /**
   * Every level of the tree over `data`, `width` leaves wide (a power of two ≥ the leaf count), level-major,
   * leaf hashes first: `(2·width − 1) · 32` bytes. Leaf-hash slots past the data are 32 zero bytes.
   */
  levels: (data: Uint8Array, width: number) => Uint8Array
  /**
   * Roots of consecutive subtrees of `subtreeWidth` leaves (a power of two) over `data`:
   * `ceil(leafCount / subtreeWidth) · 32` bytes. The last subtree is padded like the whole tree.
   */
  subtreeRoots: (data: Uint8Array, subtreeWidth: number) => Uint8Array
  /**
   * Every level of a tree `width` nodes wide whose bottom level is `nodes` (32 bytes each) at tree level
   * `baseLevel`, level-major: `(2·width − 1) · 32` bytes. Slots past the given nodes are roots of padding
   * subtrees of height `baseLevel`. The part of a chunk tree above its chunk roots.
   */
  upperLevels: (nodes: Uint8Array, width: number, baseLevel: number) => Uint8Array
}
