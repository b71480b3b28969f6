// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {MerkleVerifier} from "./MerkleVerifier.sol";

/// @title ProofSetMarket
/// @notice Settlement whose proving cost grows with the bytes a provider stores, not with its number of deals:
///         each provider has one proof set (its deals laid end to end as ranges of challengeable weight) and
///         answers K = max(K_MIN, ⌈LAMBDA × weight / TiB⌉) challenges per period over it. Deals open in batches
///         from offers the provider signed after verifying the shard, payment is claimed lazily per deal from
///         the provider's bitmap of proven periods, faults are per deal. Mechanism and constants:
///         docs/contracts.md, "ProofSetMarket".
/// @dev Period q opens at block genesisBlock + q·P; its challenge block is `challengeDelayBlocks` later; the
///      network-wide seed of q is keccak256(blockhash(challengeBlock(q)), q), stored by the first transaction that
///      needs it (or by `commitSeed`) while the hash is readable, so P may exceed 256 blocks and a period missed by
///      a provider keeps its own seed. Seeds live in a ring of SEED_RING slots.
contract ProofSetMarket is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using BitMaps for BitMaps.BitMap;

    // ---------------------------------------------------------------- types

    /// @notice Market parameters, fixed at deployment.
    struct Params {
        /// Blocks per proving period (≥ challengeDelayBlocks + 2).
        uint64 periodBlocks;
        /// Blocks from a period's first block to its challenge block.
        uint64 challengeDelayBlocks;
        /// Periods of a deal's term not proven on time after which the deal fails (≥ 1).
        uint8 maxMissedPeriods;
        /// Provider collateral locked per deal, in basis points of the deal's escrow.
        uint16 collateralBps;
        /// Slash per missed provider-period, in basis points of the provider's locked collateral.
        uint16 slashBps;
        /// Share of a miss slash paid to its reporter, and of an unanswered audit's slash paid to the client.
        uint16 reporterBps;
        /// Tokens a client deposits with `requestAudit`.
        uint128 auditBond;
    }

    /// @notice A provider's signed terms for one deal (EIP-712 type `Offer`). The provider signs only after it
    ///         has received the shard and checked it against `root` and `size`.
    struct Offer {
        address provider;
        address client;
        bytes32 root;
        uint64 size;
        uint256 pricePerPeriod;
        uint32 periods;
        uint256 nonce;
        uint64 expiry;
    }

    enum DealState {
        None,
        Live,
        Declared,
        Faulted,
        Failed,
        Ended
    }

    /// @dev Slot 0 is all a challenge reads besides the root.
    struct Deal {
        // slot 0
        uint32 providerId;
        uint48 rangeStart;
        uint40 leafCount;
        uint8 depth;
        uint32 voidFrom;
        uint32 startPeriod;
        uint32 endPeriod;
        uint32 paidFrom;
        // slot 1
        bytes32 root;
        // slot 2
        address client;
        uint80 pricePerPeriod;
        DealState state;
        uint8 missed;
    }

    /// @notice A deal as returned by `getDeal`.
    struct DealInfo {
        address provider;
        address client;
        bytes32 root;
        uint64 leafCount;
        uint8 depth;
        DealState state;
        bool settled;
        uint64 rangeStart;
        uint64 weight;
        uint32 startPeriod;
        uint32 endPeriod;
        uint32 voidFrom;
        uint32 paidFrom;
        uint8 missed;
        uint256 pricePerPeriod;
        uint256 collateral;
        /// Escrow still held for the deal: price × periods not yet paid or refunded.
        uint256 escrow;
    }

    struct Provider {
        // slot 0
        uint128 stake;
        uint128 locked;
        // slot 1
        uint48 weightEnd;
        uint32 lastCheckpoint;
        uint32 due;
        uint32 firstPeriod;
        uint32 id;
        bool registered;
        uint32 maxTermPeriods;
        /// Deals opened and not yet settled: while any is, the due period must not skip ahead, whatever `locked`
        /// says (a deal may carry no collateral: price 0 or collateralBps 0).
        uint32 unsettledDeals;
        // slot 2: chunks of the due period already proven
        uint256 chunksDone;
        string peerId;
    }

    /// @notice A provider as returned by `getProvider`.
    struct ProviderInfo {
        uint32 id;
        uint256 stake;
        uint256 locked;
        uint64 weight;
        uint32 due;
        uint32 firstPeriod;
        uint256 chunksDone;
        /// Longest term (end − start periods) the provider accepts, for an offer and after an extension.
        uint32 maxTermPeriods;
        /// Deals opened and not yet settled (off the books); 0 with `locked` 0 is when a provider may leave.
        uint32 unsettledDeals;
        string peerId;
    }

    struct Audit {
        uint32 period;
        uint128 bond;
    }

    // ---------------------------------------------------------------- errors

    error InvalidParams(string reason);
    error AlreadyRegistered(address provider);
    error NotRegistered(address provider);
    error InvalidPeerId(uint256 length);
    error UnsupportedToken(uint256 expected, uint256 received);
    error BatchLengthMismatch(uint256 offers, uint256 signatures);
    error EmptyBatch();
    error NotClient(uint256 dealId, address caller);
    error NotProvider(uint256 dealId, address caller);
    error OfferExpired(uint64 expiry, uint256 timestamp);
    error NonceUsed(address provider, uint256 nonce);
    error InvalidSignature(address provider);
    error InvalidOfferSize(uint64 size);
    error InvalidOfferPeriods();
    error PriceTooHigh(uint256 pricePerPeriod);
    error DealIdsExhausted();
    error ProofSetTooLarge(address provider, uint256 weight);
    error InsufficientStake(address provider, uint256 needed, uint256 free);
    error UnknownDeal(uint256 dealId);
    error WrongDealState(uint256 dealId, DealState state);
    error NothingDue(address provider);
    error NotDuePeriod(uint256 period, uint256 due);
    error ChallengeBlockNotMined(uint256 period, uint256 challengeBlock);
    error SeedUnavailable(uint256 period, uint256 challengeBlock);
    error BadChunk(uint256 chunk, uint256 chunks);
    error ChunkAlreadyProven(uint256 period, uint256 chunk);
    error HintOutOfRange(uint256 challenge, uint256 dealId, uint256 index);
    error InvalidProof(uint256 challenge, uint256 dealId);
    error BadProofLength(uint256 expected, uint256 actual);
    error PeriodNotClosed(uint256 period, uint256 closesAtBlock);
    error PeriodAlreadyProven(address provider, uint256 period);
    error PeriodAlreadyMissed(address provider, uint256 period);
    error PeriodBeforeProvider(address provider, uint256 period);
    error DeclarationTooLate(uint256 period, uint256 challengeBlock);
    error AuditOpen(uint256 dealId, uint256 period);
    error NoAudit(uint256 dealId);
    error AuditPastTerm(uint256 dealId, uint256 period, uint256 endPeriod);
    error AuditWindowClosed(uint256 dealId, uint256 firstBlock, uint256 lastBlock);
    error AuditNotExpired(uint256 dealId, uint256 deadlineBlock);
    error NothingToWithdraw(address account);
    error TermTooLong(uint256 periods, uint256 maxTermPeriods);

    // ---------------------------------------------------------------- events

    event ProviderRegistered(address indexed provider, uint32 id, uint256 stake, uint32 maxTermPeriods, string peerId);
    event MaxTermSet(address indexed provider, uint32 maxTermPeriods);
    event StakeAdded(address indexed provider, uint256 amount, uint256 stake);
    event StakeRemoved(address indexed provider, uint256 amount, uint256 stake);
    event OfferCancelled(address indexed provider, uint256 indexed nonce);
    event DealOpened(
        uint256 indexed dealId,
        address indexed provider,
        address indexed client,
        bytes32 root,
        uint64 size,
        uint256 pricePerPeriod,
        uint32 startPeriod,
        uint32 endPeriod,
        uint64 rangeStart,
        uint64 weight,
        uint32 slot
    );
    event SeedCommitted(uint256 indexed period, bytes32 seed);
    event ChunkProven(address indexed provider, uint256 indexed period, uint256 chunk);
    /// @notice All challenges of `period` answered; `onTime` periods pay every deal of the provider live in it.
    event PeriodProven(address indexed provider, uint256 indexed period, bool onTime);
    event PeriodMissed(
        address indexed provider, uint256 indexed period, address indexed reporter, uint256 slashed, uint256 reward
    );
    /// @notice A challenge of `period` landed on the deal and its provider could not answer it. The client
    ///         repairs from this event.
    event DealFaulted(uint256 indexed dealId, address indexed provider, uint256 indexed period, uint256 slashed);
    event DealDeclaredLost(uint256 indexed dealId, address indexed provider, uint256 period, uint256 slashed);
    event DealFailed(uint256 indexed dealId, address indexed provider, uint256 missed);
    /// @notice The deal left the books: unspent escrow back to the client, collateral unlocked.
    event DealSettled(uint256 indexed dealId, DealState state, uint256 paid, uint256 refunded);
    /// @notice The client paid `escrow` for more periods; the term now ends at `endPeriod` and the provider
    ///         locked `collateral` more.
    event DealExtended(
        uint256 indexed dealId, address indexed provider, uint32 endPeriod, uint256 escrow, uint256 collateral
    );
    event Claimed(uint256 indexed dealId, uint256 paid, uint256 refunded, uint32 paidFrom);
    event AuditRequested(uint256 indexed dealId, address indexed client, uint256 period, uint256 bond);
    event AuditAnswered(uint256 indexed dealId, address indexed provider, uint256 period);
    event AuditFailed(uint256 indexed dealId, address indexed client, uint256 slashed, uint256 reward);
    event Withdrawn(address indexed account, uint256 amount);

    // ---------------------------------------------------------------- constants
    // Internal to stay under EIP-170; @sherd/contracts exports the same values (PROOF_SET_*).

    /// @notice Challenges per TiB of weight per period: one per 256 GiB.
    uint256 internal constant LAMBDA = 4;
    /// @notice Fewest challenges of a provider with any weight: a small provider still gets 4 draws.
    uint256 internal constant K_MIN = 4;
    /// @notice Smallest weight of a deal, in 64-byte leaves (256 MiB): tiny deals cannot dilute the others.
    uint256 internal constant MIN_WEIGHT = 1 << 22;
    /// @notice Leaves in a TiB (2^40 bytes / 64).
    uint256 internal constant TIB_LEAVES = 1 << 34;
    /// @notice Challenges per proof transaction: 64 × (8 + 64 + 32 × 58) bytes ≤ 123,392 at the longest path (a
    ///         1 TiB deal, depth 34, in a super-tree of 2^24 deals, depth 24).
    uint256 internal constant CHALLENGES_PER_CHUNK = 64;
    /// @notice Chunks per period (the bitmask width): K ≤ 16,384, 4 PiB of weight per provider.
    uint256 internal constant MAX_CHUNKS = 256;
    /// @notice Leaves checked by an on-demand audit (the old per-deal challenge count).
    uint256 internal constant AUDIT_CHALLENGES = 10;
    /// @notice Slash of a voluntary declaration, in basis points of the deal's collateral.
    uint256 internal constant DECLARED_SLASH_BPS = 2_500;
    /// @notice Periods whose seeds the ring keeps.
    uint256 internal constant SEED_RING = 256;
    /// @notice Deals up to 2^40 bytes (depth 34).
    uint64 internal constant MAX_DEAL_SIZE = 1 << 40;
    /// @dev The top bit of a challenge's dealId hint says "I cannot answer this": the deal faults.
    uint32 internal constant FAULT_FLAG = 1 << 31;
    address internal constant BURN_ADDRESS = 0x000000000000000000000000000000000000dEaD;
    bytes32 internal constant AUDIT_TAG = keccak256("Sherd ProofSetMarket audit");
    uint32 private constant SETTLED = type(uint32).max;
    uint256 private constant BPS = 10_000;
    uint256 private constant MAX_PEER_ID_BYTES = 128;

    bytes32 internal constant OFFER_TYPEHASH = keccak256(
        "Offer(address provider,address client,bytes32 root,uint64 size,uint256 pricePerPeriod,uint32 periods,uint256 nonce,uint64 expiry)"
    );

    IERC20 public immutable token;
    uint256 public immutable genesisBlock;
    uint256 public immutable periodBlocks;
    uint256 public immutable challengeDelayBlocks;
    uint256 public immutable maxMissedPeriods;
    uint256 public immutable collateralBps;
    uint256 public immutable slashBps;
    uint256 public immutable reporterBps;
    uint256 public immutable auditBond;

    // ---------------------------------------------------------------- state

    uint256 public dealCount;
    uint32 public providerCount;
    mapping(uint256 dealId => Deal) private _deals;
    mapping(address provider => Provider) private _providers;
    mapping(uint32 id => address) public providerAddress;
    mapping(address provider => BitMaps.BitMap) private _nonces;
    /// @dev weight end after the appends that become challengeable at `period`, and the previous checkpoint.
    mapping(uint32 id => mapping(uint256 period => uint256 packed)) private _checkpoints;
    mapping(uint32 id => mapping(uint256 word => uint256)) private _provenBits;
    mapping(uint32 id => mapping(uint256 word => uint256)) private _missedBits;
    /// @dev slot q % SEED_RING: seed of q with q in its low 32 bits.
    mapping(uint256 slot => uint256) private _seedRing;
    mapping(uint256 dealId => Audit) private _audits;
    /// @notice Tokens each account can withdraw.
    mapping(address account => uint256) public withdrawable;
    /// @dev Per provider, the incremental Merkle tree over its deals' super-leaves, nodeHash(dealId, root), in the
    ///      order they opened (eth2 deposit contract): branch[h] is the last complete level-h subtree's root.
    mapping(uint32 id => mapping(uint256 level => bytes32)) private _branch;
    /// @dev Super-root of the snapshot a checkpoint starts, stored once no deal can join it any more.
    mapping(uint32 id => mapping(uint256 checkpoint => bytes32)) private _superRoots;

    /// @param token_ The ERC-20 for escrow, stake, bonds and payment.
    /// @param config Market parameters (docs/contracts.md, "ProofSetMarket").
    constructor(IERC20 token_, Params memory config) EIP712("Sherd ProofSetMarket", "1") {
        if (address(token_) == address(0)) revert InvalidParams("token is the zero address");
        if (config.challengeDelayBlocks + 2 > config.periodBlocks) revert InvalidParams("periodBlocks too short");
        if (config.maxMissedPeriods == 0) revert InvalidParams("maxMissedPeriods is 0");
        if (config.collateralBps > 10 * BPS) revert InvalidParams("collateralBps above 100000");
        if (config.slashBps > BPS || config.reporterBps > BPS) revert InvalidParams("bps above 10000");
        token = token_;
        genesisBlock = block.number;
        periodBlocks = config.periodBlocks;
        challengeDelayBlocks = config.challengeDelayBlocks;
        maxMissedPeriods = config.maxMissedPeriods;
        collateralBps = config.collateralBps;
        slashBps = config.slashBps;
        reporterBps = config.reporterBps;
        auditBond = config.auditBond;
    }

    // ---------------------------------------------------------------- providers

    /// @notice Registers the caller as a provider with `stake` (approve the market first), accepting terms of
    ///         at most `maxTermPeriods` periods (offers and extensions; 0 accepts none).
    function register(uint256 stake, uint32 maxTermPeriods, string calldata peerId) external nonReentrant {
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered(msg.sender);
        _checkPeerId(peerId);
        uint32 id = ++providerCount;
        p.registered = true;
        p.id = id;
        p.maxTermPeriods = maxTermPeriods;
        p.stake = stake.toUint128();
        p.peerId = peerId;
        providerAddress[id] = msg.sender;
        _pull(msg.sender, stake);
        emit ProviderRegistered(msg.sender, id, stake, maxTermPeriods, peerId);
    }

    /// @notice Sets the longest term the caller accepts from now on; deals already open keep their terms.
    function setMaxTerm(uint32 maxTermPeriods) external {
        _registered(msg.sender).maxTermPeriods = maxTermPeriods;
        emit MaxTermSet(msg.sender, maxTermPeriods);
    }

    /// @notice Adds `amount` to the caller's stake (approve the market first).
    function addStake(uint256 amount) external nonReentrant {
        Provider storage p = _registered(msg.sender);
        p.stake = (uint256(p.stake) + amount).toUint128();
        _pull(msg.sender, amount);
        emit StakeAdded(msg.sender, amount, p.stake);
    }

    /// @notice Moves `amount` of unlocked stake to the caller's withdrawable balance.
    function removeStake(uint256 amount) external {
        Provider storage p = _registered(msg.sender);
        uint256 free = p.stake > p.locked ? p.stake - p.locked : 0;
        if (amount > free) revert InsufficientStake(msg.sender, amount, free);
        p.stake -= uint128(amount);
        withdrawable[msg.sender] += amount;
        emit StakeRemoved(msg.sender, amount, p.stake);
    }

    /// @notice Revokes an offer nonce the caller signed but no client has used.
    function cancelOffer(uint256 nonce) external {
        if (_nonces[msg.sender].get(nonce)) revert NonceUsed(msg.sender, nonce);
        _nonces[msg.sender].set(nonce);
        emit OfferCancelled(msg.sender, nonce);
    }

    // ---------------------------------------------------------------- deals

    /// @notice Opens one deal per offer, each signed by its provider, and escrows Σ price × periods from the
    ///         caller in one transfer; the caller must be every offer's client. Each deal joins its provider's
    ///         proof set at the next period boundary, which is when its term starts. No activation follows.
    /// @return firstDealId The first new deal's id; the others follow in offer order.
    function openDeals(Offer[] calldata offers, bytes[] calldata signatures)
        external
        nonReentrant
        returns (uint256 firstDealId)
    {
        if (offers.length != signatures.length) revert BatchLengthMismatch(offers.length, signatures.length);
        if (offers.length == 0) revert EmptyBatch();
        uint256 start = currentPeriod() + 1;
        firstDealId = dealCount + 1;
        uint256 dealId = dealCount;
        uint256 escrowTotal;
        address lastProvider;
        uint256 run; // deals of the current run of offers from one provider, counted once per run
        uint256 slots; // the run's provider's deals so far: the next deal's slot in its super-tree
        Provider storage p = _providers[address(0)];
        for (uint256 i = 0; i < offers.length; i++) {
            Offer calldata offer = offers[i];
            if (offer.provider != lastProvider) {
                if (lastProvider != address(0)) _endRun(p, start, run, slots);
                run = 0;
                p = _registered(offer.provider);
                lastProvider = offer.provider;
                slots = _openSnapshot(p, start);
                if (p.firstPeriod == 0) {
                    p.firstPeriod = uint32(start);
                    p.due = uint32(start);
                } else if (p.unsettledDeals == 0 && p.due < start) {
                    // Nothing unsettled can be hit by the idle periods' challenges: start proving afresh.
                    p.due = uint32(start);
                    p.chunksDone = 0;
                }
            }
            if (offer.periods > p.maxTermPeriods) revert TermTooLong(offer.periods, p.maxTermPeriods);
            uint256 escrow = _checkOffer(offer, signatures[i]);
            escrowTotal += escrow;
            uint256 collateral = escrow * collateralBps / BPS;
            uint256 free = p.stake > p.locked ? p.stake - p.locked : 0;
            if (collateral > free) revert InsufficientStake(offer.provider, collateral, free);
            p.locked += uint128(collateral);
            run++;

            uint256 leafCount = (uint256(offer.size) + 63) / 64;
            uint256 weight = leafCount > MIN_WEIGHT ? leafCount : MIN_WEIGHT;
            uint256 rangeStart = p.weightEnd;
            p.weightEnd = (rangeStart + weight).toUint48();
            uint256 end = start + offer.periods;
            if (++dealId >= FAULT_FLAG) revert DealIdsExhausted();
            Deal storage d = _deals[dealId];
            d.providerId = p.id;
            d.rangeStart = uint48(rangeStart);
            d.leafCount = uint40(leafCount);
            d.depth = uint8(Math.log2(leafCount, Math.Rounding.Ceil));
            d.voidFrom = end.toUint32();
            d.startPeriod = uint32(start);
            d.endPeriod = uint32(end);
            d.paidFrom = uint32(start);
            d.root = offer.root;
            d.client = msg.sender;
            d.pricePerPeriod = offer.pricePerPeriod.toUint80();
            d.state = DealState.Live;
            _insert(p.id, slots++, _superLeaf(dealId, offer.root));
            emit DealOpened(
                dealId,
                offer.provider,
                msg.sender,
                offer.root,
                offer.size,
                offer.pricePerPeriod,
                uint32(start),
                uint32(end),
                uint64(rangeStart),
                uint64(weight),
                uint32(slots - 1)
            );
        }
        _endRun(p, start, run, slots);
        dealCount = dealId;
        _pull(msg.sender, escrowTotal);
    }

    /// @notice Adds `addedPeriods` to the term of each of the caller's `dealIds` at the deal's price, escrowing
    ///         Σ price × addedPeriods in one transfer. Each deal must be Live (after settling its closed periods)
    ///         with its term not over, and its new term (end − start) at most its provider's maxTermPeriods, which
    ///         is the provider's standing consent; its collateral grows from the provider's free stake.
    ///         Only the end moves: the range stays where it is, so no period already proven or void changes.
    function extendDeals(uint256[] calldata dealIds, uint32 addedPeriods) external nonReentrant {
        if (dealIds.length == 0) revert EmptyBatch();
        if (addedPeriods == 0) revert InvalidOfferPeriods();
        uint256 now_ = currentPeriod();
        uint256 escrowTotal;
        for (uint256 i = 0; i < dealIds.length; i++) {
            uint256 dealId = dealIds[i];
            Deal storage d = _deal(dealId);
            if (msg.sender != d.client) revert NotClient(dealId, msg.sender);
            Provider storage p = _providers[providerAddress[d.providerId]];
            if (d.paidFrom != SETTLED) _settle(dealId, d, p);
            // Live with its end still ahead: its range is not void in any period that has begun.
            if (d.state != DealState.Live || now_ >= d.endPeriod) revert WrongDealState(dealId, d.state);
            uint256 end = uint256(d.endPeriod) + addedPeriods;
            uint256 term = end - d.startPeriod;
            if (term > p.maxTermPeriods) revert TermTooLong(term, p.maxTermPeriods);
            uint256 before = _collateral(d);
            d.endPeriod = end.toUint32();
            d.voidFrom = uint32(end);
            uint256 collateral = _collateral(d) - before;
            uint256 free = p.stake > p.locked ? p.stake - p.locked : 0;
            if (collateral > free) revert InsufficientStake(providerAddress[d.providerId], collateral, free);
            p.locked += uint128(collateral);
            uint256 escrow = uint256(d.pricePerPeriod) * addedPeriods;
            escrowTotal += escrow;
            emit DealExtended(dealId, providerAddress[d.providerId], uint32(end), escrow, collateral);
        }
        _pull(msg.sender, escrowTotal);
    }

    /// @notice Declares the data of the caller's `dealIds` lost, before the current period's challenge block, for
    ///         a DECLARED_SLASH_BPS slash instead of the full one a failed challenge costs. The deals are void from
    ///         the current period on; challenges of earlier periods still due must still be answered (a fault
    ///         there takes the rest of the collateral).
    function declareLost(uint256[] calldata dealIds) external nonReentrant {
        uint256 period = currentPeriod();
        uint256 cb = challengeBlock(period);
        if (block.number > cb) revert DeclarationTooLate(period, cb);
        Provider storage p = _registered(msg.sender);
        uint256 burned;
        for (uint256 i = 0; i < dealIds.length; i++) {
            uint256 dealId = dealIds[i];
            Deal storage d = _deal(dealId);
            if (d.providerId != p.id) revert NotProvider(dealId, msg.sender);
            if (d.state != DealState.Live || period >= d.voidFrom) revert WrongDealState(dealId, d.state);
            Audit storage a = _audits[dealId];
            if (a.bond != 0) revert AuditOpen(dealId, a.period);
            uint256 slash = _take(p, _collateral(d) * DECLARED_SLASH_BPS / BPS);
            burned += slash;
            d.state = DealState.Declared;
            d.voidFrom = uint32(period > d.startPeriod ? period : d.startPeriod);
            emit DealDeclaredLost(dealId, msg.sender, period, slash);
            _settle(dealId, d, p);
        }
        _burn(burned);
    }

    /// @notice Settles `dealIds` (anyone may call): each closed period of a deal's term since the last claim pays
    ///         its price to the provider if the provider proved that period on time, and refunds it to the client
    ///         otherwise. A deal with maxMissedPeriods periods in its term not proven on time fails; a deal whose term is over
    ///         and whose provider has answered all of its challenges leaves the books (collateral unlocked).
    ///         Settled deals are skipped, so a claim can be repeated safely.
    function claim(uint256[] calldata dealIds) external {
        for (uint256 i = 0; i < dealIds.length; i++) {
            Deal storage d = _deal(dealIds[i]);
            if (d.paidFrom == SETTLED) continue;
            _settle(dealIds[i], d, _providers[providerAddress[d.providerId]]);
        }
    }

    // ---------------------------------------------------------------- proofs

    /// @notice Stores the seed of `period` while its challenge block's hash is readable (256 blocks). The first
    ///         proof of the period stores it too; this exists for periods nobody proves in time, so that a
    ///         provider that skips a period still answers that period's challenges.
    function commitSeed(uint256 period) external returns (bytes32) {
        return bytes32(_seed(period));
    }

    /// @notice Answers chunk `chunk` (challenges [chunk·CHALLENGES_PER_CHUNK, …) of K) of the caller's due period.
    ///         The due period is the oldest one not yet answered: a period missed stays due (with its own seed)
    ///         until answered. When every chunk is in, the period is proven; if that happens before the period
    ///         closes, every deal live in it is paid for it (at `claim`).
    /// @param period The caller's due period (`getProvider(...).due`).
    /// @param chunk The chunk index.
    /// @param proof Per challenge: uint32 dealId hint (big-endian; FAULT_FLAG set = cannot answer), then, unless
    ///        the hinted deal is void in `period` or the flag is set, the deal's uint32 slot, the leaf (64 bytes),
    ///        the deal's `depth` siblings and the slot's siblings in the snapshot's super-tree (`superRootOf`).
    function prove(uint256 period, uint256 chunk, bytes calldata proof) external nonReentrant {
        Provider storage p = _registered(msg.sender);
        if (p.weightEnd == 0) revert NothingDue(msg.sender);
        if (period != p.due) revert NotDuePeriod(period, p.due);
        uint256 cb = challengeBlock(period);
        if (block.number <= cb) revert ChallengeBlockNotMined(period, cb);
        (uint256 checkpoint, uint256 packed) = _checkpointAt(p.id, p.lastCheckpoint, period);
        uint256 weight = uint48(packed >> 32);
        uint256 k = challengeCountFor(weight);
        uint256 chunks = (k + CHALLENGES_PER_CHUNK - 1) / CHALLENGES_PER_CHUNK;
        if (chunk >= chunks) revert BadChunk(chunk, chunks);
        uint256 done = p.chunksDone;
        if (done & (1 << chunk) != 0) revert ChunkAlreadyProven(period, chunk);
        uint256 seed = _seed(period);
        uint256 end = (chunk + 1) * CHALLENGES_PER_CHUNK;
        if (end > k) end = k;
        Snapshot memory s = Snapshot(seed, weight, packed >> 80, _snapshotRoot(p.id, checkpoint, packed >> 80));
        uint256 used = _answer(p, msg.sender, period, s, chunk * CHALLENGES_PER_CHUNK, end, proof);
        if (used != proof.length) revert BadProofLength(used, proof.length);
        done |= 1 << chunk;
        if (done == (chunks == MAX_CHUNKS ? type(uint256).max : (1 << chunks) - 1)) {
            bool onTime = block.number < periodStartBlock(period + 1);
            if (onTime) _provenBits[p.id][period >> 8] |= 1 << (period & 0xff);
            p.due = uint32(period + 1);
            p.chunksDone = 0;
            emit PeriodProven(msg.sender, period, onTime);
        } else {
            p.chunksDone = done;
            emit ChunkProven(msg.sender, period, chunk);
        }
    }

    /// @notice Marks a closed period the provider did not prove on time (anyone may call): slashBps of the
    ///         provider's locked collateral is slashed, reporterBps of it to the caller, the rest burned. The
    ///         period stays due until the provider answers it; it pays no deal.
    function markMissed(address provider, uint256 period) external nonReentrant {
        Provider storage p = _registered(provider);
        if (p.firstPeriod == 0 || period < p.firstPeriod) revert PeriodBeforeProvider(provider, period);
        uint256 closesAt = periodStartBlock(period + 1);
        if (block.number < closesAt) revert PeriodNotClosed(period, closesAt);
        uint256 bit = 1 << (period & 0xff);
        if (_provenBits[p.id][period >> 8] & bit != 0) revert PeriodAlreadyProven(provider, period);
        uint256 missed = _missedBits[p.id][period >> 8];
        if (missed & bit != 0) revert PeriodAlreadyMissed(provider, period);
        _missedBits[p.id][period >> 8] = missed | bit;
        uint256 slashed = _take(p, uint256(p.locked) * slashBps / BPS);
        uint256 reward = slashed * reporterBps / BPS;
        withdrawable[msg.sender] += reward;
        emit PeriodMissed(provider, period, msg.sender, slashed, reward);
        _burn(slashed - reward);
    }

    // ---------------------------------------------------------------- audits

    /// @notice Asks for a full AUDIT_CHALLENGES-leaf check of one of the caller's deals, answered in the next
    ///         period with that period's seed. Deposits `auditBond` (approve the market first): it pays the
    ///         provider's gas if answered and comes back with a reward (reporterBps of the slash) if not.
    function requestAudit(uint256 dealId) external nonReentrant {
        Deal storage d = _deal(dealId);
        if (msg.sender != d.client) revert NotClient(dealId, msg.sender);
        uint256 period = currentPeriod() + 1;
        if (d.state != DealState.Live || d.paidFrom == SETTLED) revert WrongDealState(dealId, d.state);
        if (period >= d.voidFrom) revert AuditPastTerm(dealId, period, d.voidFrom);
        Audit storage a = _audits[dealId];
        if (a.bond != 0) revert AuditOpen(dealId, a.period);
        uint256 bond = auditBond;
        if (bond == 0) bond = 1; // a zero bond would read as "no audit"
        a.period = uint32(period);
        a.bond = uint128(bond);
        _pull(msg.sender, bond);
        emit AuditRequested(dealId, msg.sender, period, bond);
    }

    /// @notice Answers an open audit in its period's proof window with AUDIT_CHALLENGES items (leaf ‖ siblings),
    ///         leaf j = keccak256(abi.encode(auditSeed(dealId, period), j)) % leafCount. The bond goes to the caller.
    function answerAudit(uint256 dealId, bytes calldata proof) external nonReentrant {
        Deal storage d = _deal(dealId);
        address provider = providerAddress[d.providerId];
        if (msg.sender != provider) revert NotProvider(dealId, msg.sender);
        Audit memory a = _audits[dealId];
        if (a.bond == 0) revert NoAudit(dealId);
        uint256 first = challengeBlock(a.period) + 1;
        uint256 last = periodStartBlock(uint256(a.period) + 1) - 1;
        if (block.number < first || block.number > last) revert AuditWindowClosed(dealId, first, last);
        bytes32 seed = keccak256(abi.encode(bytes32(_seed(a.period)), AUDIT_TAG, dealId));
        uint256 itemLen = MerkleVerifier.itemLength(d.depth);
        if (proof.length != AUDIT_CHALLENGES * itemLen) revert BadProofLength(AUDIT_CHALLENGES * itemLen, proof.length);
        for (uint256 j = 0; j < AUDIT_CHALLENGES; j++) {
            uint256 item = j * itemLen;
            bytes32 h = MerkleVerifier.leafHash(proof[item:item + 64]);
            h = MerkleVerifier.climb(h, proof[item + 64:item + itemLen], MerkleVerifier.challengeIndex(seed, j, d.leafCount));
            if (h != d.root) revert InvalidProof(j, dealId);
        }
        delete _audits[dealId];
        withdrawable[provider] += a.bond;
        emit AuditAnswered(dealId, provider, a.period);
    }

    /// @notice Settles an audit its provider let pass (anyone may call, after its period closed): the deal
    ///         faults with its full collateral slashed; the client gets the bond back plus reporterBps of the slash.
    function failAudit(uint256 dealId) external nonReentrant {
        Deal storage d = _deal(dealId);
        Audit memory a = _audits[dealId];
        if (a.bond == 0) revert NoAudit(dealId);
        uint256 deadline = periodStartBlock(uint256(a.period) + 1);
        if (block.number < deadline) revert AuditNotExpired(dealId, deadline);
        delete _audits[dealId];
        Provider storage p = _providers[providerAddress[d.providerId]];
        uint256 slashed;
        uint256 reward;
        if (d.paidFrom != SETTLED) {
            slashed = _take(p, _faultSlash(d));
            reward = slashed * reporterBps / BPS;
            if (d.state == DealState.Live || d.state == DealState.Declared) d.state = DealState.Faulted;
            uint256 now_ = currentPeriod();
            if (now_ < d.voidFrom) d.voidFrom = uint32(now_ > d.startPeriod ? now_ : d.startPeriod);
        }
        withdrawable[d.client] += uint256(a.bond) + reward;
        emit AuditFailed(dealId, d.client, slashed, reward);
        if (d.paidFrom != SETTLED) _settle(dealId, d, p);
        _burn(slashed - reward);
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
    function hashOffer(Offer calldata offer) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(OFFER_TYPEHASH, offer)));
    }

    /// @notice Whether `nonce` of `provider` is used or cancelled.
    function nonceUsed(address provider, uint256 nonce) external view returns (bool) {
        return _nonces[provider].get(nonce);
    }

    function currentPeriod() public view returns (uint256) {
        return (block.number - genesisBlock) / periodBlocks;
    }

    function periodStartBlock(uint256 period) public view returns (uint256) {
        return genesisBlock + period * periodBlocks;
    }

    function challengeBlock(uint256 period) public view returns (uint256) {
        return periodStartBlock(period) + challengeDelayBlocks;
    }

    /// @notice K for a proof set of `weight` leaves: 0 when empty, else max(K_MIN, ⌈LAMBDA × weight / TiB⌉).
    function challengeCountFor(uint256 weight) public pure returns (uint256) {
        if (weight == 0) return 0;
        uint256 k = (LAMBDA * weight + TIB_LEAVES - 1) / TIB_LEAVES;
        return k < K_MIN ? K_MIN : k;
    }

    /// @notice The weight of `provider`'s proof set frozen for `period`: deals opened before `period` began.
    function snapshotWeight(address provider, uint256 period) public view returns (uint256) {
        Provider storage p = _providers[provider];
        (, uint256 packed) = _checkpointAt(p.id, p.lastCheckpoint, period);
        return uint48(packed >> 32);
    }

    /// @notice The super-root `provider`'s challenges of `period` are checked against, and its number of deals
    ///         (slots): the Merkle root over nodeHash(dealId, deal root) of its first `slots` deals in the order
    ///         they opened, padded with zero subtrees to depth ⌈log2 slots⌉. Final once `period` has begun.
    function superRootOf(address provider, uint256 period) external view returns (bytes32 root, uint256 slots) {
        Provider storage p = _providers[provider];
        (uint256 checkpoint, uint256 packed) = _checkpointAt(p.id, p.lastCheckpoint, period);
        slots = packed >> 80;
        if (slots == 0) return (0, 0);
        root = _superRoots[p.id][checkpoint];
        if (root == 0) root = _rootOf(p.id, slots);
    }

    /// @notice The network seed of `period`: stored, or derived from the challenge block's hash if readable.
    function seedOf(uint256 period) public view returns (bytes32) {
        uint256 stored = _seedRing[period % SEED_RING];
        if (stored != 0 && uint32(stored) == uint32(period)) return bytes32(stored);
        uint256 cb = challengeBlock(period);
        bytes32 h = cb < block.number ? blockhash(cb) : bytes32(0);
        if (h == bytes32(0)) revert SeedUnavailable(period, cb);
        return bytes32(_seedWord(h, period));
    }

    /// @notice Challenge i of a proof set of `weight` under `seed`: keccak256(abi.encode(seed, provider, i)) % weight.
    function challengeIndex(bytes32 seed, address provider, uint256 i, uint256 weight) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, provider, i))) % weight;
    }

    function getDeal(uint256 dealId) external view returns (DealInfo memory info) {
        Deal storage d = _deal(dealId);
        uint256 weight = d.leafCount > MIN_WEIGHT ? d.leafCount : MIN_WEIGHT;
        bool settled = d.paidFrom == SETTLED;
        info = DealInfo({
            provider: providerAddress[d.providerId],
            client: d.client,
            root: d.root,
            leafCount: d.leafCount,
            depth: d.depth,
            state: d.state,
            settled: settled,
            rangeStart: d.rangeStart,
            weight: uint64(weight),
            startPeriod: d.startPeriod,
            endPeriod: d.endPeriod,
            voidFrom: d.voidFrom,
            paidFrom: d.paidFrom,
            missed: d.missed,
            pricePerPeriod: d.pricePerPeriod,
            collateral: _collateral(d),
            escrow: settled ? 0 : uint256(d.pricePerPeriod) * (d.endPeriod - d.paidFrom)
        });
    }

    function getProvider(address provider) external view returns (ProviderInfo memory) {
        Provider storage p = _registered(provider);
        return ProviderInfo({
            id: p.id,
            stake: p.stake,
            locked: p.locked,
            weight: p.weightEnd,
            due: p.due,
            firstPeriod: p.firstPeriod,
            chunksDone: p.chunksDone,
            maxTermPeriods: p.maxTermPeriods,
            unsettledDeals: p.unsettledDeals,
            peerId: p.peerId
        });
    }

    /// @notice 0 open, 1 proven on time, 2 marked missed.
    function periodStatus(address provider, uint256 period) external view returns (uint8) {
        uint32 id = _providers[provider].id;
        uint256 bit = 1 << (period & 0xff);
        if (_provenBits[id][period >> 8] & bit != 0) return 1;
        if (_missedBits[id][period >> 8] & bit != 0) return 2;
        return 0;
    }

    function getAudit(uint256 dealId) external view returns (uint32 period, uint128 bond) {
        Audit storage a = _audits[dealId];
        return (a.period, a.bond);
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

    function _checkPeerId(string calldata peerId) private pure {
        uint256 n = bytes(peerId).length;
        if (n == 0 || n > MAX_PEER_ID_BYTES) revert InvalidPeerId(n);
    }

    function _checkOffer(Offer calldata offer, bytes calldata signature) private returns (uint256 escrow) {
        if (msg.sender != offer.client) revert NotClient(0, msg.sender);
        if (block.timestamp > offer.expiry) revert OfferExpired(offer.expiry, block.timestamp);
        if (offer.size == 0 || offer.size > MAX_DEAL_SIZE) revert InvalidOfferSize(offer.size);
        if (offer.periods == 0) revert InvalidOfferPeriods();
        if (offer.pricePerPeriod > type(uint80).max) revert PriceTooHigh(offer.pricePerPeriod);
        BitMaps.BitMap storage nonces = _nonces[offer.provider];
        if (nonces.get(offer.nonce)) revert NonceUsed(offer.provider, offer.nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(offer.provider, hashOffer(offer), signature)) {
            revert InvalidSignature(offer.provider);
        }
        nonces.set(offer.nonce);
        escrow = offer.pricePerPeriod * offer.periods;
    }

    function _endRun(Provider storage p, uint256 start, uint256 opened, uint256 slots) private {
        p.unsettledDeals += uint32(opened);
        _checkpoint(p, start, slots);
    }

    /// @dev Records that `p.weightEnd` and `slots` deals are the proof set from period `start` on. Packed:
    ///      slots << 80 | weight end << 32 | previous checkpoint.
    function _checkpoint(Provider storage p, uint256 start, uint256 slots) private {
        if (challengeCountFor(p.weightEnd) > MAX_CHUNKS * CHALLENGES_PER_CHUNK) revert ProofSetTooLarge(providerAddress[p.id], p.weightEnd);
        uint256 last = p.lastCheckpoint;
        uint256 packed = (slots << 80) | (uint256(p.weightEnd) << 32);
        if (last == start) {
            packed |= _checkpoints[p.id][start] & 0xffffffff;
        } else {
            packed |= last;
            p.lastCheckpoint = uint32(start);
        }
        _checkpoints[p.id][start] = packed;
    }

    /// @dev The newest checkpoint at or before `period` (walking back from `checkpoint`) and its packed word;
    ///      (0, 0) before the provider's first deals.
    function _checkpointAt(uint32 id, uint256 checkpoint, uint256 period) private view returns (uint256, uint256 packed) {
        while (checkpoint != 0) {
            packed = _checkpoints[id][checkpoint];
            if (checkpoint <= period) return (checkpoint, packed);
            checkpoint = uint32(packed);
        }
        return (0, 0);
    }

    /// @dev Before a run of deals joining at `start`: freezes the super-root of the provider's newest snapshot if
    ///      that snapshot has begun (no deal can join it any more), and returns the provider's deal count.
    function _openSnapshot(Provider storage p, uint256 start) private returns (uint256 slots) {
        uint256 last = p.lastCheckpoint;
        if (last == 0) return 0;
        slots = _checkpoints[p.id][last] >> 80;
        if (last < start) _snapshotRoot(p.id, last, slots);
    }

    /// @dev The super-root of the snapshot starting at `checkpoint` (of `slots` deals), computed and stored on
    ///      first use. Called only once that snapshot's period has begun, so no deal can still join it.
    function _snapshotRoot(uint32 id, uint256 checkpoint, uint256 slots) private returns (bytes32 root) {
        root = _superRoots[id][checkpoint];
        if (root == 0) {
            root = _rootOf(id, slots);
            _superRoots[id][checkpoint] = root;
        }
    }

    /// @dev Appends `leaf` as the (count+1)-th leaf of provider `id`'s super-tree (eth2 deposit contract insert).
    function _insert(uint32 id, uint256 count, bytes32 leaf) private {
        uint256 size = count + 1;
        for (uint256 h = 0;; h++) {
            if (size & 1 == 1) {
                _branch[id][h] = leaf;
                return;
            }
            leaf = MerkleVerifier.nodeHash(_branch[id][h], leaf);
            size >>= 1;
        }
    }

    /// @dev Root of the first `slots` (≥ 1) leaves of provider `id`'s super-tree, padded with zero subtrees to
    ///      depth ⌈log2 slots⌉; valid while the tree holds exactly `slots` leaves.
    function _rootOf(uint32 id, uint256 slots) private view returns (bytes32 node) {
        uint256 depth = Math.log2(slots, Math.Rounding.Ceil);
        if (slots == 1 << depth) return _branch[id][depth];
        bytes32 zero;
        for (uint256 h = 0; h < depth; h++) {
            node = (slots >> h) & 1 == 1 ? MerkleVerifier.nodeHash(_branch[id][h], node) : MerkleVerifier.nodeHash(node, zero);
            zero = MerkleVerifier.nodeHash(zero, zero);
        }
    }

    /// @dev A deal's leaf in its provider's super-tree: binds the deal id, so a slot sent with a proof is checked
    ///      by the path itself and need not be stored in the deal.
    function _superLeaf(uint256 dealId, bytes32 root) private view returns (bytes32) {
        return MerkleVerifier.nodeHash(bytes32(dealId), root);
    }

    function _seedWord(bytes32 h, uint256 period) private pure returns (uint256) {
        return (uint256(keccak256(abi.encode(h, period))) & ~uint256(0xffffffff)) | uint32(period);
    }

    function _seed(uint256 period) private returns (uint256) {
        uint256 slot = period % SEED_RING;
        uint256 stored = _seedRing[slot];
        if (stored != 0 && uint32(stored) == uint32(period)) return stored;
        uint256 cb = challengeBlock(period);
        bytes32 h = cb < block.number ? blockhash(cb) : bytes32(0);
        if (h == bytes32(0)) revert SeedUnavailable(period, cb);
        uint256 seed = _seedWord(h, period);
        _seedRing[slot] = seed;
        emit SeedCommitted(period, bytes32(seed));
        return seed;
    }

    /// @dev What a period's challenges are drawn over and checked against.
    struct Snapshot {
        uint256 seed;
        uint256 weight;
        uint256 slots;
        bytes32 root;
    }

    /// @dev Checks challenges [from, to) of `period`; returns the proof bytes consumed.
    function _answer(
        Provider storage p,
        address provider,
        uint256 period,
        Snapshot memory s,
        uint256 from,
        uint256 to,
        bytes calldata proof
    ) private returns (uint256 pos) {
        uint32 id = p.id;
        uint256 superDepth = Math.log2(s.slots, Math.Rounding.Ceil);
        for (uint256 i = from; i < to; i++) {
            uint256 idx = challengeIndex(bytes32(s.seed), provider, i, s.weight);
            if (pos + 4 > proof.length) revert BadProofLength(pos + 4, proof.length);
            uint256 hint = uint32(bytes4(proof[pos:pos + 4]));
            pos += 4;
            uint256 dealId = hint & ~uint256(FAULT_FLAG);
            Deal storage d = _deals[dealId];
            uint256 start = d.rangeStart;
            uint256 leafCount = d.leafCount;
            uint256 w = leafCount > MIN_WEIGHT ? leafCount : MIN_WEIGHT;
            if (d.providerId != id || idx < start || idx >= start + w) revert HintOutOfRange(i, dealId, idx);
            if (period >= d.voidFrom) continue;
            if (hint & FAULT_FLAG != 0) {
                _fault(dealId, d, p, provider, period);
                continue;
            }
            // slot (4) ‖ leaf (64) ‖ the deal's `depth` siblings ‖ the slot's `superDepth` siblings
            uint256 depth = d.depth;
            uint256 superAt = pos + 68 + 32 * depth;
            uint256 next = superAt + 32 * superDepth;
            if (next > proof.length) revert BadProofLength(next, proof.length);
            uint256 slot = uint32(bytes4(proof[pos:pos + 4]));
            bytes32 h = MerkleVerifier.climb(MerkleVerifier.leafHash(proof[pos + 4:pos + 68]), proof[pos + 68:superAt], (idx - start) * leafCount / w);
            h = MerkleVerifier.climb(_superLeaf(dealId, h), proof[superAt:next], slot);
            if (slot >= s.slots || h != s.root) revert InvalidProof(i, dealId);
            pos = next;
        }
    }

    function _fault(uint256 dealId, Deal storage d, Provider storage p, address provider, uint256 period) private {
        uint256 slashed = _take(p, _faultSlash(d));
        d.state = DealState.Faulted;
        d.voidFrom = uint32(period);
        Audit storage a = _audits[dealId];
        if (a.bond != 0) {
            // The fault answers the audit: the client's bond comes back.
            withdrawable[d.client] += a.bond;
            delete _audits[dealId];
        }
        emit DealFaulted(dealId, provider, period, slashed);
        _settle(dealId, d, p);
        _burn(slashed);
    }

    /// @dev Collateral still to slash for a detected fault: all of it, less a declaration's part already taken.
    function _faultSlash(Deal storage d) private view returns (uint256) {
        if (d.paidFrom == SETTLED) return 0;
        uint256 c = _collateral(d);
        if (d.state == DealState.Live) return c;
        if (d.state == DealState.Declared) return c - c * DECLARED_SLASH_BPS / BPS;
        return 0;
    }

    function _collateral(Deal storage d) private view returns (uint256) {
        return uint256(d.pricePerPeriod) * (d.endPeriod - d.startPeriod) * collateralBps / BPS;
    }

    /// @dev Takes up to `amount` from the provider's stake (a slash); returns what was taken.
    function _take(Provider storage p, uint256 amount) private returns (uint256) {
        if (amount > p.stake) amount = p.stake;
        p.stake -= uint128(amount);
        return amount;
    }

    /// @dev Pays or refunds the deal's closed periods since `paidFrom`; fails it at the maxMissedPeriods-th miss;
    ///      takes it off the books once nothing about it can change.
    function _settle(uint256 dealId, Deal storage d, Provider storage p) private {
        uint256 from = d.paidFrom;
        uint256 limit = d.voidFrom;
        uint256 end = d.endPeriod;
        uint256 now_ = currentPeriod();
        uint256 upTo = now_ < limit ? now_ : limit;
        uint256 price = d.pricePerPeriod;
        uint256 paid;
        uint256 refunded;
        if (upTo > from) {
            uint32 id = d.providerId;
            uint256 proven = _countBits(_provenBits[id], from, upTo);
            if (d.state == DealState.Live) {
                // Every closed period not proven on time is a miss of the deal, marked or not: a claim
                // that runs before the watchers cannot hide a dead provider.
                uint256 misses = upTo - from - proven;
                if (d.missed + misses >= maxMissedPeriods) {
                    misses = maxMissedPeriods - d.missed;
                    upTo = _nthZero(_provenBits[id], from, misses) + 1;
                    proven = _countBits(_provenBits[id], from, upTo);
                    limit = upTo;
                    d.voidFrom = uint32(upTo);
                    d.state = DealState.Failed;
                    emit DealFailed(dealId, providerAddress[id], maxMissedPeriods);
                }
                d.missed = uint8(d.missed + misses);
            }
            paid = price * proven;
            refunded = price * (upTo - from - proven);
            from = upTo;
        }
        // A deal void before its end gets the rest of its escrow back at once; only its collateral waits.
        if (from >= limit && from < end) {
            refunded += price * (end - from);
            from = end;
        }
        // Collateral is released once the provider has answered every challenge that could land on the deal.
        bool final_ = from == end && p.due >= limit && _audits[dealId].bond == 0;
        if (final_) {
            p.locked -= uint128(_collateral(d));
            p.unsettledDeals--;
            if (d.state == DealState.Live) d.state = DealState.Ended;
            d.paidFrom = SETTLED;
        } else {
            d.paidFrom = uint32(from);
        }
        if (paid > 0) withdrawable[providerAddress[d.providerId]] += paid;
        if (refunded > 0) withdrawable[d.client] += refunded;
        if (final_) emit DealSettled(dealId, d.state, paid, refunded);
        else if (paid > 0 || refunded > 0) emit Claimed(dealId, paid, refunded, uint32(from));
    }

    /// @dev Set bits of periods [from, to) in a period bitmap.
    function _countBits(mapping(uint256 => uint256) storage bits, uint256 from, uint256 to)
        private
        view
        returns (uint256 n)
    {
        for (uint256 w = from >> 8; w <= (to - 1) >> 8; w++) {
            uint256 x = bits[w];
            if (x == 0) continue;
            uint256 lo = w << 8;
            if (from > lo) x &= ~uint256(0) << (from - lo);
            if (to < lo + 256) x &= (uint256(1) << (to - lo)) - 1;
            n += _popcount(x);
        }
    }

    /// @dev The period of the n-th (1-based) clear bit at or after `from`; the caller knows it exists.
    function _nthZero(mapping(uint256 => uint256) storage bits, uint256 from, uint256 n) private view returns (uint256 q) {
        for (q = from;; q++) {
            if (bits[q >> 8] & (1 << (q & 0xff)) == 0) {
                if (--n == 0) return q;
            }
        }
    }

    function _popcount(uint256 x) private pure returns (uint256) {
        unchecked {
            x -= (x >> 1) & 0x5555555555555555555555555555555555555555555555555555555555555555;
            x = (x & 0x3333333333333333333333333333333333333333333333333333333333333333)
                + ((x >> 2) & 0x3333333333333333333333333333333333333333333333333333333333333333);
            x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f;
            x = (x + (x >> 8)) & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff;
            return (x * 0x0001000100010001000100010001000100010001000100010001000100010001) >> 240;
        }
    }

    function _burn(uint256 amount) private {
        if (amount > 0) token.safeTransfer(BURN_ADDRESS, amount);
    }

    /// @dev Takes `amount` from `from`, refusing tokens that deliver less (fee-on-transfer).
    function _pull(address from, uint256 amount) private {
        if (amount == 0) return;
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedToken(amount, received);
    }
}
