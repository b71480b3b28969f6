/** Stream protocol ids. The version moves when a message format changes incompatibly. */
/** 2.0.0: the request names no deal or offer (the offer is signed after the store). */
export const STORE_SHARD_PROTOCOL = '/sherd/store-shard/2.0.0'
export const FETCH_SHARD_PROTOCOL = '/sherd/fetch-shard/1.0.0'
export const STORE_MANIFEST_PROTOCOL = '/sherd/store-manifest/1.0.0'
export const FETCH_MANIFEST_PROTOCOL = '/sherd/fetch-manifest/1.0.0'
/** 2.0.0: asked after the store, answered with a ProofSetMarket offer for the stored shard (no maxPeriods). */
export const OFFER_PROTOCOL = '/sherd/offer/2.0.0'
/** A provider answers with the newest signed announcements it has heard (its own included), so a client need not wait for the next round. */
export const ANNOUNCEMENTS_PROTOCOL = '/sherd/announcements/1.0.0'

/** Gossipsub topic on which providers announce themselves. */
export const ANNOUNCE_TOPIC = 'sherd/announce/1'

/** Control frames (headers, receipts, errors, offers) are a few hundred bytes; 16 KiB leaves room and caps abuse. */
export const MAX_CONTROL_FRAME_BYTES = 16 * 1024
/** An announcement carries at most MAX_ANNOUNCED_ADDRS addresses; 8 KiB holds that with margin. */
export const MAX_ANNOUNCEMENT_BYTES = 8 * 1024
/** Announcements in one `announcements` answer: the freshest this many; a larger network's others arrive by gossip. */
export const MAX_RELAYED_ANNOUNCEMENTS = 64
/** The `announcements` answer is one frame: its announcements and a little CBOR around each. */
export const MAX_ANNOUNCEMENTS_FRAME_BYTES = MAX_RELAYED_ANNOUNCEMENTS * (MAX_ANNOUNCEMENT_BYTES + 16) + 64
/** The manifest format owns its bound; the wire holds a manifest in memory while its CID is checked. */
export { MAX_MANIFEST_BYTES } from '../manifest.js'
/** A CID with a 64-byte digest is < 80 bytes; 128 covers any multihash we would accept. */
export const MAX_CID_BYTES = 128
/** Multiaddrs in an announcement: a host rarely listens on more than a handful. */
export const MAX_ANNOUNCED_ADDRS = 16
/** A multiaddr string longer than this is not one a client could dial. */
export const MAX_MULTIADDR_CHARS = 256
/** Error messages are for humans; longer ones are truncated by the sender and refused by the reader. */
export const MAX_ERROR_MESSAGE_CHARS = 1024
/** Short identifier strings (error names, peer ids, decimal uint256 amounts). */
export const MAX_SHORT_STRING_CHARS = 128
/** Offer terms are uint32 periods on chain. */
export const MAX_OFFER_PERIODS = 2 ** 32 - 1
/** Unsigned varint length prefixes longer than this cannot encode a length we would accept. */
export const MAX_VARINT_BYTES = 5
/** Bytes read off a stream but not yet consumed before the reader pauses the remote (yamux flow control). */
export const READ_HIGH_WATER_BYTES = 4 * 1024 * 1024
/** An Ethereum signature: r ‖ s ‖ v. */
export const SIGNATURE_BYTES = 65
/** Merkle roots (shard commitments) and offer hashes. */
export const HASH_BYTES = 32
/**
 * yamux receive window that both ends of a Sherd connection assume a new stream starts with, in place of the yamux
 * spec's 256 KiB. A 1 MiB shard piece (with its `ok` frame) then crosses as one yamux frame with no window update
 * waited for; at 256 KiB each fetch stream ramped up over several round trips and several frames, each its own noise
 * message and window update. Both ends must use the same value: a sender assumes the receiver's initial window, so a
 * peer on yamux's default that fetches more than 256 KiB from a provider gets a receive-window error
 * (docs/protocol.md, "Connections"). Every yamux receive window on Sherd's hosts is at least this.
 */
export const YAMUX_INITIAL_STREAM_WINDOW_BYTES = 2 * 1024 * 1024
