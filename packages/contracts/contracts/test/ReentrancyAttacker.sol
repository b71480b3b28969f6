// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProofSetMarket} from "../ProofSetMarket.sol";
import {HostileToken} from "./HostileToken.sol";

/// @title ReentrancyAttacker
/// @notice Test-only provider that stakes, frees its stake and, when paid, tries to withdraw again from inside
///         the transfer.
contract ReentrancyAttacker {
    ProofSetMarket public immutable market;
    HostileToken public immutable token;
    /// @notice When true, a failed re-entry is swallowed so the outer withdrawal can complete.
    bool public swallow;
    uint256 public reentries;

    constructor(ProofSetMarket market_, HostileToken token_) {
        market = market_;
        token = token_;
        token_.approve(address(market_), type(uint256).max);
    }

    function register(uint256 stake, string calldata peerId) external {
        market.register(stake, 0, peerId);
    }

    function removeStake(uint256 amount) external {
        market.removeStake(amount);
    }

    function attack(bool swallow_) external {
        swallow = swallow_;
        token.setHooked(true);
        market.withdraw();
        token.setHooked(false);
    }

    function onTokenTransfer() external {
        if (msg.sender != address(token)) return;
        reentries += 1;
        if (swallow) {
            try market.withdraw() {} catch {}
        } else {
            market.withdraw();
        }
    }
}
