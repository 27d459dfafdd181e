"""Consumer-presented payment codes (protocol 4): the holder shows a code, the merchant charges it.

The wallet makes 20 random digits and signs `open_code`: this code may take
up to `limit_minor` of one asset from me, once, within `CODE_TTL_MS` of
block time. It shows the digits as a QR and a barcode; the merchant's POS
scans them and signs `charge` for the amount due. The ledger keeps the code,
so single use, the limit and the expiry hold whatever the POS does: a second
charge is `code_used`, a late one `code_expired`, a larger one
`over_code_limit`. A charge is a payment like `pay` (same record, same
refunds), with the holder as payer.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import Code, ensure
from ..operation import Example, Operation, TxContext, require_asset
from ..policy import check_payment
from ..tables import MERCHANTS, PAY_CODES, PAYMENTS
from ..types import AmountMinor, AssetId, PayCode, PayCodeDigits, PaymentId, TxBase
from .payments import ensure_new_payment, record_payment

CODE_TTL_MS = 180_000  # a code is good for three minutes after the block that opened it
CODES_SINCE = 4  # the protocol version codes arrive in


class OpenCode(TxBase, frozen=True, tag="open_code"):
    """A holder opens a one-time payment code for a merchant to charge, up to a limit."""

    code: PayCodeDigits
    asset: AssetId
    limit_minor: AmountMinor


class Charge(TxBase, frozen=True, tag="charge"):
    """A merchant charges a holder's payment code, once, up to its limit."""

    code: PayCodeDigits
    amount_minor: AmountMinor
    payment_id: PaymentId


def open_code(c: TxContext, tx: OpenCode) -> None:
    require_asset(c.view, tx.asset)
    ensure(c.view.read(PAY_CODES, tx.code) is None, Code.DUPLICATE_CODE, "code {} was opened before", tx.code)
    c.view.put(
        PAY_CODES.key(tx.code),
        PayCode(
            code=tx.code,
            holder=c.signer.id,
            asset=tx.asset,
            limit_minor=tx.limit_minor,
            expires_ms=c.block.timestamp_ms + CODE_TTL_MS,
            opened_txid=c.txid,
        ),
    )


def _usable_code(c: TxContext, tx: Charge) -> PayCode:
    code = c.view.read(PAY_CODES, tx.code)
    ensure(code is not None, Code.UNKNOWN_CODE, "no payment code {}", tx.code)
    assert code is not None
    ensure(code.charged_txid == "", Code.CODE_USED, "code {} was charged by transaction {}", tx.code, code.charged_txid)
    ensure(c.block.timestamp_ms <= code.expires_ms, Code.CODE_EXPIRED, "code {} expired", tx.code)
    ensure(
        tx.amount_minor <= code.limit_minor,
        Code.OVER_CODE_LIMIT,
        "{} is over the code's limit of {}",
        tx.amount_minor,
        code.limit_minor,
    )
    return code


def charge(c: TxContext, tx: Charge) -> None:
    code = _usable_code(c, tx)
    asset = require_asset(c.view, code.asset)
    ensure_new_payment(c, c.signer.id, tx.payment_id)
    check_payment(c, asset, code.holder, c.signer.id)
    record_payment(c, c.signer.id, tx.payment_id, code.holder, asset, tx.amount_minor)
    c.view.put(PAY_CODES.key(tx.code), msgspec.structs.replace(code, charged_txid=c.txid))


OPERATIONS: tuple[Operation[Any], ...] = (
    Operation(
        tx=OpenCode,
        rule=open_code,
        reads=lambda tx: [PAY_CODES.key(tx.code)],
        parties=lambda tx: [],
        signers=frozenset({"holder"}),
        since=CODES_SINCE,
        summary="A holder opens a one-time payment code (3 minutes, up to a limit).",
        example=Example(
            "open a payment code", "alice", 2, {"code": "40817365092214738850", "asset": "CITY-V", "limit_minor": 3000}
        ),
    ),
    Operation(
        tx=Charge,
        rule=charge,
        reads=lambda tx: [PAY_CODES.key(tx.code), PAYMENTS.key(tx.signer, tx.payment_id), MERCHANTS.key(tx.signer)],
        parties=lambda tx: [],  # the holder comes from the code, through the postings
        signers=frozenset({"merchant"}),
        since=CODES_SINCE,
        summary="A merchant charges a holder's payment code, once.",
        example=Example(
            "charge a payment code",
            "cafe",
            2,
            {"code": "40817365092214738850", "amount_minor": 2500, "payment_id": "order:2026-11-22:18"},
        ),
    ),
)
