"""Consumer-presented payment codes: the ledger enforces single use, the limit and the expiry.

Every Chain block also checks conservation per asset and no negative balance
(helpers.Chain.block); these tests check the rest of the money rules for
`open_code` and `charge`: exactly once, all or nothing, signed by the right
roles, and only from the protocol version that has them.
"""

from __future__ import annotations

import msgspec

from helpers import Chain, key, setup_chain
from tally.core.errors import Code
from tally.core.ops.codes import CODE_TTL_MS
from tally.core.tables import PAY_CODES, PAYMENTS
from tally.core.types import PayCode, Payment

CODE = "40817365092214738850"
OTHER = "12345678901234567890"


def opened(limit_minor: int = 300, code: str = CODE, asset: str = "MILES") -> Chain:
    c = setup_chain()
    assert c.one(c.signer("alice").open_code(code, asset, limit_minor)).code == "ok"
    return c


def test_open_code_records_holder_limit_and_expiry_from_block_time() -> None:
    c = opened()
    record = c.state_read(PAY_CODES, CODE)
    assert isinstance(record, PayCode)
    assert (record.holder, record.asset, record.limit_minor, record.charged_txid) == ("alice", "MILES", 300, "")
    assert record.expires_ms == c.head.timestamp_ms + CODE_TTL_MS
    assert c.balance("alice", "MILES") == 1000  # opening moves nothing


def test_charge_moves_value_once_and_records_a_refundable_payment() -> None:
    c = opened()
    cafe = c.signer("cafe")
    result = c.one(cafe.charge(CODE, 250, "order-1"))
    assert result.code == "ok"
    assert (c.balance("alice", "MILES"), c.balance("cafe", "MILES")) == (750, 250)
    assert c.state_read(PAY_CODES, CODE).charged_txid == result.txid  # type: ignore[union-attr]
    payment = c.state_read(PAYMENTS, "cafe", "order-1")
    assert isinstance(payment, Payment) and payment.payer == "alice" and payment.txid == result.txid
    assert "alice" in c.parties[0] and "cafe" in c.parties[0]  # both histories list it
    again = c.one(cafe.charge(CODE, 1, "order-2"))
    assert again.code == Code.CODE_USED and result.txid in again.message
    assert c.one(c.signer("shop").charge(CODE, 1, "order-3")).code == Code.CODE_USED
    assert (c.balance("alice", "MILES"), c.balance("cafe", "MILES"), c.balance("shop", "MILES")) == (750, 250, 0)
    assert c.one(cafe.refund("order-1", 100)).code == "ok"  # refunds work as for `pay`
    assert (c.balance("alice", "MILES"), c.balance("cafe", "MILES")) == (850, 150)


def test_two_charges_of_one_code_in_one_block_take_value_once() -> None:
    c = opened()
    results = c.block([c.signer("cafe").charge(CODE, 200, "a"), c.signer("shop").charge(CODE, 200, "b")])
    assert [r.code for r in results] == ["ok", Code.CODE_USED]
    assert c.balance("alice", "MILES") == 800


def test_limit_and_funds_are_checked_and_a_refused_charge_leaves_the_code_usable() -> None:
    c = opened(limit_minor=5000)
    cafe = c.signer("cafe")
    assert c.one(cafe.charge(CODE, 5001, "o1")).code == Code.OVER_CODE_LIMIT
    assert c.one(cafe.charge(CODE, 1001, "o2")).code == Code.INSUFFICIENT_FUNDS  # under the limit, over the balance
    assert c.state_read(PAY_CODES, CODE).charged_txid == ""  # type: ignore[union-attr]
    assert c.state_read(PAYMENTS, "cafe", "o2") is None
    assert c.one(cafe.charge(CODE, 1000, "o3")).code == "ok"
    assert c.balance("alice", "MILES") == 0


def test_a_code_expires_by_block_time() -> None:
    c = opened()
    record = c.state_read(PAY_CODES, CODE)
    assert record is not None
    c.now_ms = record.expires_ms  # the last block time it is good for
    assert c.one(c.signer("cafe").charge(CODE, 1, "in-time")).code == "ok"
    assert c.one(c.signer("alice").open_code(OTHER, "MILES", 10)).code == "ok"
    c.now_ms += CODE_TTL_MS + 1
    late = c.one(c.signer("cafe").charge(OTHER, 1, "late"))
    assert late.code == Code.CODE_EXPIRED
    assert c.balance("alice", "MILES") == 999


def test_who_may_open_and_charge() -> None:
    c = opened()
    assert c.one(c.signer("cafe").open_code(OTHER, "MILES", 1)).code == Code.WRONG_ROLE
    assert c.one(c.signer("bank-a").open_code(OTHER, "MILES", 1)).code == Code.WRONG_ROLE
    assert c.one(c.signer("bob").charge(CODE, 1, "x")).code == Code.WRONG_ROLE  # a holder cannot charge
    assert c.one(c.signer("bank-a").charge(CODE, 1, "x")).code == Code.WRONG_ROLE
    assert c.balance("alice", "MILES") == 1000


def test_unknown_duplicate_and_reused_payment_ids() -> None:
    c = opened()
    assert c.one(c.signer("cafe").charge(OTHER, 1, "x")).code == Code.UNKNOWN_CODE
    assert c.one(c.signer("bob").open_code(CODE, "MILES", 1)).code == Code.DUPLICATE_CODE  # another holder's code
    assert c.one(c.signer("bob").open_code(OTHER, "NOPE", 1)).code == Code.UNKNOWN_ASSET
    assert c.one(c.signer("alice").pay("MILES", "cafe", 5, "order-9")).code == "ok"
    dup = c.one(c.signer("cafe").charge(CODE, 5, "order-9"))
    assert dup.code == Code.DUPLICATE_PAYMENT
    assert c.state_read(PAY_CODES, CODE).charged_txid == ""  # type: ignore[union-attr]


def test_codes_arrive_in_protocol_4() -> None:
    """On a protocol 3 ledger both types are refused `type_not_supported`, consuming only the seq."""
    genesis = Chain().genesis
    c = Chain(genesis=msgspec.structs.replace(genesis, protocol=3))
    bank = c.signer("bank-a")
    assert c.one(bank.register_account("zoe", key("zoe").public_key_hex, "holder")).code == "ok"
    assert c.one(bank.create_asset("MILES", "Miles", "points", 0, True, "none")).code == "ok"
    before = dict(c.state.values)
    result = c.one(c.signer("zoe").open_code(CODE, "MILES", 1))
    assert result.code == Code.TYPE_NOT_SUPPORTED and "version 4" in result.message
    changed = {k for k in c.state.values if c.state.values[k] != before.get(k)}
    assert changed == {"acct/zoe"}  # the seq, nothing else
    assert c.state_read(PAY_CODES, CODE) is None
