// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MerkleVerifier
/// @notice Challenge derivation and proof verification for Sherd's binary SHA-256 Merkle trees
///         (docs/contracts.md, "Proof format"; the reference implementation is the proofs package).
/// @dev Leaf hash = sha256(0x00 ‖ leaf[64]); node = sha256(0x01 ‖ left ‖ right). An audit proof is `count`
///      challenge items back to back, item j = leaf (64 bytes) ‖ `depth` siblings (32 bytes each, bottom up).
///      Leaf indices are derived, never sent: index j = uint256(keccak256(abi.encode(seed, j))) % leafCount.
///      Hashing goes through the SHA-256 precompile (address 0x02) in scratch memory above the free pointer,
///      never allocated, so the cost is flat in the number of challenges (docs/contracts.md, "Gas").
library MerkleVerifier {
    /// @dev Bytes of one challenge item in a proof: the leaf plus `depth` sibling hashes.
    function itemLength(uint256 depth) internal pure returns (uint256) {
        return 64 + 32 * depth;
    }

    /// @dev The j-th challenged leaf index for `seed` over `leafCount` leaves.
    function challengeIndex(bytes32 seed, uint256 j, uint256 leafCount) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, j))) % leafCount;
    }

    /// @dev sha256(0x00 ‖ leaf), the proofs package's leaf hash of a 64-byte leaf.
    function leafHash(bytes calldata leaf) internal view returns (bytes32 h) {
        assembly ("memory-safe") {
            let buf := mload(0x40)
            mstore8(buf, 0x00)
            calldatacopy(add(buf, 1), leaf.offset, 64)
            if iszero(staticcall(gas(), 0x02, buf, 65, buf, 32)) { revert(0, 0) }
            h := mload(buf)
        }
    }

    /// @dev Hashes `h` up a Merkle path: `siblings` bottom up (32 bytes each), bit j of `index` set ⇔ the running
    ///      hash is the right child at level j.
    function climb(bytes32 h, bytes calldata siblings, uint256 index) internal view returns (bytes32) {
        assembly ("memory-safe") {
            let buf := mload(0x40)
            let ok := 1
            let end := add(siblings.offset, siblings.length)
            for { let sib := siblings.offset } lt(sib, end) { sib := add(sib, 32) } {
                mstore8(buf, 0x01)
                switch and(index, 1)
                case 0 {
                    mstore(add(buf, 1), h)
                    calldatacopy(add(buf, 33), sib, 32)
                }
                default {
                    calldatacopy(add(buf, 1), sib, 32)
                    mstore(add(buf, 33), h)
                }
                ok := and(ok, staticcall(gas(), 0x02, buf, 65, add(buf, 96), 32))
                h := mload(add(buf, 96))
                index := shr(1, index)
            }
            if iszero(ok) { revert(0, 0) }
        }
        return h;
    }

    /// @dev The proofs package's node hash: sha256(0x01 ‖ left ‖ right).
    function nodeHash(bytes32 left, bytes32 right) internal view returns (bytes32 h) {
        assembly ("memory-safe") {
            let buf := mload(0x40)
            mstore8(buf, 0x01)
            mstore(add(buf, 1), left)
            mstore(add(buf, 33), right)
            if iszero(staticcall(gas(), 0x02, buf, 65, buf, 32)) { revert(0, 0) }
            h := mload(buf)
        }
    }

    /// @dev log2 of the leaf count rounded up to a power of two (1 leaf → depth 0).
    function depthOf(uint256 leafCount) internal pure returns (uint256 depth) {
        while ((uint256(1) << depth) < leafCount) depth++;
    }
}
