"""Protocol versions: the rules a block executes under.

Every block executes under one version, fixed by its height: the genesis
names the version from height 1 (absent: version 1), and the council will
be able to schedule a later one at a height. Audit and repair replay each
block under its own version, so changing a rule never breaks an old ledger:
a change adds a version here with the switch it flips, and the rules read
the switch from the `Rules` they are given.

Version 1 is the first ledger's: a rejected transaction changes nothing, not
even its signer's sequence number, and a validator's vote signs the block
and the state digest only.

Version 2 makes results part of what validators sign: its vote (kind
`tally-block-vote-v2`) and certificate carry the Merkle root over every
transaction's index, id, result code and the key its signature was checked
against, so a receipt proves the outcome, not only the inclusion.

Version 3 makes retries money-safe. A transaction whose envelope holds
(chain, expiry, signer, signature, sequence) consumes its sequence number
even when a rule then rejects it, as account-based ledgers do, so a client's
next transaction is never stranded behind a refused one; envelope failures
still change nothing. And every value-moving type but `pay` (whose payment
id is its key) carries a client reference `ref`, unique per signer: a second
use is rejected `duplicate_ref`, naming the transaction that used it.

Version 4 adds consumer-presented payment codes: a holder opens a one-time
code (`open_code`: an asset and a limit, good for three minutes of block
time) and a merchant charges it once (`charge`). A transaction type names the
version it arrives in (`Operation.since`); under an earlier version it is
rejected `type_not_supported`, changing nothing but its signer's seq.

Version 5 adds governance (docs/governance.md). The genesis members form a
council whose proposals pass with M of N votes (`propose`, `vote`); assets
start `proposed` and become `active` when the council approves them, and
their outstanding value stays within a quota. Roles add auditor and
regulator, and each transaction type's roles are enforced with the stable
code `wrong_role` (before: `not_authorized`). Accounts and assets can be
frozen, accounts carry limits (largest payment, daily outgoing total, balance
cap), and keys can be rotated or recovered by the registering member after a
delay. The genesis state holds the council's parameters (`params/council`).

Version 6 makes the validator set ledger state (core/validators.py). The
council adds and removes validators from a stated height, at least
`VALIDATOR_NOTICE_BLOCKS` after the block that decides it; the genesis state
holds the schedule (`validators/schedule`), and every block's results tree
gains one last leaf, the schedule as that block leaves it, so a certificate
proves the set and a light client follows its changes from the genesis.

Version 7 adds the merchant registry (docs/merchants.md): `set_merchant`,
signed by the member that registered a merchant, records its category (an
ISO 18245 MCC), region, location, business registration number and the
assets it accepts; the node's directory answers "merchants near this point
that accept this asset".

Version 8 adds asset policies (core/policy.py, docs/issuers.md): where an
asset may be spent (merchant categories and regions), until when, how much
a holder may hold and receive a month, who may pay whom, cash-out fees, the
holder's remainder refund, local currency sold at a discount out of a
budget account, and the voucher-cashing guard (merchants' monthly cash-out
caps and flags). Each refusal names its rule with a stable code.

Version 9 adds lots (core/lots.py): value of an asset whose policy has a
lot lifetime or an end is held by holders as lots, each with its expiry;
spending takes the lot that expires first, and at the start of every block
the expired remainders go back to the issuer or are burned, at most
`MAX_SWEEP_CHUNKS` chunks of holders a block.

Version 10 adds rewards (core/ops/incentives.py, core/ops/coupons.py): an
issuer's incentive rules pay cashback on the payments they match, out of a
budget account, clawed back in proportion by refunds; and the coupon mall,
where an issuer lists coupons priced in points with a stock and a validity,
a holder buys one and uses it once at one of its merchants.

Version 11 adds financial roaming (core/rates.py, core/settlement.py,
docs/settlement.md): issuers publish rates within the council's bounds,
holders exchange one programme's asset for another's and pay a partner's
merchant with their own (`exchange`, `pay_roaming`), every such movement is
an obligation between the two members in the settlement currency, and
settlement windows net them and settle them in a prefunded settlement asset
or through the members' banks (ISO 20022 files, acknowledgements).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .types import Genesis


@dataclass(frozen=True, slots=True)
class Rules:
    version: int
    certify_results: bool  # votes and certificates carry the results root (version 2 on)
    rejected_consumes_seq: bool  # a rule rejection still advances the signer's seq (version 3 on)
    client_refs: bool  # value-moving types carry a `ref`, unique per signer (version 3 on)
    governance: bool = False  # council, quotas, roles, freezes, limits and key recovery (version 5 on)
    validator_changes: bool = False  # the validator set is ledger state, certified in every block (version 6 on)
    merchant_registry: bool = False  # set_merchant and the directory (version 7 on)
    asset_policy: bool = False  # asset policies, local-currency sales and the voucher-cashing guard (version 8 on)
    lots: bool = False  # holders' lots with expiries, swept at the start of each block (version 9 on)
    rewards: bool = False  # incentive rules (cashback) and the coupon mall (version 10 on)
    settlement: bool = False  # rates, exchange, roaming payments, obligations and settlement (version 11 on)


_V5 = Rules(version=5, certify_results=True, rejected_consumes_seq=True, client_refs=True, governance=True)
_V6 = replace(_V5, version=6, validator_changes=True)  # each version from 5 on: the one before, one switch more

PROTOCOLS: dict[int, Rules] = {
    1: Rules(version=1, certify_results=False, rejected_consumes_seq=False, client_refs=False),
    2: Rules(version=2, certify_results=True, rejected_consumes_seq=False, client_refs=False),
    3: Rules(version=3, certify_results=True, rejected_consumes_seq=True, client_refs=True),
    4: Rules(version=4, certify_results=True, rejected_consumes_seq=True, client_refs=True),
    5: _V5,
    6: _V6,
}
_SWITCHES = ((7, "merchant_registry"), (8, "asset_policy"), (9, "lots"), (10, "rewards"), (11, "settlement"))
for _version, _switch in _SWITCHES:
    PROTOCOLS[_version] = replace(PROTOCOLS[_version - 1], version=_version, **{_switch: True})
LATEST = max(PROTOCOLS)


class UnknownProtocol(Exception):
    """A block or genesis names a protocol version this build does not have."""


def version_at(genesis: Genesis, height: int) -> int:
    """The protocol version of the block at `height` (the one place that says)."""
    assert height >= 1
    return genesis.protocol if isinstance(genesis.protocol, int) else 1


def rules_for(version: int) -> Rules:
    rules = PROTOCOLS.get(version)
    if rules is None:
        raise UnknownProtocol(f"protocol version {version} is not known to this build (latest {LATEST})")
    return rules
