"""ISO 20022 bank files: pain.001 for payouts, pacs.009 for net settlement between banks.

`render_pain001` and `render_pacs009` turn the typed records of `instructions.py` into
UTF-8 XML built with lxml, and validate it (`validate`) against the XSD checked in under
`schemas/` for the document's namespace before returning it: a file the schema rejects is
never produced, and every rejection, of the input or of the document, is a
`BankFileInvalid` that names the reason.

The output is a pure function of the input: the same window always gives the same bytes,
and so the same `sha256_hex`. Amounts are formatted from the integer minor units (never
through a float), times come from the window's block time (`created_ms`, UTC), and ids
longer than the schema allows are shortened the same way every time.

Schemas (see schemas/README.md): pain.001.001.09 is the official ISO 20022 XSD;
pacs.009.001.08 is validated against an interim Tally subset of the official schema
until the official file is checked in.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Final

import xmlschema
from lxml import etree

from tally.settlement.instructions import (
    BankParty,
    CustomerCreditTransfer,
    InterbankTransfer,
    PayoutFile,
    SettlementFile,
)

PAIN001_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
PACS009_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:pacs.009.001.08"

_SCHEMA_DIR: Final = Path(__file__).with_name("schemas")
# The XSD for each namespace that this module writes; nothing else is accepted.
_SCHEMA_FILES: Final[dict[str, str]] = {
    PAIN001_NAMESPACE: "pain.001.001.09.xsd",
    PACS009_NAMESPACE: "pacs.009.001.08.tally-subset.xsd",
}

MAX35: Final = 35  # Max35Text: message, payment-information and end-to-end ids
MAX34: Final = 34  # Max34Text: an account's Othr/Id
MAX140: Final = 140  # Max140Text: names and each line of unstructured remittance information

# pacs.009 settlement method: the window's net payments settle through Tally's clearing
# (SettlementMethod1Code CLRG), not bilaterally between correspondents (INDA/INGA).
SETTLEMENT_METHOD: Final = "CLRG"

_SHORT_ID_PREFIX: Final = "REF-"  # + 30 hex digits of SHA-256 = 34 characters (Max34Text)
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")  # 15..34 characters, the shortest (NO) to the longest
# What XML 1.0 cannot carry at all (lxml refuses it), and what an account id must not hold:
# any control character, including tab and newline, which banks trim or fold.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")
_SAFE_PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class BankFileInvalid(ValueError):
    """A bank file, or the instruction it was to be rendered from, that its ISO 20022 schema rejects."""


def render_pain001(f: PayoutFile) -> bytes:
    """A pain.001.001.09 CustomerCreditTransferInitiation: the issuing member's bank pays each payout.

    One payment-information block per currency, in the order the currencies first appear;
    transfers keep their order within it. A creditor account (the payout_ref) is an IBAN
    when it is one once spaces are removed, else `Othr/Id`; a payout_ref that cannot be an
    `Othr/Id` as it is (see `creditor_account_id`) gets a shortened id there, and the full
    payout_ref goes in the remittance information.
    """
    if not f.transfers:
        raise BankFileInvalid("pain.001: a payout file needs at least one transfer")
    for t in f.transfers:
        _check_amount(t.amount_minor, t.decimals, t.end_to_end_id)
    root = etree.Element(f"{{{PAIN001_NAMESPACE}}}Document", nsmap={None: PAIN001_NAMESPACE})
    initiation = _sub(root, "CstmrCdtTrfInitn")
    header = _sub(initiation, "GrpHdr")
    _sub(header, "MsgId", _shorten(f.message_id, MAX35))
    _sub(header, "CreDtTm", iso_datetime(f.created_ms))
    _sub(header, "NbOfTxs", str(len(f.transfers)))
    _sub(header, "CtrlSum", control_sum((t.amount_minor, t.decimals) for t in f.transfers))
    _sub(_sub(header, "InitgPty"), "Nm", _shorten(f.debtor.name, MAX140))
    for currency, transfers in _by_currency(f.transfers):
        _payment_information(initiation, f, currency, transfers)
    return _finish(root)


def render_pacs009(f: SettlementFile) -> bytes:
    """A pacs.009.001.08 FinancialInstitutionCreditTransfer: the window's net payments between members' banks.

    Each transfer names the debtor and creditor banks by BIC and name, with their accounts
    (IBAN when the account is one, else `Othr/Id`), and carries a UETR derived from its
    end-to-end id, so that the same transfer always has the same UETR.
    """
    if not f.transfers:
        raise BankFileInvalid("pacs.009: a settlement file needs at least one transfer")
    for t in f.transfers:
        _check_amount(t.amount_minor, t.decimals, t.end_to_end_id)
    root = etree.Element(f"{{{PACS009_NAMESPACE}}}Document", nsmap={None: PACS009_NAMESPACE})
    transfer = _sub(root, "FICdtTrf")
    header = _sub(transfer, "GrpHdr")
    _sub(header, "MsgId", _shorten(f.message_id, MAX35))
    _sub(header, "CreDtTm", iso_datetime(f.created_ms))
    _sub(header, "NbOfTxs", str(len(f.transfers)))
    _sub(header, "CtrlSum", control_sum((t.amount_minor, t.decimals) for t in f.transfers))
    _sub(header, "IntrBkSttlmDt", f.settlement_date)
    _sub(_sub(header, "SttlmInf"), "SttlmMtd", SETTLEMENT_METHOD)
    for t in f.transfers:
        _interbank_transaction(transfer, t)
    return _finish(root)


def validate(xml: bytes) -> None:
    """Validate a bank file against the checked-in XSD for its namespace; raise `BankFileInvalid` if it fails.

    Only the namespaces this module writes are accepted. Each schema is loaded once.
    """
    root = _parse(xml)
    namespace = etree.QName(root).namespace
    schema = _schema_for(namespace)
    document = xmlschema.XMLResource(xml, allow="none", defuse="always")
    error = next(iter(schema.iter_errors(document)), None)
    if error is not None:
        where = f" (at {error.path})" if error.path else ""
        raise BankFileInvalid(f"{_short_name(namespace)}: {error.reason or error.message}{where}")


def sha256_hex(xml: bytes) -> str:
    """The SHA-256 of a bank file's bytes, in lowercase hex (how a file is named and acknowledged)."""
    return hashlib.sha256(xml).hexdigest()


def format_amount(amount_minor: int, decimals: int) -> str:
    """An amount in minor units as a decimal with exactly `decimals` places: (1, 2) -> "0.01", (5, 0) -> "5"."""
    if decimals < 0:
        raise BankFileInvalid(f"decimals must not be negative, not {decimals}")
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"


def control_sum(amounts: Iterable[tuple[int, int]]) -> str:
    """The sum of (amount_minor, decimals) amounts as a decimal, exactly, in integers.

    Amounts in different currencies are added as numbers (ISO 20022's CtrlSum is a hash
    total), at the largest number of decimals among them.
    """
    items = list(amounts)
    places = max((decimals for _, decimals in items), default=0)
    return format_amount(sum(amount * 10 ** (places - decimals) for amount, decimals in items), places)


def iso_datetime(created_ms: int) -> str:
    """A block time in milliseconds since the epoch as an ISO 8601 UTC date-time (ISODateTime)."""
    if created_ms < 0:
        raise BankFileInvalid(f"created_ms must not be negative, not {created_ms}")
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=created_ms)
    return moment.isoformat(timespec="milliseconds")


def iban(text: str) -> str | None:
    """The IBAN that `text` is once spaces are removed (upper-cased), or None: ISO 13616 shape and mod-97 check."""
    candidate = text.replace(" ", "").upper()
    if not _IBAN.fullmatch(candidate):
        return None
    rearranged = candidate[4:] + candidate[:4]
    return candidate if int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1 else None


def creditor_account_id(payout_ref: str) -> tuple[str, str, bool]:
    """How a payout_ref goes into pain.001: ("IBAN" or "Othr", the id, whether the full text goes in remittance).

    A payout_ref is used as `Othr/Id` unchanged when it fits Max34Text and holds no control
    character and no leading or trailing space; otherwise the id is "REF-" and 30 hex digits
    of its SHA-256 (34 characters), and the full payout_ref goes in the remittance information.
    """
    if not payout_ref.strip():
        raise BankFileInvalid("a payout needs a payout_ref (the creditor's account)")
    as_iban = iban(payout_ref)
    if as_iban is not None:
        return "IBAN", as_iban, False
    if len(payout_ref) <= MAX34 and payout_ref == payout_ref.strip() and not _CONTROL.search(payout_ref):
        return "Othr", payout_ref, False
    return "Othr", _short_id(payout_ref), True


def uetr(end_to_end_id: str) -> str:
    """A UUIDv4-shaped UETR derived from an end-to-end id: the same transfer always gets the same one."""
    return str(uuid.UUID(bytes=hashlib.sha256(end_to_end_id.encode()).digest()[:16], version=4))


def _payment_information(
    initiation: etree._Element, f: PayoutFile, currency: str, transfers: Sequence[CustomerCreditTransfer]
) -> None:
    info = _sub(initiation, "PmtInf")
    _sub(info, "PmtInfId", _shorten(f"{f.message_id[: MAX35 - 4]}/{currency}", MAX35))
    _sub(info, "PmtMtd", "TRF")
    _sub(info, "NbOfTxs", str(len(transfers)))
    _sub(info, "CtrlSum", control_sum((t.amount_minor, t.decimals) for t in transfers))
    _sub(_sub(info, "ReqdExctnDt"), "Dt", f.execution_date)
    _sub(_sub(info, "Dbtr"), "Nm", _shorten(f.debtor.name, MAX140))
    _bank_account(_sub(info, "DbtrAcct"), f.debtor.account)
    _sub(_sub(_sub(info, "DbtrAgt"), "FinInstnId"), "BICFI", f.debtor.bic)
    for t in transfers:
        _customer_transaction(info, t)


def _customer_transaction(info: etree._Element, t: CustomerCreditTransfer) -> None:
    tx = _sub(info, "CdtTrfTxInf")
    _sub(_sub(tx, "PmtId"), "EndToEndId", _shorten(t.end_to_end_id, MAX35))
    _amount(_sub(tx, "Amt"), "InstdAmt", t.amount_minor, t.decimals, t.currency)
    _sub(_sub(tx, "Cdtr"), "Nm", _shorten(t.creditor_name, MAX140))
    kind, account_id, full_ref_in_remittance = creditor_account_id(t.creditor_account)
    _account_id(_sub(tx, "CdtrAcct"), kind, account_id)
    lines = [_shorten(t.remittance, MAX140)] if t.remittance else []
    if full_ref_in_remittance:
        lines.append(_shorten(t.creditor_account, MAX140))
    if lines:
        remittance = _sub(tx, "RmtInf")
        for line in lines:
            _sub(remittance, "Ustrd", line)


def _interbank_transaction(transfer: etree._Element, t: InterbankTransfer) -> None:
    tx = _sub(transfer, "CdtTrfTxInf")
    payment_id = _sub(tx, "PmtId")
    short_id = _shorten(t.end_to_end_id, MAX35)
    _sub(payment_id, "EndToEndId", short_id)
    _sub(payment_id, "TxId", short_id)
    _sub(payment_id, "UETR", uetr(t.end_to_end_id))
    _amount(tx, "IntrBkSttlmAmt", t.amount_minor, t.decimals, t.currency)
    _bank(_sub(tx, "Dbtr"), t.debtor)
    _bank_account(_sub(tx, "DbtrAcct"), t.debtor.account)
    _bank(_sub(tx, "Cdtr"), t.creditor)
    _bank_account(_sub(tx, "CdtrAcct"), t.creditor.account)


def _bank(parent: etree._Element, party: BankParty) -> None:
    institution = _sub(parent, "FinInstnId")
    _sub(institution, "BICFI", party.bic)
    _sub(institution, "Nm", _shorten(party.name, MAX140))


def _bank_account(parent: etree._Element, account: str) -> None:
    """A member's own account at its bank: an IBAN when it is one, else `Othr/Id` as given (never shortened)."""
    as_iban = iban(account)
    if as_iban is not None:
        _account_id(parent, "IBAN", as_iban)
    else:
        _account_id(parent, "Othr", account)


def _account_id(parent: etree._Element, kind: str, account_id: str) -> None:
    identification = _sub(parent, "Id")
    if kind == "IBAN":
        _sub(identification, "IBAN", account_id)
    else:
        _sub(_sub(identification, "Othr"), "Id", account_id)


def _amount(parent: etree._Element, tag: str, amount_minor: int, decimals: int, currency: str) -> None:
    _sub(parent, tag, format_amount(amount_minor, decimals)).set("Ccy", currency)


def _check_amount(amount_minor: int, decimals: int, end_to_end_id: str) -> None:
    # bool is an int in Python; an amount of True is a bug upstream, not one unit.
    if type(amount_minor) is not int or type(decimals) is not int:
        raise BankFileInvalid(f"transfer {end_to_end_id!r}: amount and decimals must be integers")
    if amount_minor <= 0:
        raise BankFileInvalid(f"transfer {end_to_end_id!r}: amount must be positive, not {amount_minor}")
    if decimals < 0:
        raise BankFileInvalid(f"transfer {end_to_end_id!r}: decimals must not be negative, not {decimals}")


def _by_currency(transfers: Iterable[CustomerCreditTransfer]) -> list[tuple[str, list[CustomerCreditTransfer]]]:
    groups: dict[str, list[CustomerCreditTransfer]] = {}
    for t in transfers:
        groups.setdefault(t.currency, []).append(t)
    return list(groups.items())


def _short_id(text: str) -> str:
    return _SHORT_ID_PREFIX + hashlib.sha256(text.encode()).hexdigest()[: MAX34 - len(_SHORT_ID_PREFIX)]


def _shorten(text: str, limit: int) -> str:
    return text[:limit]


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """A child in the parent's namespace, with text that XML can carry (else BankFileInvalid)."""
    child = etree.SubElement(parent, f"{{{etree.QName(parent).namespace}}}{tag}")
    if text is not None:
        bad = _NOT_XML.search(text)
        if bad:
            raise BankFileInvalid(f"{tag}: character {bad.group()!r} cannot be written in XML")
        child.text = text
    return child


def _finish(root: etree._Element) -> bytes:
    xml: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    validate(xml)
    return xml


def _parse(xml: bytes) -> etree._Element:
    try:
        root = etree.fromstring(xml, parser=_SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise BankFileInvalid(f"not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise BankFileInvalid("a bank file has no DOCTYPE")
    return root


def _schema_for(namespace: str | None) -> xmlschema.XMLSchema10:
    filename = _SCHEMA_FILES.get(namespace or "")
    if filename is None:
        raise BankFileInvalid(f"no checked-in ISO 20022 schema for namespace {namespace!r}")
    return _load_schema(filename)


@cache
def _load_schema(filename: str) -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(str(_SCHEMA_DIR / filename), allow="sandbox")


def _short_name(namespace: str | None) -> str:
    return (namespace or "").rsplit(":", 1)[-1] or "document"
