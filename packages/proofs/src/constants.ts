/** Bytes of shard data per leaf: small leaves keep a challenge cheap on chain (~40 gas per calldata byte). */
export const LEAF_SIZE = 64

/** Bytes of a SHA-256 digest, and so of every tree node. */
export const HASH_SIZE = 32

/**
 * Bytes of shard data under one stored chunk root: a provider keeps 32 bytes per 64 KiB (0.05 % of the shard)
 * and re-reads one 64 KiB chunk (1024 leaves, ~2000 hashes) to answer a challenge.
 */
export const DEFAULT_CHUNK_SIZE = 65536

/** Domain-separation prefixes: a leaf hash never passes for a node hash. */
export const LEAF_PREFIX = 0x00
export const NODE_PREFIX = 0x01

/** Most challenges derived in one call: the protocol default is 10; this only bounds a caller's mistake. */
export const MAX_CHALLENGES = 65536
