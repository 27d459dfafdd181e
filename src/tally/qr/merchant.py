"""Tally's merchant-presented QR code (EMVCo MPM): what a shop shows, what a wallet scans.

The objects, in this order (EMVCo IDs):

- 00 payload format indicator "01"; 01 point of initiation: "11" static (the
  holder types the amount), "12" dynamic (one payment: amount, payment id and
  expiry inside);
- 26 merchant account information, a template of Tally's globally unique
  identifier `GUI`: 00 GUI, 01 chain, 02 merchant account;
- 52 merchant category code (ISO 18245); 53 currency (ISO 4217 numeric: the
  asset's when its id is a currency code, else 999, "no currency"); 54 amount
  in the asset's unit (dynamic codes); 58 country; 59 merchant name; 60 city;
- 62 additional data: 05 reference label = the payment id (dynamic codes),
  and the payment-system template 50: 00 GUI, 01 asset, 02 expiry (Unix ms,
  dynamic codes);
- 63 CRC.

A dynamic code expires `DYNAMIC_TTL_MS` after it is made (three minutes, as
Korean public QR payment does). The wallet signs its payment to expire no
later than the code, so the ledger itself refuses a late payment, and the
payment id makes a second payment of the same code `duplicate_payment`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pycountry

from .emv import DataObject, QrError, encode_objects, ensure_qr, parse_objects, parse_payload, with_crc

GUI = "org.tallyledger"  # Tally's globally unique identifier (reverse domain form)
STATIC, DYNAMIC = "11", "12"
DYNAMIC_TTL_MS = 180_000  # a dynamic code is good for three minutes
NO_CURRENCY = "999"  # ISO 4217 XXX: "no currency is involved" (points, vouchers)
DEFAULT_MCC = "5999"  # miscellaneous retail, until merchants carry their category
MAX_NAME_CHARS = 25
MAX_CITY_CHARS = 15

_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ASSET_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
_PAYMENT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,25}")  # a reference label holds at most 25 characters
_AMOUNT_RE = re.compile(r"(?=.{1,13}\Z)[0-9]+(\.[0-9]*)?")
_MCC_RE = re.compile(r"[0-9]{4}")


@dataclass(frozen=True, slots=True)
class MerchantCode:
    """A merchant-presented code's content."""

    chain: str
    merchant: str
    asset: str
    name: str
    city: str
    mcc: str = DEFAULT_MCC
    country: str = "KR"
    amount: str | None = None  # in the asset's unit, e.g. "12.50" (dynamic codes)
    payment_id: str | None = None  # the payment request this code is for (dynamic codes)
    expires_ms: int | None = None  # Unix ms (dynamic codes)

    @property
    def dynamic(self) -> bool:
        return self.amount is not None

    @property
    def currency(self) -> str:
        return currency_of(self.asset)


def currency_of(asset: str) -> str:
    """ISO 4217 numeric code of an asset named by a currency code (KRW: 410), else 999."""
    found = pycountry.currencies.get(alpha_3=asset) if len(asset) == 3 else None
    return str(found.numeric) if found is not None else NO_CURRENCY


def dynamic_code(
    chain: str,
    merchant: str,
    asset: str,
    amount: str,
    payment_id: str,
    name: str,
    city: str,
    now_ms: int,
    mcc: str = DEFAULT_MCC,
    country: str = "KR",
) -> MerchantCode:
    """A code for one payment, good for `DYNAMIC_TTL_MS` from `now_ms`."""
    return MerchantCode(
        chain, merchant, asset, name, city, mcc, country, amount, payment_id, expires_ms=now_ms + DYNAMIC_TTL_MS
    )


def encode(code: MerchantCode) -> str:
    """The payload text of a code (what the QR holds). Raises QrError when a field cannot be written."""
    _check_fields(code)
    account = encode_objects([DataObject("00", GUI), DataObject("01", code.chain), DataObject("02", code.merchant)])
    tally = [DataObject("00", GUI), DataObject("01", code.asset)]
    if code.expires_ms is not None:
        tally.append(DataObject("02", str(code.expires_ms)))
    extra = [DataObject("05", code.payment_id)] if code.payment_id is not None else []
    extra.append(DataObject("50", encode_objects(tally)))
    objects = [
        DataObject("00", "01"),
        DataObject("01", DYNAMIC if code.dynamic else STATIC),
        DataObject("26", _fits(account, "merchant account information (chain and merchant id)")),
        DataObject("52", code.mcc),
        DataObject("53", code.currency),
    ]
    if code.amount is not None:
        objects.append(DataObject("54", code.amount))
    objects += [
        DataObject("58", code.country),
        DataObject("59", code.name),
        DataObject("60", code.city),
        DataObject("62", _fits(encode_objects(extra), "additional data (payment id and asset)")),
    ]
    return with_crc(encode_objects(objects))


def _fits(value: str, what: str) -> str:
    ensure_qr(len(value) <= 99, "too_long", f"{what} takes {len(value)} characters; a QR template holds 99")
    return value


def _check_fields(code: MerchantCode) -> None:
    ensure_qr(bool(_ID_RE.fullmatch(code.chain)), "bad_value", f"chain {code.chain!r} is not a chain id")
    ensure_qr(bool(_ID_RE.fullmatch(code.merchant)), "bad_value", f"merchant {code.merchant!r} is not an account id")
    ensure_qr(bool(_ASSET_RE.fullmatch(code.asset)), "bad_value", f"asset {code.asset!r} is not an asset id")
    ensure_qr(bool(_MCC_RE.fullmatch(code.mcc)), "bad_value", f"merchant category {code.mcc!r} is not 4 digits")
    ensure_qr(
        len(code.country) == 2 and pycountry.countries.get(alpha_2=code.country) is not None,
        "bad_value",
        f"country {code.country!r} is not an ISO 3166 two-letter code",
    )
    for label, text, most in (("name", code.name, MAX_NAME_CHARS), ("city", code.city, MAX_CITY_CHARS)):
        ensure_qr(
            0 < len(text) <= most and text.isprintable(),
            "bad_value",
            f"merchant {label} {text!r} must be 1 to {most} printable characters",
        )
    if code.amount is not None or code.payment_id is not None or code.expires_ms is not None:
        ensure_qr(
            code.amount is not None and code.payment_id is not None and code.expires_ms is not None,
            "missing_object",
            "a dynamic code carries an amount, a payment id and an expiry",
        )
        assert code.amount is not None and code.payment_id is not None
        ensure_qr(bool(_AMOUNT_RE.fullmatch(code.amount)), "bad_value", f"amount {code.amount!r} is not a QR amount")
        ensure_qr(
            bool(_PAYMENT_ID_RE.fullmatch(code.payment_id)),
            "bad_value",
            f"payment id {code.payment_id!r}: 1 to 25 of A-Z a-z 0-9 . _ : -",
        )


def _required(objects: dict[str, str], object_id: str, what: str) -> str:
    value = objects.get(object_id)
    ensure_qr(value is not None, "missing_object", f"object {object_id} ({what}) is missing")
    assert value is not None
    return value


def _template(value: str, where: str) -> dict[str, str]:
    return {o.id: o.value for o in parse_objects(value, where)}


def _tally_account(objects: dict[str, str]) -> dict[str, str]:
    """The merchant account template with Tally's GUI, among IDs 26-51."""
    for object_id in (f"{n:02d}" for n in range(26, 52)):
        if object_id in objects:
            template = _template(objects[object_id], f"object {object_id}")
            if template.get("00", "").lower() == GUI:
                return template
    raise QrError("not_tally", f"not a Tally code: no merchant account template with identifier {GUI}")


def parse(payload: str, chain: str, now_ms: int) -> MerchantCode:
    """A scanned payload as a Tally merchant code of `chain`, good at `now_ms`; QrError says why not."""
    objects = parse_payload(payload)
    ensure_qr(objects.get("00") == "01", "bad_value", "payload format indicator (00) must be 01")
    initiation = _required(objects, "01", "point of initiation")
    ensure_qr(initiation in (STATIC, DYNAMIC), "bad_value", "point of initiation (01) must be 11 or 12")
    account = _tally_account(objects)
    code_chain = _required(account, "01", "chain, in the merchant account template")
    ensure_qr(code_chain == chain, "foreign_chain", f"this code is for chain {code_chain!r}, not {chain!r}")
    extra = _template(_required(objects, "62", "additional data"), "object 62")
    tally = _template(_required(extra, "50", "Tally's template in additional data"), "object 62/50")
    ensure_qr(tally.get("00", "").lower() == GUI, "not_tally", f"object 62/50 is not {GUI}'s template")
    expires = tally.get("02")
    code = MerchantCode(
        chain=code_chain,
        merchant=_required(account, "02", "merchant account"),
        asset=_required(tally, "01", "asset"),
        name=_required(objects, "59", "merchant name"),
        city=_required(objects, "60", "merchant city"),
        mcc=_required(objects, "52", "merchant category code"),
        country=_required(objects, "58", "country code"),
        amount=objects.get("54"),
        payment_id=extra.get("05"),
        expires_ms=int(expires) if expires is not None and expires.isascii() and expires.isdigit() else None,
    )
    ensure_qr(expires is None or code.expires_ms is not None, "bad_value", "expiry (62/50/02) must be digits")
    currency = _required(objects, "53", "transaction currency")
    ensure_qr(currency == code.currency, "bad_value", f"currency {currency} is not {code.asset}'s ({code.currency})")
    ensure_qr(
        (initiation == DYNAMIC) == (code.amount is not None),
        "missing_object" if initiation == DYNAMIC else "bad_value",
        "a dynamic code (12) carries an amount (54); a static one (11) does not",
    )
    _check_fields(code)
    if code.expires_ms is not None:
        ensure_qr(now_ms <= code.expires_ms, "expired", f"this code expired {now_ms - code.expires_ms} ms ago")
    return code
