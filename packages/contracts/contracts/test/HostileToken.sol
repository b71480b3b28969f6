// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title HostileToken
/// @notice Test-only ERC-20 that calls `onTokenTransfer()` on any recipient that asked for it, so a test can
///         re-enter the market in the middle of a token transfer.
contract HostileToken is ERC20 {
    mapping(address => bool) public hooked;

    constructor() ERC20("Hostile", "HOST") {}

    /// @notice Mints freely (test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Makes transfers to the caller invoke its `onTokenTransfer()`.
    function setHooked(bool on) external {
        hooked[msg.sender] = on;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (hooked[to]) TokenReceiver(to).onTokenTransfer();
    }
}

interface TokenReceiver {
    function onTokenTransfer() external;
}
