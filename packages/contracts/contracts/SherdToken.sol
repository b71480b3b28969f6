// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title SherdToken
/// @notice A plain ERC-20 for the local network. The market works with any ERC-20; this one only adds minting by
///         its deployer so a devnet can fund clients and providers.
contract SherdToken is ERC20, Ownable {
    /// @notice Deploys the token; the deployer may mint.
    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) Ownable(msg.sender) {}

    /// @notice Mints `amount` to `to`. Only the deployer may mint.
    /// @param to Recipient.
    /// @param amount Amount in the token's smallest unit.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
