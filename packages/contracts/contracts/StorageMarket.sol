// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MerkleVerifier} from "./MerkleVerifier.sol";

/// @title StorageMarket
/// @notice Settlement for Sherd storage deals in any ERC-20: a provider registry with stake, deals opened from a
///         provider's EIP-712 offer with the client's escrow, per-period Merkle storage proofs verified on chain,
///         pull payments, and slashing of missed periods. Lifecycle and parameters: docs/contracts.md.
/// @dev Time is cut into proving periods of `periodBlocks` blocks counted from the deployment block. Period p opens at
///      block genesisBlock + p·P; its challenge block is `challengeDelayBlocks` later; proofs for p are accepted in
///      the blocks strictly after the challenge block and before the next period opens. Because P ≤ 256, the
///      challenge block's hash is always readable while proofs for its period are accepted.
contract StorageMarket is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    // ---------------------------------------------------------------- types

    /// @notice Market parameters, fixed at deployment.
    struct Params {
        /// Blocks per proving period (2..256: the challenge block's hash must stay readable all period).
        uint64 periodBlocks;
        /// Blocks from a period's first block to its challenge block (≤ periodBlocks - 2).
        uint64 challengeDelayBlocks;
        /// Blocks after opening within which the provider must activate a deal (1..256).
        uint64 activationBlocks;
        /// Leaves challenged per deal per period (1..64).
        uint8 challengeCount;
        /// Missed periods after which a deal fails (≥ 1).
        uint8 maxMissedPeriods;
        /// Provider collateral locked per deal, in basis points of the deal's escrow.
        uint16 collateralBps;
        /// Slash per missed period, in basis points of the deal's collateral.
        uint16 slashBps;
        /// Share of each slash paid to whoever marked the period, in basis points; the rest is burned.
        uint16 reporterBps;
    }

    /// @notice A provider's signed terms for one deal (EIP-712 type `Offer`).
    struct Offer {
        address provider;
        address client;
        bytes32 root;
        uint64 size;
        uint256 pricePerPeriod;
        uint32 periods;
        uint32 maxPeriods;
        uint256 nonce;
        uint64 expiry;
    }

    enum DealState {
        None,
        Pending,
        Active,
        Ended,
        Failed,
        Expired
    }

    enum PeriodStatus {
        Open,
        Proven,
        Missed
    }

    struct Provider {
        uint256 stake;
        uint256 lockedStake;
        uint256 pricePerMiB;
        uint64 capacity;
        uint64 usedBytes;
        uint32 openDeals;
        bool registered;
        string peerId;
    }

    /// @notice A provider as returned by the registry views.
    struct ProviderInfo {
        address account;
        uint256 stake;
        uint256 lockedStake;
        uint256 pricePerMiB;
        uint64 capacity;
        uint64 usedBytes;
        uint32 openDeals;
        string peerId;
    }

    struct Deal {
        address client;
        uint64 openedBlock;
        DealState state;
        uint8 depth;
        address provider;
        uint64 startPeriod;
        uint32 periods;
        bytes32 root;
        uint64 size;
        uint64 leafCount;
        uint32 provenPeriods;
        uint32 missedPeriods;
        uint32 maxPeriods;
        uint128 pricePerPeriod;
        uint128 escrow;
        uint128 collateral;
        uint128 slashed;
    }

    // ---------------------------------------------------------------- errors

    error InvalidParams(string reason);
    error AlreadyRegistered(address provider);
    error NotRegistered(address provider);
    error InvalidPeerId(uint256 length);
    error ProviderHasOpenDeals(address provider, uint256 openDeals);
    error UnsupportedToken(uint256 expected, uint256 received);
    error NotClient(uint256 dealId, address caller);
    error NotProvider(uint256 dealId, address caller);
    error OfferExpired(uint64 expiry, uint256 timestamp);
    error NonceUsed(address provider, uint256 nonce);
    error InvalidSignature(address provider);
    error InvalidOffer(string reason);
    error InsufficientCapacity(address provider, uint256 needed, uint256 free);
    error InsufficientStake(address provider, uint256 needed, uint256 free);
    error UnknownDeal(uint256 dealId);
    error WrongDealState(uint256 dealId, DealState state);
    error ActivationDeadlinePassed(uint256 dealId, uint256 deadlineBlock);
    error ActivationPending(uint256 dealId, uint256 deadlineBlock);
    error ProofWindowClosed(uint256 period, uint256 firstBlock, uint256 lastBlock);
    error PeriodOutsideDeal(uint256 dealId, uint256 period);
    error PeriodAlreadyProven(uint256 dealId, uint256 period);
    error PeriodAlreadyMissed(uint256 dealId, uint256 period);
    error PeriodNotClosed(uint256 dealId, uint256 period, uint256 closesAtBlock);
    error BadProofLength(uint256 dealId, uint256 expected, uint256 actual);
    error InvalidProof(uint256 dealId, uint256 challenge);
    error BatchLengthMismatch(uint256 dealIds, uint256 proofs);
    error DealNotOver(uint256 dealId, uint256 endsAtBlock);
    error ExtensionTooLong(uint256 dealId, uint256 requested, uint256 maxPeriods);
    error NothingToWithdraw(address account);
    error SeedUnavailable(uint256 blockNumber);

    // ---------------------------------------------------------------- events

    event ProviderRegistered(
        address indexed provider, uint256 stake, uint256 pricePerMiB, uint64 capacity, string peerId
    );
    event ProviderUpdated(address indexed provider, uint256 pricePerMiB, uint64 capacity, string peerId);
    event StakeAdded(address indexed provider, uint256 amount, uint256 stake);
    event ProviderExited(address indexed provider, uint256 stakeReturned);
    event OfferCancelled(address indexed provider, uint256 indexed nonce);
    event DealOpened(
        uint256 indexed dealId,
        address indexed provider,
        address indexed client,
        bytes32 root,
        uint64 size,
        uint256 pricePerPeriod,
        uint32 periods,
        uint256 collateral
    );
    event DealActivated(uint256 indexed dealId, address indexed provider, uint64 startPeriod, uint64 endPeriod);
    event DealExpired(uint256 indexed dealId, address indexed client, uint256 refund);
    event DealExtended(uint256 indexed dealId, address indexed client, uint32 addedPeriods, uint32 periods);
    event PeriodProven(uint256 indexed dealId, uint256 indexed period, address indexed provider, uint256 payment);
    event PeriodMissed(
        uint256 indexed dealId, uint256 indexed period, address indexed reporter, uint256 slashed, uint256 reward
    );
    event DealFailed(uint256 indexed dealId, address indexed client, address indexed provider, uint256 refund);
    event DealEnded(
        uint256 indexed dealId,
        address indexed client,
        address indexed provider,
        uint32 provenPeriods,
        uint32 missedPeriods,
        uint256 refund
    );
    event Withdrawn(address indexed account, uint256 amount);

    // ---------------------------------------------------------------- constants and state

    /// @dev Slashed tokens that are not a reporter's reward go here: any ERC-20 can send to it, nobody can spend.
    address public constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;
    /// @dev Stands in for the period number in the activation seed, so it never equals a proving period's seed.
    uint256 public constant ACTIVATION_PERIOD = type(uint256).max;
    /// @dev Deals up to 2^40 bytes (1 TiB, depth 34) — far above a shard, small enough to bound proof sizes.
    uint64 public constant MAX_DEAL_SIZE = 1 << 40;
    uint256 private constant MAX_PEER_ID_BYTES = 128;
    uint256 private constant BPS = 10_000;

    bytes32 public constant OFFER_TYPEHASH = keccak256(
        "Offer(address provider,address client,bytes32 root,uint64 size,uint256 pricePerPeriod,uint32 periods,uint32 maxPeriods,uint256 nonce,uint64 expiry)"
    );

    IERC20 public immutable token;
    uint256 public immutable genesisBlock;
    uint256 public immutable periodBlocks;
    uint256 public immutable challengeDelayBlocks;
    uint256 public immutable activationBlocks;
    uint256 public immutable challengeCount;
    uint256 public immutable maxMissedPeriods;
    uint256 public immutable collateralBps;
    uint256 public immutable slashBps;
    uint256 public immutable reporterBps;

    uint256 public dealCount;
    mapping(uint256 dealId => Deal) private _deals;
    mapping(address provider => Provider) private _providers;
    address[] private _providerList;
    mapping(address provider => uint256 indexPlusOne) private _providerIndex;
    mapping(address provider => mapping(uint256 nonce => bool)) public nonceUsed;
    /// @notice Tokens each account can withdraw: provider earnings, reporter rewards, client refunds, exited stake.
    mapping(address account => uint256) public withdrawable;
    // One bit per (deal, period); 256 periods per word.
    mapping(uint256 dealId => mapping(uint256 word => uint256)) private _provenBits;
    mapping(uint256 dealId => mapping(uint256 word => uint256)) private _missedBits;

    /// @notice Deploys a market for `token_` with `config` (see docs/contracts.md for the defaults).
    /// @param token_ The ERC-20 used for escrow, stake and payment.
    /// @param config Market parameters.
    constructor(IERC20 token_, Params memory config) EIP712("Sherd StorageMarket", "1") {
        if (address(token_) == address(0)) revert InvalidParams("token is the zero address");
        if (config.periodBlocks < 2 || config.periodBlocks > 256) revert InvalidParams("periodBlocks not in 2..256");
        if (config.challengeDelayBlocks + 2 > config.periodBlocks) {
            revert InvalidParams("challengeDelayBlocks > periodBlocks - 2");
        }
        if (config.activationBlocks < 1 || config.activationBlocks > 256) {
            revert InvalidParams("activationBlocks not in 1..256");
        }
        if (config.challengeCount < 1 || config.challengeCount > 64) revert InvalidParams("challengeCount not in 1..64");
        if (config.maxMissedPeriods < 1) revert InvalidParams("maxMissedPeriods is 0");
        if (config.slashBps > BPS || config.reporterBps > BPS) revert InvalidParams("bps above 10000");
        token = token_;
        genesisBlock = block.number;
        periodBlocks = config.periodBlocks;
        challengeDelayBlocks = config.challengeDelayBlocks;
        activationBlocks = config.activationBlocks;
        challengeCount = config.challengeCount;
        maxMissedPeriods = config.maxMissedPeriods;
        collateralBps = config.collateralBps;
        slashBps = config.slashBps;
        reporterBps = config.reporterBps;
    }

    // ---------------------------------------------------------------- providers

    /// @notice Registers the caller as a provider and deposits `stake` (approve the market first).
    /// @param stake Tokens deposited as stake; deals lock part of it as collateral.
    /// @param pricePerMiB Advertised price in token units per MiB per period (informative; offers bind).
    /// @param capacity Bytes the provider accepts in open deals.
    /// @param peerId The provider's libp2p peer id (text form, 1..128 bytes).
    function register(uint256 stake, uint256 pricePerMiB, uint64 capacity, string calldata peerId)
        external
        nonReentrant
    {
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered(msg.sender);
        _checkPeerId(peerId);
        p.registered = true;
        p.pricePerMiB = pricePerMiB;
        p.capacity = capacity;
        p.peerId = peerId;
        _providerList.push(msg.sender);
        _providerIndex[msg.sender] = _providerList.length;
        if (stake > 0) {
            p.stake = stake;
            _pull(msg.sender, stake);
        }
        emit ProviderRegistered(msg.sender, stake, pricePerMiB, capacity, peerId);
    }

    /// @notice Updates the caller's advertised price, capacity and peer id. A capacity below the bytes in use only
    ///         stops new deals; setting it to 0 is how a provider winds down before `exit`.
    /// @param pricePerMiB Advertised price in token units per MiB per period.
    /// @param capacity Bytes the provider accepts in open deals.
    /// @param peerId The provider's libp2p peer id (text form, 1..128 bytes).
    function updateProvider(uint256 pricePerMiB, uint64 capacity, string calldata peerId) external {
        Provider storage p = _registered(msg.sender);
        _checkPeerId(peerId);
        p.pricePerMiB = pricePerMiB;
        p.capacity = capacity;
        p.peerId = peerId;
        emit ProviderUpdated(msg.sender, pricePerMiB, capacity, peerId);
    }

    /// @notice Adds `amount` to the caller's stake (approve the market first).
    /// @param amount Tokens to add.
    function addStake(uint256 amount) external nonReentrant {
        Provider storage p = _registered(msg.sender);
        p.stake += amount;
        _pull(msg.sender, amount);
        emit StakeAdded(msg.sender, amount, p.stake);
    }

    /// @notice Leaves the registry once every deal of the caller has ended; the whole stake becomes withdrawable.
    function exit() external nonReentrant {
        Provider storage p = _registered(msg.sender);
        if (p.openDeals != 0) revert ProviderHasOpenDeals(msg.sender, p.openDeals);
        uint256 stake = p.stake;
        withdrawable[msg.sender] += stake;
        delete _providers[msg.sender];
        uint256 index = _providerIndex[msg.sender] - 1;
        address last = _providerList[_providerList.length - 1];
        _providerList[index] = last;
        _providerIndex[last] = index + 1;
        _providerList.pop();
        delete _providerIndex[msg.sender];
        emit ProviderExited(msg.sender, stake);
    }

    /// @notice Revokes an offer the caller signed but no client has used yet.
    /// @param nonce The offer's nonce.
    function cancelOffer(uint256 nonce) external {
        if (nonceUsed[msg.sender][nonce]) revert NonceUsed(msg.sender, nonce);
        nonceUsed[msg.sender][nonce] = true;
        emit OfferCancelled(msg.sender, nonce);
    }

    // ---------------------------------------------------------------- deals

    /// @notice Opens a deal from `offer`, signed by its provider, and escrows price × periods from the caller, who
    ///         must be `offer.client` (approve the market first). Locks the provider's collateral and capacity.
    /// @param offer The provider's terms.
    /// @param signature The provider's EIP-712 signature over `offer` (or an ERC-1271 signature).
    /// @return dealId The new deal's id (ids start at 1).
    function openDeal(Offer calldata offer, bytes calldata signature) external nonReentrant returns (uint256 dealId) {
        if (msg.sender != offer.client) revert NotClient(0, msg.sender);
        if (block.timestamp > offer.expiry) revert OfferExpired(offer.expiry, block.timestamp);
        if (offer.size == 0 || offer.size > MAX_DEAL_SIZE) revert InvalidOffer("size not in 1..2^40");
        if (offer.periods == 0 || offer.maxPeriods < offer.periods) revert InvalidOffer("periods");
        Provider storage p = _registered(offer.provider);
        if (nonceUsed[offer.provider][offer.nonce]) revert NonceUsed(offer.provider, offer.nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(offer.provider, hashOffer(offer), signature)) {
            revert InvalidSignature(offer.provider);
        }
        nonceUsed[offer.provider][offer.nonce] = true;

        uint256 escrow = offer.pricePerPeriod * offer.periods;
        uint256 collateral = escrow * collateralBps / BPS;
        _reserve(p, offer.provider, offer.size, collateral);

        uint256 leafCount = (uint256(offer.size) + 63) / 64;
        dealId = ++dealCount;
        Deal storage d = _deals[dealId];
        d.client = msg.sender;
        d.openedBlock = uint64(block.number);
        d.state = DealState.Pending;
        d.depth = uint8(MerkleVerifier.depthOf(leafCount));
        d.provider = offer.provider;
        d.periods = offer.periods;
        d.root = offer.root;
        d.size = offer.size;
        d.leafCount = uint64(leafCount);
        d.maxPeriods = offer.maxPeriods;
        d.pricePerPeriod = offer.pricePerPeriod.toUint128();
        d.escrow = escrow.toUint128();
        d.collateral = collateral.toUint128();

        _pull(msg.sender, escrow);
        emit DealOpened(
            dealId, offer.provider, msg.sender, offer.root, offer.size, offer.pricePerPeriod, offer.periods, collateral
        );
    }

    /// @notice Activates a pending deal with a proof of the activation challenge (seed from `activationSeed`),
    ///         within `activationBlocks` after it was opened. Proving starts with the next period.
    /// @param dealId The deal.
    /// @param proof `challengeCount` items of leaf (64 bytes) ‖ depth siblings (32 bytes each, bottom up).
    function activate(uint256 dealId, bytes calldata proof) external {
        Deal storage d = _deal(dealId);
        if (d.state != DealState.Pending) revert WrongDealState(dealId, d.state);
        if (msg.sender != d.provider) revert NotProvider(dealId, msg.sender);
        uint256 deadline = uint256(d.openedBlock) + activationBlocks;
        if (block.number > deadline) revert ActivationDeadlinePassed(dealId, deadline);
        _verify(dealId, d, proof, activationSeed(dealId));
        uint64 start = uint64(currentPeriod() + 1);
        d.startPeriod = start;
        d.state = DealState.Active;
        emit DealActivated(dealId, msg.sender, start, start + d.periods);
    }

    /// @notice Returns the escrow of a deal its provider did not activate in time to the client and releases the
    ///         provider's collateral and capacity. Anyone may call it once the activation deadline has passed.
    /// @param dealId The deal.
    function expireDeal(uint256 dealId) external {
        Deal storage d = _deal(dealId);
        if (d.state != DealState.Pending) revert WrongDealState(dealId, d.state);
        uint256 deadline = uint256(d.openedBlock) + activationBlocks;
        if (block.number <= deadline) revert ActivationPending(dealId, deadline);
        d.state = DealState.Expired;
        uint256 refund = d.escrow;
        d.escrow = 0;
        withdrawable[d.client] += refund;
        _release(d);
        emit DealExpired(dealId, d.client, refund);
    }

    /// @notice Extends a pending or running deal by `addedPeriods` at its price, up to the offer's `maxPeriods`.
    ///         The caller must be the deal's client (approve the market first); the provider's collateral for the
    ///         added escrow is locked from its free stake.
    /// @param dealId The deal.
    /// @param addedPeriods Periods to add.
    function extendDeal(uint256 dealId, uint32 addedPeriods) external nonReentrant {
        Deal storage d = _deal(dealId);
        if (msg.sender != d.client) revert NotClient(dealId, msg.sender);
        if (d.state == DealState.Active) {
            uint256 end = uint256(d.startPeriod) + d.periods;
            if (currentPeriod() >= end) revert WrongDealState(dealId, d.state);
        } else if (d.state != DealState.Pending) {
            revert WrongDealState(dealId, d.state);
        }
        uint256 total = uint256(d.periods) + addedPeriods;
        if (addedPeriods == 0 || total > d.maxPeriods) revert ExtensionTooLong(dealId, total, d.maxPeriods);
        uint256 added = uint256(d.pricePerPeriod) * addedPeriods;
        uint256 collateral = added * collateralBps / BPS;
        Provider storage p = _providers[d.provider];
        _reserve(p, d.provider, 0, collateral);
        d.periods = uint32(total);
        d.escrow = (uint256(d.escrow) + added).toUint128();
        d.collateral = (uint256(d.collateral) + collateral).toUint128();
        _pull(msg.sender, added);
        emit DealExtended(dealId, msg.sender, addedPeriods, uint32(total));
    }

    // ---------------------------------------------------------------- proofs

    /// @notice Proves `period` for many deals of the caller in one transaction and credits each period's payment
    ///         to the caller's withdrawable balance. Reverts as a whole if any item is invalid (the error names the
    ///         deal), so a prover can drop that deal and resubmit.
    /// @param period The proving period; it must be open for proofs now (`proofWindow`).
    /// @param dealIds Active deals of the caller whose term covers `period`.
    /// @param proofs One proof per deal: `challengeCount` items of leaf (64 bytes) ‖ depth siblings (32 bytes each,
    ///        bottom up), challenges derived from `challengeSeed(dealId, period)`.
    function submitProofs(uint256 period, uint256[] calldata dealIds, bytes[] calldata proofs) external {
        if (dealIds.length != proofs.length) revert BatchLengthMismatch(dealIds.length, proofs.length);
        (uint256 first, uint256 last) = proofWindow(period);
        if (block.number < first || block.number > last) revert ProofWindowClosed(period, first, last);
        bytes32 blockSeed = blockhash(first - 1);
        uint256 earned;
        for (uint256 i = 0; i < dealIds.length; i++) {
            uint256 dealId = dealIds[i];
            Deal storage d = _deal(dealId);
            if (d.state != DealState.Active) revert WrongDealState(dealId, d.state);
            if (msg.sender != d.provider) revert NotProvider(dealId, msg.sender);
            if (period < d.startPeriod || period >= uint256(d.startPeriod) + d.periods) {
                revert PeriodOutsideDeal(dealId, period);
            }
            uint256 word = period >> 8;
            uint256 bit = uint256(1) << (period & 0xff);
            uint256 bits = _provenBits[dealId][word];
            if (bits & bit != 0) revert PeriodAlreadyProven(dealId, period);
            _verify(dealId, d, proofs[i], keccak256(abi.encode(blockSeed, dealId, period)));
            _provenBits[dealId][word] = bits | bit;
            uint256 payment = d.pricePerPeriod;
            d.provenPeriods += 1;
            d.escrow -= uint128(payment);
            earned += payment;
            emit PeriodProven(dealId, period, msg.sender, payment);
        }
        withdrawable[msg.sender] += earned;
    }

    /// @notice Marks a closed, unproven period of an active deal as missed. Anyone may call it: a slice of the
    ///         provider's collateral is slashed, `reporterBps` of it credited to the caller and the rest burned.
    ///         At `maxMissedPeriods` misses the deal fails and its unspent escrow returns to the client.
    /// @param dealId The deal.
    /// @param period A period of the deal's term that has closed.
    function markMissed(uint256 dealId, uint256 period) external nonReentrant {
        Deal storage d = _deal(dealId);
        if (d.state != DealState.Active) revert WrongDealState(dealId, d.state);
        if (period < d.startPeriod || period >= uint256(d.startPeriod) + d.periods) {
            revert PeriodOutsideDeal(dealId, period);
        }
        uint256 closesAt = periodStartBlock(period + 1);
        if (block.number < closesAt) revert PeriodNotClosed(dealId, period, closesAt);
        uint256 word = period >> 8;
        uint256 bit = uint256(1) << (period & 0xff);
        if (_provenBits[dealId][word] & bit != 0) revert PeriodAlreadyProven(dealId, period);
        uint256 missedBits = _missedBits[dealId][word];
        if (missedBits & bit != 0) revert PeriodAlreadyMissed(dealId, period);
        _missedBits[dealId][word] = missedBits | bit;
        d.missedPeriods += 1;
        (uint256 slashed, uint256 reward, uint256 burned) = _slash(d, 1, msg.sender);
        emit PeriodMissed(dealId, period, msg.sender, slashed, reward);
        if (d.missedPeriods >= maxMissedPeriods) {
            d.state = DealState.Failed;
            uint256 refund = d.escrow;
            d.escrow = 0;
            withdrawable[d.client] += refund;
            _release(d);
            emit DealFailed(dealId, d.client, d.provider, refund);
        }
        _burn(burned);
    }

    /// @notice Settles a deal whose last period has closed: periods neither proven nor marked are slashed as
    ///         missed (reward to the caller), the unspent escrow returns to the client, and the provider's
    ///         remaining collateral and capacity are released. Anyone may call it.
    /// @param dealId The deal.
    function endDeal(uint256 dealId) external nonReentrant {
        Deal storage d = _deal(dealId);
        if (d.state != DealState.Active) revert WrongDealState(dealId, d.state);
        uint256 endsAt = periodStartBlock(uint256(d.startPeriod) + d.periods);
        if (block.number < endsAt) revert DealNotOver(dealId, endsAt);
        uint256 unmarked = uint256(d.periods) - d.provenPeriods - d.missedPeriods;
        uint256 burned;
        if (unmarked > 0) {
            d.missedPeriods += uint32(unmarked);
            (,, burned) = _slash(d, unmarked, msg.sender);
        }
        d.state = DealState.Ended;
        uint256 refund = d.escrow;
        d.escrow = 0;
        withdrawable[d.client] += refund;
        _release(d);
        emit DealEnded(dealId, d.client, d.provider, d.provenPeriods, d.missedPeriods, refund);
        _burn(burned);
    }

    /// @notice Transfers the caller's whole withdrawable balance to the caller.
    function withdraw() external nonReentrant {
        uint256 amount = withdrawable[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        withdrawable[msg.sender] = 0;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice The EIP-712 digest of `offer` that its provider signs.
    /// @param offer The offer.
    /// @return The digest.
    function hashOffer(Offer calldata offer) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(OFFER_TYPEHASH, offer)));
    }

    /// @notice The period the current block belongs to.
    /// @return The period number.
    function currentPeriod() public view returns (uint256) {
        return (block.number - genesisBlock) / periodBlocks;
    }

    /// @notice The first block of `period`.
    /// @param period The period.
    /// @return The block number.
    function periodStartBlock(uint256 period) public view returns (uint256) {
        return genesisBlock + period * periodBlocks;
    }

    /// @notice The block whose hash seeds the challenges of `period`.
    /// @param period The period.
    /// @return The block number.
    function challengeBlock(uint256 period) public view returns (uint256) {
        return periodStartBlock(period) + challengeDelayBlocks;
    }

    /// @notice The blocks in which proofs for `period` are accepted: after its challenge block, before it closes.
    /// @param period The period.
    /// @return first The first block that accepts proofs.
    /// @return last The last block that accepts proofs.
    function proofWindow(uint256 period) public view returns (uint256 first, uint256 last) {
        first = challengeBlock(period) + 1;
        last = periodStartBlock(period + 1) - 1;
    }

    /// @notice The challenge seed of `dealId` in `period`: keccak256(abi.encode(blockhash(challengeBlock(period)),
    ///         dealId, period)). Readable from the block after the challenge block for 256 blocks.
    /// @param dealId The deal.
    /// @param period The period.
    /// @return The seed.
    function challengeSeed(uint256 dealId, uint256 period) public view returns (bytes32) {
        return keccak256(abi.encode(_blockhash(challengeBlock(period)), dealId, period));
    }

    /// @notice The activation challenge seed of a deal: keccak256(abi.encode(blockhash(openedBlock), dealId,
    ///         ACTIVATION_PERIOD)). Readable from the block after the deal was opened.
    /// @param dealId The deal.
    /// @return The seed.
    function activationSeed(uint256 dealId) public view returns (bytes32) {
        return keccak256(abi.encode(_blockhash(_deal(dealId).openedBlock), dealId, ACTIVATION_PERIOD));
    }

    /// @notice The leaf indices challenged by `seed`: j-th = uint256(keccak256(abi.encode(seed, j))) % leafCount.
    /// @param seed The challenge seed.
    /// @param count Number of challenges.
    /// @param leafCount Leaves in the tree (≥ 1).
    /// @return indices The challenged leaf indices, in proof order.
    function challengeIndices(bytes32 seed, uint256 count, uint256 leafCount)
        external
        pure
        returns (uint256[] memory indices)
    {
        if (leafCount == 0) revert InvalidParams("leafCount is 0");
        indices = new uint256[](count);
        for (uint256 j = 0; j < count; j++) {
            indices[j] = MerkleVerifier.challengeIndex(seed, j, leafCount);
        }
    }

    /// @notice Bytes of a valid proof for `dealId`: challengeCount × (64 + 32 × depth).
    /// @param dealId The deal.
    /// @return The proof length in bytes.
    function proofLength(uint256 dealId) external view returns (uint256) {
        return challengeCount * MerkleVerifier.itemLength(_deal(dealId).depth);
    }

    /// @notice Whether `period` of `dealId` is open, proven or marked missed.
    /// @param dealId The deal.
    /// @param period The period.
    /// @return The status.
    function periodStatus(uint256 dealId, uint256 period) external view returns (PeriodStatus) {
        uint256 bit = uint256(1) << (period & 0xff);
        if (_provenBits[dealId][period >> 8] & bit != 0) return PeriodStatus.Proven;
        if (_missedBits[dealId][period >> 8] & bit != 0) return PeriodStatus.Missed;
        return PeriodStatus.Open;
    }

    /// @notice A deal's full record.
    /// @param dealId The deal.
    /// @return The deal.
    function getDeal(uint256 dealId) external view returns (Deal memory) {
        return _deal(dealId);
    }

    /// @notice A registered provider.
    /// @param provider The provider's address.
    /// @return The provider.
    function getProvider(address provider) external view returns (ProviderInfo memory) {
        return _info(provider, _registered(provider));
    }

    /// @notice Number of registered providers.
    /// @return The count.
    function providerCount() external view returns (uint256) {
        return _providerList.length;
    }

    /// @notice A page of the registry, in registration order except that an exit moves the last provider into
    ///         the leaver's slot.
    /// @param offset First index.
    /// @param limit Maximum number of providers.
    /// @return page The providers.
    function getProviders(uint256 offset, uint256 limit) external view returns (ProviderInfo[] memory page) {
        uint256 n = _providerList.length;
        uint256 end = offset + limit < n ? offset + limit : n;
        page = new ProviderInfo[](end > offset ? end - offset : 0);
        for (uint256 i = offset; i < end; i++) {
            address a = _providerList[i];
            page[i - offset] = _info(a, _providers[a]);
        }
    }

    /// @notice The market parameters.
    /// @return The parameters given at deployment.
    function params() external view returns (Params memory) {
        return Params({
            periodBlocks: uint64(periodBlocks),
            challengeDelayBlocks: uint64(challengeDelayBlocks),
            activationBlocks: uint64(activationBlocks),
            challengeCount: uint8(challengeCount),
            maxMissedPeriods: uint8(maxMissedPeriods),
            collateralBps: uint16(collateralBps),
            slashBps: uint16(slashBps),
            reporterBps: uint16(reporterBps)
        });
    }

    // ---------------------------------------------------------------- internals

    function _deal(uint256 dealId) private view returns (Deal storage d) {
        d = _deals[dealId];
        if (d.state == DealState.None) revert UnknownDeal(dealId);
    }

    function _registered(address provider) private view returns (Provider storage p) {
        p = _providers[provider];
        if (!p.registered) revert NotRegistered(provider);
    }

    function _info(address a, Provider storage p) private view returns (ProviderInfo memory) {
        return ProviderInfo({
            account: a,
            stake: p.stake,
            lockedStake: p.lockedStake,
            pricePerMiB: p.pricePerMiB,
            capacity: p.capacity,
            usedBytes: p.usedBytes,
            openDeals: p.openDeals,
            peerId: p.peerId
        });
    }

    function _checkPeerId(string calldata peerId) private pure {
        uint256 n = bytes(peerId).length;
        if (n == 0 || n > MAX_PEER_ID_BYTES) revert InvalidPeerId(n);
    }

    function _blockhash(uint256 blockNumber) private view returns (bytes32 h) {
        h = blockhash(blockNumber);
        if (h == bytes32(0)) revert SeedUnavailable(blockNumber);
    }

    /// @dev Locks capacity and collateral of a provider for a new deal or an extension.
    function _reserve(Provider storage p, address provider, uint64 size, uint256 collateral) private {
        if (size > 0) {
            uint256 free = p.capacity > p.usedBytes ? p.capacity - p.usedBytes : 0;
            if (size > free) revert InsufficientCapacity(provider, size, free);
            p.usedBytes += size;
            p.openDeals += 1;
        }
        uint256 freeStake = p.stake - p.lockedStake;
        if (collateral > freeStake) revert InsufficientStake(provider, collateral, freeStake);
        p.lockedStake += collateral;
    }

    /// @dev Releases what is left of a deal's collateral and its capacity when the deal leaves the books.
    function _release(Deal storage d) private {
        Provider storage p = _providers[d.provider];
        p.lockedStake -= uint256(d.collateral) - d.slashed;
        p.usedBytes -= d.size;
        p.openDeals -= 1;
    }

    /// @dev Slashes `misses` periods' worth from the deal's collateral (at most what remains of it).
    function _slash(Deal storage d, uint256 misses, address reporter)
        private
        returns (uint256 amount, uint256 reward, uint256 burned)
    {
        uint256 remaining = uint256(d.collateral) - d.slashed;
        amount = uint256(d.collateral) * slashBps / BPS * misses;
        if (amount > remaining) amount = remaining;
        if (amount == 0) return (0, 0, 0);
        d.slashed += uint128(amount);
        Provider storage p = _providers[d.provider];
        p.stake -= amount;
        p.lockedStake -= amount;
        reward = amount * reporterBps / BPS;
        burned = amount - reward;
        withdrawable[reporter] += reward;
    }

    function _burn(uint256 amount) private {
        if (amount > 0) token.safeTransfer(BURN_ADDRESS, amount);
    }

    /// @dev Takes `amount` from `from`, refusing tokens that deliver less than asked (fee-on-transfer), since
    ///      every balance in the books must be backed one to one.
    function _pull(address from, uint256 amount) private {
        if (amount == 0) return;
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(amount, received);
    }

    function _verify(uint256 dealId, Deal storage d, bytes calldata proof, bytes32 seed) private view {
        uint256 depth = d.depth;
        uint256 count = challengeCount;
        uint256 expected = count * MerkleVerifier.itemLength(depth);
        if (proof.length != expected) revert BadProofLength(dealId, expected, proof.length);
        uint256 failed = MerkleVerifier.verify(proof, d.root, depth, d.leafCount, seed, count);
        if (failed != count) revert InvalidProof(dealId, failed);
    }
}
