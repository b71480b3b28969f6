// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MerkleVerifier} from "../MerkleVerifier.sol";

/// @title LeafSizeVerifier (test only)
/// @notice ProofSetMarket's answer to a period's challenges (`prove` → `_answer`) with a leaf of `leafSize` bytes
///         instead of 64, for the leaf-size study (docs/proofs.md, "Leaf size: measured trade-off"). Not a format:
///         nothing but packages/contracts/test/leaf-size-gas.test.ts deploys it.
/// @dev Kept as the market does it, so that only the leaf size differs: the same calldata (prove(uint256, uint256,
///      bytes) with, per challenge, uint32 hint ‖ uint32 slot ‖ leaf ‖ the deal's siblings ‖ the slot's siblings),
///      the same challenge rule over the weight, one cold storage read per challenge for the hinted deal, the
///      leaf hash sha256(0x00 ‖ leaf), the deal path, the super-leaf binding nodeHash(dealId, dealRoot), the slot's
///      path and one comparison with the super-root. The provider's deals are `deals` equal deals of `2^dealDepth`
///      leaves laid end to end, deal id = slot; the seed is keccak256(period) instead of a stored block hash.
contract LeafSizeVerifier {
    error HintOutOfRange(uint256 challenge, uint256 dealId, uint256 index);
    error InvalidProof(uint256 challenge, uint256 dealId);
    error BadProofLength(uint256 expected, uint256 actual);

    uint256 public immutable leafSize;
    uint256 public immutable dealDepth;
    uint256 public immutable deals;
    uint256 public immutable superDepth;
    bytes32 public immutable superRoot;
    /// @dev Stands for the market's deal slot 0 (range start, leaf count): each challenge names another deal, so
    ///      each read is cold, as there. Never written: its zero is folded into the checks so it is not optimized out.
    mapping(uint256 => uint256) private _dealWord;
    uint256 public provenPeriods;

    constructor(uint256 leafSize_, uint256 dealDepth_, uint256 deals_, uint256 superDepth_, bytes32 superRoot_) {
        leafSize = leafSize_;
        dealDepth = dealDepth_;
        deals = deals_;
        superDepth = superDepth_;
        superRoot = superRoot_;
    }

    /// @notice Answers `k` challenges of `period`; the proof must be exactly their items.
    function prove(uint256 period, uint256 k, bytes calldata proof) external {
        uint256 dealLeaves = 1 << dealDepth;
        uint256 weight = deals * dealLeaves;
        bytes32 seed = keccak256(abi.encode(period));
        uint256 pos;
        for (uint256 i = 0; i < k; i++) {
            uint256 idx = uint256(keccak256(abi.encode(seed, msg.sender, i))) % weight;
            if (pos + 8 > proof.length) revert BadProofLength(pos + 8, proof.length);
            uint256 dealId = uint32(bytes4(proof[pos:pos + 4]));
            uint256 start = dealId * dealLeaves + _dealWord[dealId];
            if (dealId >= deals || idx < start || idx >= start + dealLeaves) revert HintOutOfRange(i, dealId, idx);
            uint256 slot = uint32(bytes4(proof[pos + 4:pos + 8]));
            uint256 leafAt = pos + 8;
            uint256 superAt = leafAt + leafSize + 32 * dealDepth;
            uint256 next = superAt + 32 * superDepth;
            if (next > proof.length) revert BadProofLength(next, proof.length);
            bytes32 h = MerkleVerifier.climb(_leafHash(proof[leafAt:leafAt + leafSize]), proof[leafAt + leafSize:superAt], idx - start);
            h = MerkleVerifier.climb(MerkleVerifier.nodeHash(bytes32(dealId), h), proof[superAt:next], slot);
            if (slot != dealId || h != superRoot) revert InvalidProof(i, dealId);
            pos = next;
        }
        if (pos != proof.length) revert BadProofLength(pos, proof.length);
        provenPeriods++;
    }

    /// @dev sha256(0x00 ‖ leaf) for a leaf of any length, in scratch memory above the free pointer.
    function _leafHash(bytes calldata leaf) private view returns (bytes32 h) {
        assembly ("memory-safe") {
            let buf := mload(0x40)
            mstore8(buf, 0x00)
            calldatacopy(add(buf, 1), leaf.offset, leaf.length)
            if iszero(staticcall(gas(), 0x02, buf, add(leaf.length, 1), buf, 32)) { revert(0, 0) }
            h := mload(buf)
        }
    }
}
