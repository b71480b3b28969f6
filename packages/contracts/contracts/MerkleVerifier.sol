// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MerkleVerifier
/// @notice Challenge derivation and proof verification for Sherd's binary SHA-256 Merkle trees
///         (docs/contracts.md, "Proof format"; the reference implementation is the proofs package).
/// @dev Leaf hash = sha256(0x00 ‖ leaf[64]); node = sha256(0x01 ‖ left ‖ right). A proof for one deal is
///      `count` challenge items back to back, item j = leaf (64 bytes) ‖ `depth` siblings (32 bytes each, bottom
///      up). Leaf indices are derived, never sent: index j = uint256(keccak256(abi.encode(seed, j))) % leafCount.
///      Hashing goes through the SHA-256 precompile (address 0x02) in scratch memory that is reused, so the cost is
///      flat in the number of challenges and stays under the EIP-7623 calldata floor (docs/contracts.md, "Gas").
library MerkleVerifier {
    /// @dev Bytes of one challenge item in a proof: the leaf plus `depth` sibling hashes.
    function itemLength(uint256 depth) internal pure returns (uint256) {
        return 64 + 32 * depth;
    }

    /// @dev The j-th challenged leaf index for `seed` over `leafCount` leaves.
    function challengeIndex(bytes32 seed, uint256 j, uint256 leafCount) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, j))) % leafCount;
    }

    /// @dev Checks every challenge item of `proof` against `root`. Returns `count` when all pass, otherwise the
    ///      number of the first item that fails. The caller has already checked the exact proof length.
    function verify(bytes calldata proof, bytes32 root, uint256 depth, uint256 leafCount, bytes32 seed, uint256 count)
        internal
        view
        returns (uint256 failed)
    {
        assembly ("memory-safe") {
            // Scratch: [buf, buf+65) is the hash input (prefix byte + 64 bytes), [buf+96, buf+128) the output.
            let buf := mload(0x40)
            let itemLen := add(64, shl(5, depth))
            let item := proof.offset
            failed := count
            for { let j := 0 } lt(j, count) { j := add(j, 1) } {
                // index = uint256(keccak256(abi.encode(seed, j))) % leafCount
                mstore(0x00, seed)
                mstore(0x20, j)
                let index := mod(keccak256(0x00, 0x40), leafCount)
                // leaf hash = sha256(0x00 ‖ leaf)
                mstore8(buf, 0x00)
                calldatacopy(add(buf, 1), item, 64)
                let ok := staticcall(gas(), 0x02, buf, 65, add(buf, 96), 32)
                let h := mload(add(buf, 96))
                let sib := add(item, 64)
                for { let level := 0 } lt(level, depth) { level := add(level, 1) } {
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
                    sib := add(sib, 32)
                }
                if or(iszero(ok), iszero(eq(h, root))) {
                    failed := j
                    break
                }
                item := add(item, itemLen)
            }
        }
    }

    /// @dev log2 of the leaf count rounded up to a power of two (1 leaf → depth 0).
    function depthOf(uint256 leafCount) internal pure returns (uint256 depth) {
        while ((uint256(1) << depth) < leafCount) depth++;
    }
}
