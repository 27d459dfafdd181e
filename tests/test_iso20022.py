"""ISO 20022 bank files (settlement/iso20022.py): pain.001 payouts and pacs.009 net settlement.

The files are validated against the XSDs checked in under settlement/schemas/, and read
back with a second, independent ISO 20022 reader: pyiso20022's message classes (generated
from the official XSDs) parsed with xsdata, which knows nothing of our code or our schemas.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pyiso20022.pacs.pacs_009_001_08 import Document as Pacs009Document
from pyiso20022.pain.pain_001_001_09 import Document as Pain001Document
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig

from tally.settlement import iso20022
from tally.settlement.instructions import (
    BankParty,
    CustomerCreditTransfer,
    InterbankTransfer,
    PayoutFile,
    SettlementFile,
)
from tally.settlement.iso20022 import (
    PACS009_NAMESPACE,
    PAIN001_NAMESPACE,
    BankFileInvalid,
    control_sum,
    creditor_account_id,
    format_amount,
    iban,
    iso_datetime,
    render_pacs009,
    render_pain001,
    sha256_hex,
    uetr,
    validate,
)

SCHEMAS = Path(iso20022.__file__).with_name("schemas")
PAIN = {"p": PAIN001_NAMESPACE}
PACS = {"p": PACS009_NAMESPACE}

TX_KRW = "a1" * 32  # 64 hex, like a ledger transaction id
TX_USD = "b2" * 32
TX_IBAN = "c3" * 32
TX_LONG = "d4" * 32
IBAN_WITH_SPACES = "GB82 WEST 1234 5698 7654 32"
LONG_REF = 'Kookmin "main" acct\\ 123-45-678901\tfor payouts, ask the café (ref #7)'
CREATED_MS = 1_714_567_890_123  # 2024-05-01T12:51:30.123Z

ISSUER = BankParty(name="Han River Points Co.", bic="HNRVKRSEXXX", account="DE89 3704 0044 0532 0130 00")
BANK_A = BankParty(name="Member A Bank", bic="AAAABEBB", account="BE68539007547034")
BANK_B = BankParty(name="Member B Bank", bic="BBBBKRSE123", account="123-456-7890 local")
BANK_C = BankParty(name="Member C Bank", bic="CCCCUS33", account="GB29 NWBK 6016 1331 9268 19")


def _payout(txid: str, amount: int, currency: str, decimals: int, ref: str, name: str = "acct:holder") -> Any:
    return CustomerCreditTransfer(
        end_to_end_id=txid,
        amount_minor=amount,
        currency=currency,
        decimals=decimals,
        creditor_name=name,
        creditor_account=ref,
        remittance=f"tally cash-out {currency.lower()}-points",
    )


def _payout_file(**changes: Any) -> PayoutFile:
    base = PayoutFile(
        message_id="PAYOUT-W42-HNRV",
        created_ms=CREATED_MS,
        execution_date="2024-05-02",
        debtor=ISSUER,
        transfers=(
            _payout(TX_KRW, 1, "KRW", 0, "110-123-456789"),  # 1 won: the smallest KRW payout
            _payout(TX_USD, 1, "USD", 2, "US-ACH 021000021 000123456"),  # 1 cent
            _payout(TX_IBAN, 1_234_567, "USD", 2, IBAN_WITH_SPACES, name="acct:merchant-café"),
            _payout(TX_LONG, 50_000, "KRW", 0, LONG_REF),
        ),
    )
    return dataclasses.replace(base, **changes)


def _settlement_file(**changes: Any) -> SettlementFile:
    base = SettlementFile(
        message_id="SETTLE-W42",
        created_ms=CREATED_MS,
        settlement_date="2024-05-02",
        transfers=(
            InterbankTransfer("W42-A-B-USD", 150_000, "USD", 2, debtor=BANK_A, creditor=BANK_B),
            InterbankTransfer("W42-C-B-KRW", 7, "KRW", 0, debtor=BANK_C, creditor=BANK_B),
            InterbankTransfer("W42-B-A-JPY" + "x" * 40, 1, "JPY", 0, debtor=BANK_B, creditor=BANK_A),
        ),
    )
    return dataclasses.replace(base, **changes)


def _xpath(xml: bytes, path: str, ns: dict[str, str]) -> list[str]:
    return [str(v) for v in etree.fromstring(xml).xpath(path, namespaces=ns)]


# --- pain.001 ---------------------------------------------------------------------------------


def test_pain001_with_several_payouts_validates_with_right_totals_and_accounts() -> None:
    xml = render_pain001(_payout_file())
    validate(xml)  # and again, explicitly: the returned bytes are what was validated
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert etree.QName(etree.fromstring(xml)).namespace == PAIN001_NAMESPACE

    hdr = "/p:Document/p:CstmrCdtTrfInitn/p:GrpHdr"
    assert _xpath(xml, f"{hdr}/p:MsgId/text()", PAIN) == ["PAYOUT-W42-HNRV"]
    assert _xpath(xml, f"{hdr}/p:CreDtTm/text()", PAIN) == ["2024-05-01T12:51:30.123+00:00"]
    assert _xpath(xml, f"{hdr}/p:NbOfTxs/text()", PAIN) == ["4"]
    # 1 KRW + 0.01 USD + 12345.67 USD + 50000 KRW, as a hash total
    assert _xpath(xml, f"{hdr}/p:CtrlSum/text()", PAIN) == ["62346.68"]

    # one payment block per currency, in order of first appearance, each with its own totals
    pmt = "/p:Document/p:CstmrCdtTrfInitn/p:PmtInf"
    assert _xpath(xml, f"{pmt}/p:PmtInfId/text()", PAIN) == ["PAYOUT-W42-HNRV/KRW", "PAYOUT-W42-HNRV/USD"]
    assert _xpath(xml, f"{pmt}/p:NbOfTxs/text()", PAIN) == ["2", "2"]
    assert _xpath(xml, f"{pmt}/p:CtrlSum/text()", PAIN) == ["50001", "12345.68"]
    assert _xpath(xml, f"{pmt}/p:ReqdExctnDt/p:Dt/text()", PAIN) == ["2024-05-02"] * 2
    assert _xpath(xml, f"{pmt}/p:DbtrAcct/p:Id/p:IBAN/text()", PAIN) == ["DE89370400440532013000"] * 2
    assert _xpath(xml, f"{pmt}/p:DbtrAgt/p:FinInstnId/p:BICFI/text()", PAIN) == ["HNRVKRSEXXX"] * 2

    tx = f"{pmt}/p:CdtTrfTxInf"
    assert _xpath(xml, f"{tx}/p:PmtId/p:EndToEndId/text()", PAIN) == [
        TX_KRW[:35],
        TX_LONG[:35],
        TX_USD[:35],
        TX_IBAN[:35],
    ]
    assert _xpath(xml, f"{tx}/p:Amt/p:InstdAmt/text()", PAIN) == ["1", "50000", "0.01", "12345.67"]
    assert _xpath(xml, f"{tx}/p:Amt/p:InstdAmt/@Ccy", PAIN) == ["KRW", "KRW", "USD", "USD"]
    assert _xpath(xml, f"{tx}/p:CdtrAcct/p:Id/p:IBAN/text()", PAIN) == ["GB82WEST12345698765432"]
    long_id = "REF-" + hashlib.sha256(LONG_REF.encode()).hexdigest()[:30]
    assert _xpath(xml, f"{tx}/p:CdtrAcct/p:Id/p:Othr/p:Id/text()", PAIN) == [
        "110-123-456789",
        long_id,
        "US-ACH 021000021 000123456",
    ]
    # the long free-text payout_ref survives whole, quotes, backslash and tab included
    long_tx = f"{tx}[p:PmtId/p:EndToEndId='{TX_LONG[:35]}']"
    assert _xpath(xml, f"{long_tx}/p:RmtInf/p:Ustrd/text()", PAIN) == ["tally cash-out krw-points", LONG_REF]
    assert _xpath(xml, f"{tx}[p:PmtId/p:EndToEndId='{TX_KRW[:35]}']/p:RmtInf/p:Ustrd/text()", PAIN) == [
        "tally cash-out krw-points"
    ]
    assert _xpath(xml, f"{tx}/p:Cdtr/p:Nm/text()", PAIN)[3] == "acct:merchant-café"


def test_pain001_ids_and_names_are_cut_to_the_schema_lengths() -> None:
    long_name = "acct:" + "n" * 200
    f = _payout_file(
        message_id="M" * 50,
        transfers=(_payout("e" * 64, 5, "EUR", 2, "x" * 35, name=long_name),),
    )
    xml = render_pain001(f)
    assert _xpath(xml, "//p:GrpHdr/p:MsgId/text()", PAIN) == ["M" * 35]
    assert _xpath(xml, "//p:PmtInfId/text()", PAIN) == ["M" * 31 + "/EUR"]
    assert _xpath(xml, "//p:EndToEndId/text()", PAIN) == ["e" * 35]
    assert _xpath(xml, "//p:Cdtr/p:Nm/text()", PAIN) == [long_name[:140]]
    # 35 characters is one too many for Othr/Id: shortened, and the full text goes in remittance
    assert _xpath(xml, "//p:CdtrAcct/p:Id/p:Othr/p:Id/text()", PAIN) == ["REF-" + sha256_hex(b"x" * 35)[:30]]
    assert _xpath(xml, "//p:RmtInf/p:Ustrd/text()", PAIN)[-1] == "x" * 35


# --- pacs.009 --------------------------------------------------------------------------------


def test_pacs009_with_several_interbank_transfers_validates() -> None:
    xml = render_pacs009(_settlement_file())
    validate(xml)
    assert etree.QName(etree.fromstring(xml)).namespace == PACS009_NAMESPACE

    hdr = "/p:Document/p:FICdtTrf/p:GrpHdr"
    assert _xpath(xml, f"{hdr}/p:MsgId/text()", PACS) == ["SETTLE-W42"]
    assert _xpath(xml, f"{hdr}/p:CreDtTm/text()", PACS) == ["2024-05-01T12:51:30.123+00:00"]
    assert _xpath(xml, f"{hdr}/p:NbOfTxs/text()", PACS) == ["3"]
    assert _xpath(xml, f"{hdr}/p:CtrlSum/text()", PACS) == ["1508.00"]  # 1500.00 USD + 7 KRW + 1 JPY
    assert _xpath(xml, f"{hdr}/p:IntrBkSttlmDt/text()", PACS) == ["2024-05-02"]
    assert _xpath(xml, f"{hdr}/p:SttlmInf/p:SttlmMtd/text()", PACS) == ["CLRG"]

    tx = "/p:Document/p:FICdtTrf/p:CdtTrfTxInf"
    third_id = ("W42-B-A-JPY" + "x" * 40)[:35]
    assert _xpath(xml, f"{tx}/p:PmtId/p:EndToEndId/text()", PACS) == ["W42-A-B-USD", "W42-C-B-KRW", third_id]
    assert _xpath(xml, f"{tx}/p:PmtId/p:TxId/text()", PACS) == ["W42-A-B-USD", "W42-C-B-KRW", third_id]
    assert _xpath(xml, f"{tx}/p:PmtId/p:UETR/text()", PACS)[0] == uetr("W42-A-B-USD")
    assert _xpath(xml, f"{tx}/p:IntrBkSttlmAmt/text()", PACS) == ["1500.00", "7", "1"]
    assert _xpath(xml, f"{tx}/p:IntrBkSttlmAmt/@Ccy", PACS) == ["USD", "KRW", "JPY"]
    assert _xpath(xml, f"{tx}/p:Dbtr/p:FinInstnId/p:BICFI/text()", PACS) == ["AAAABEBB", "CCCCUS33", "BBBBKRSE123"]
    assert _xpath(xml, f"{tx}/p:Cdtr/p:FinInstnId/p:BICFI/text()", PACS) == ["BBBBKRSE123", "BBBBKRSE123", "AAAABEBB"]
    assert _xpath(xml, f"{tx}/p:Dbtr/p:FinInstnId/p:Nm/text()", PACS)[0] == "Member A Bank"
    assert _xpath(xml, f"{tx}/p:DbtrAcct/p:Id/p:IBAN/text()", PACS) == ["BE68539007547034", "GB29NWBK60161331926819"]
    assert _xpath(xml, f"{tx}/p:CdtrAcct/p:Id/p:Othr/p:Id/text()", PACS) == ["123-456-7890 local"] * 2


# --- determinism -----------------------------------------------------------------------------


def test_rendering_twice_gives_identical_bytes_and_hash() -> None:
    pain_a, pain_b = render_pain001(_payout_file()), render_pain001(_payout_file())
    pacs_a, pacs_b = render_pacs009(_settlement_file()), render_pacs009(_settlement_file())
    assert pain_a == pain_b
    assert pacs_a == pacs_b
    assert sha256_hex(pain_a) == sha256_hex(pain_b) == hashlib.sha256(pain_a).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", sha256_hex(pacs_a))
    # and the hash does follow the content
    assert sha256_hex(render_pain001(_payout_file(created_ms=CREATED_MS + 1))) != sha256_hex(pain_a)
    assert sha256_hex(render_pacs009(_settlement_file(message_id="SETTLE-W43"))) != sha256_hex(pacs_a)


# --- invalid input ---------------------------------------------------------------------------


def test_a_bic_that_is_not_a_bic_is_rejected_with_the_schemas_reason() -> None:
    bad_bank = dataclasses.replace(BANK_A, bic="not-a-bic")
    with pytest.raises(BankFileInvalid, match="BICFI"):
        render_pacs009(_settlement_file(transfers=(InterbankTransfer("X1", 1, "USD", 2, bad_bank, BANK_B),)))
    with pytest.raises(BankFileInvalid, match="BICFI"):
        render_pain001(_payout_file(debtor=dataclasses.replace(ISSUER, bic="deutdeff")))


@pytest.mark.parametrize(("amount", "decimals"), [(-1, 2), (0, 0), (True, 0)])
def test_a_negative_zero_or_non_integer_amount_is_rejected(amount: int, decimals: int) -> None:
    with pytest.raises(BankFileInvalid, match="amount"):
        render_pain001(_payout_file(transfers=(_payout(TX_KRW, amount, "KRW", decimals, "110-123"),)))
    with pytest.raises(BankFileInvalid, match="amount"):
        render_pacs009(_settlement_file(transfers=(InterbankTransfer("X1", amount, "USD", decimals, BANK_A, BANK_B),)))


def test_what_the_schema_forbids_is_rejected() -> None:
    one = _payout(TX_KRW, 1, "KRW", 0, "110-123")
    cases: list[tuple[PayoutFile, str]] = [
        (_payout_file(transfers=()), "at least one"),
        (_payout_file(transfers=(dataclasses.replace(one, currency="krw"),)), "Ccy"),
        (_payout_file(transfers=(dataclasses.replace(one, decimals=6),)), "InstdAmt"),  # fractionDigits 5
        (_payout_file(transfers=(dataclasses.replace(one, amount_minor=10**18),)), "digits"),  # totalDigits 18
        (_payout_file(execution_date="02/05/2024"), "Dt"),
        (_payout_file(message_id=""), "MsgId"),
        (_payout_file(transfers=(dataclasses.replace(one, creditor_account="  "),)), "payout_ref"),
        (_payout_file(transfers=(dataclasses.replace(one, creditor_account="ref\x01"),)), "XML"),
        (_payout_file(debtor=dataclasses.replace(ISSUER, account="A" * 35)), "Id"),  # a member's own account
    ]
    for payout_file, reason in cases:
        with pytest.raises(BankFileInvalid, match=reason):
            render_pain001(payout_file)
    with pytest.raises(BankFileInvalid, match="at least one"):
        render_pacs009(_settlement_file(transfers=()))
    with pytest.raises(BankFileInvalid, match="IntrBkSttlmDt"):
        render_pacs009(_settlement_file(settlement_date="2024-13-01"))
    assert issubclass(BankFileInvalid, ValueError)


def test_validate_rejects_a_tampered_file_and_unknown_documents() -> None:
    xml = render_pain001(_payout_file())
    root = etree.fromstring(xml)
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", PAIN)
    assert header is not None
    header.remove(header.find("p:NbOfTxs", PAIN))
    with pytest.raises(BankFileInvalid, match=r"^pain\.001\.001\.09: .*NbOfTxs"):
        validate(etree.tostring(root))
    with pytest.raises(BankFileInvalid, match="no checked-in ISO 20022 schema"):
        validate(b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"/>')
    with pytest.raises(BankFileInvalid, match="no checked-in ISO 20022 schema"):
        validate(b"<Document/>")
    with pytest.raises(BankFileInvalid, match="well-formed"):
        validate(xml[:-20])
    with pytest.raises(BankFileInvalid, match="DOCTYPE"):
        validate(b'<!DOCTYPE d [<!ENTITY e "x">]><Document xmlns="' + PAIN001_NAMESPACE.encode() + b'"/>')


# --- a second, independent reader ------------------------------------------------------------

_STRICT = ParserConfig(
    fail_on_unknown_properties=True, fail_on_unknown_attributes=True, fail_on_converter_warnings=True
)


def test_pyiso20022_reads_back_the_pain001() -> None:
    doc = XmlParser(config=_STRICT).from_bytes(render_pain001(_payout_file()), Pain001Document)
    initiation = doc.cstmr_cdt_trf_initn
    assert initiation.grp_hdr.msg_id == "PAYOUT-W42-HNRV"
    assert initiation.grp_hdr.nb_of_txs == "4"
    assert initiation.grp_hdr.ctrl_sum == Decimal("62346.68")
    assert initiation.grp_hdr.cre_dt_tm.to_datetime().timestamp() * 1000 == CREATED_MS
    read = [
        (
            t.pmt_id.end_to_end_id,
            t.amt.instd_amt.value,
            t.amt.instd_amt.ccy,
            t.cdtr_acct.id.iban or t.cdtr_acct.id.othr.id,
            t.rmt_inf.ustrd,
        )
        for info in initiation.pmt_inf
        for t in info.cdt_trf_tx_inf
    ]
    remit_krw, remit_usd = "tally cash-out krw-points", "tally cash-out usd-points"
    assert read == [
        (TX_KRW[:35], Decimal("1"), "KRW", "110-123-456789", [remit_krw]),
        (TX_LONG[:35], Decimal("50000"), "KRW", "REF-" + sha256_hex(LONG_REF.encode())[:30], [remit_krw, LONG_REF]),
        (TX_USD[:35], Decimal("0.01"), "USD", "US-ACH 021000021 000123456", [remit_usd]),
        (TX_IBAN[:35], Decimal("12345.67"), "USD", "GB82WEST12345698765432", [remit_usd]),
    ]
    for info in initiation.pmt_inf:
        assert info.dbtr_acct.id.iban == "DE89370400440532013000"
        assert info.dbtr_agt.fin_instn_id.bicfi == "HNRVKRSEXXX"
        assert info.ctrl_sum == sum(t.amt.instd_amt.value for t in info.cdt_trf_tx_inf)


def test_pyiso20022_reads_back_the_pacs009() -> None:
    doc = XmlParser(config=_STRICT).from_bytes(render_pacs009(_settlement_file()), Pacs009Document)
    transfer = doc.ficdt_trf
    assert transfer.grp_hdr.msg_id == "SETTLE-W42"
    assert transfer.grp_hdr.nb_of_txs == "3"
    assert transfer.grp_hdr.ctrl_sum == Decimal("1508.00")
    assert transfer.grp_hdr.sttlm_inf.sttlm_mtd.value == "CLRG"
    read = [
        (
            t.pmt_id.end_to_end_id,
            t.pmt_id.uetr,
            t.intr_bk_sttlm_amt.value,
            t.intr_bk_sttlm_amt.ccy,
            t.dbtr.fin_instn_id.bicfi,
            t.dbtr_acct.id.iban or t.dbtr_acct.id.othr.id,
            t.cdtr.fin_instn_id.bicfi,
            t.cdtr_acct.id.iban or t.cdtr_acct.id.othr.id,
        )
        for t in transfer.cdt_trf_tx_inf
    ]
    third = "W42-B-A-JPY" + "x" * 40
    assert read == [
        ("W42-A-B-USD", uetr("W42-A-B-USD"), Decimal("1500.00"), "USD", "AAAABEBB", "BE68539007547034",
         "BBBBKRSE123", "123-456-7890 local"),
        ("W42-C-B-KRW", uetr("W42-C-B-KRW"), Decimal("7"), "KRW", "CCCCUS33", "GB29NWBK60161331926819",
         "BBBBKRSE123", "123-456-7890 local"),
        (third[:35], uetr(third), Decimal("1"), "JPY", "BBBBKRSE123", "123-456-7890 local",
         "AAAABEBB", "BE68539007547034"),
    ]  # fmt: skip


def _field_type(hint: Any) -> Any:
    """The dataclass (or scalar type) inside `X | None` or `list[X]`."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) in (list, typing.Union):
        return _field_type(args[0])
    return hint


def _conforms(element: Any, cls: type, where: str) -> list[str]:
    """Where an element breaks the official model that pyiso20022 generated from the ISO 20022 XSD.

    Checks, independently of our schemas: element names, their order (the classes keep the
    XSD's sequence order), required elements, and the length and pattern facets of text.
    """
    problems: list[str] = []
    hints = typing.get_type_hints(cls)
    by_name = {f.metadata.get("name", f.name): (i, f) for i, f in enumerate(dataclasses.fields(cls))}
    seen: set[str] = set()
    last = -1
    for child in element:
        name = etree.QName(child).localname
        if name not in by_name:
            problems.append(f"{where}/{name}: not in {cls.__name__}")
            continue
        index, field = by_name[name]
        if index < last:
            problems.append(f"{where}/{name}: out of the official order")
        last = index
        seen.add(name)
        inner = _field_type(hints[field.name])
        if dataclasses.is_dataclass(inner) and field.metadata.get("type") != "Attribute":
            value_fields = [f for f in dataclasses.fields(inner) if f.name == "value"]
            if not value_fields:
                problems += _conforms(child, inner, f"{where}/{name}")
                continue
        text = child.text or ""
        meta = field.metadata
        if "max_length" in meta and len(text) > meta["max_length"]:
            problems.append(f"{where}/{name}: longer than {meta['max_length']}")
        if "min_length" in meta and len(text) < meta["min_length"]:
            problems.append(f"{where}/{name}: shorter than {meta['min_length']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], text):
            problems.append(f"{where}/{name}: does not match {meta['pattern']}")
    for name, (_, field) in by_name.items():
        if field.metadata.get("required") and field.metadata.get("type") != "Attribute" and name not in seen:
            problems.append(f"{where}: required {name} missing")
    return problems


def test_both_files_follow_the_official_models_element_order_and_facets() -> None:
    """The pacs.009 schema checked in is an interim subset (README.md): hold its output to the official model too."""
    pain = etree.fromstring(render_pain001(_payout_file()))
    pacs = etree.fromstring(render_pacs009(_settlement_file()))
    assert _conforms(pain, Pain001Document, "") == []
    assert _conforms(pacs, Pacs009Document, "") == []
    # the check does catch what it is for
    wrong_order = etree.fromstring(render_pacs009(_settlement_file()))
    header = wrong_order.find("p:FICdtTrf/p:GrpHdr", PACS)
    assert header is not None
    header.append(header[0])  # MsgId moved to the end
    assert any("out of the official order" in p for p in _conforms(wrong_order, Pacs009Document, ""))


# --- helpers and schemas ---------------------------------------------------------------------


def test_amounts_sums_times_and_ids_are_formatted_exactly() -> None:
    assert format_amount(1, 0) == "1"
    assert format_amount(1, 2) == "0.01"
    assert format_amount(100, 2) == "1.00"
    assert format_amount(123_456_789_012_345_678, 5) == "1234567890123.45678"
    assert format_amount(10**17 + 1, 2) == "1000000000000000.01"  # past float's precision
    assert control_sum([(1, 0), (1, 2), (5, 3)]) == "1.015"
    assert control_sum([(7, 0)]) == "7"
    assert iso_datetime(0) == "1970-01-01T00:00:00.000+00:00"
    assert iso_datetime(CREATED_MS) == "2024-05-01T12:51:30.123+00:00"
    assert uetr("W42-A-B-USD") == uetr("W42-A-B-USD") != uetr("W42-A-B-USE")
    assert re.fullmatch(r"[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}", uetr("x"))


def test_iban_and_creditor_account_rules() -> None:
    assert iban(IBAN_WITH_SPACES) == "GB82WEST12345698765432"
    assert iban("gb82 west 1234 5698 7654 32") == "GB82WEST12345698765432"
    assert iban("GB83 WEST 1234 5698 7654 32") is None  # check digits wrong
    assert iban("GB82") is None
    assert iban("110-123-456789") is None
    assert creditor_account_id(IBAN_WITH_SPACES) == ("IBAN", "GB82WEST12345698765432", False)
    assert creditor_account_id("x" * 34) == ("Othr", "x" * 34, False)
    assert creditor_account_id("x" * 35) == ("Othr", "REF-" + sha256_hex(b"x" * 35)[:30], True)
    assert creditor_account_id("a\tb")[2] is True  # a control character: shortened, full text in remittance
    assert creditor_account_id(" 123")[2] is True  # leading space
    assert creditor_account_id("계좌 110-123-456789") == ("Othr", "계좌 110-123-456789", False)
    assert len(creditor_account_id(LONG_REF)[1]) == 34


def test_the_schemas_are_the_checked_in_files() -> None:
    official = (SCHEMAS / "pain.001.001.09.xsd").read_bytes()
    # pain001 0.0.74's copy of the official file; sepaxml 2.7.0's is the same but for CRLF line ends
    assert hashlib.sha256(official).hexdigest() == "05440a7e84f695e7dbc6677082f43623cd7393881b76a5e8d648ae21d7d728e3"
    assert b"Generated by Standards Editor" in official
    assert b'targetNamespace="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"' in official
    interim = (SCHEMAS / "pacs.009.001.08.tally-subset.xsd").read_bytes()
    assert b"NOT THE OFFICIAL ISO 20022 SCHEMA" in interim
    assert b'targetNamespace="urn:iso:std:iso:20022:tech:xsd:pacs.009.001.08"' in interim
    readme = (SCHEMAS / "README.md").read_text()
    assert "pain.001.001.09.xsd" in readme
    assert "pacs.009.001.08.tally-subset.xsd" in readme
