"""Merchant-presented QR codes: EMV framing and CRC against other implementations' payloads, Tally's strict parser."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import segno
import zxingcpp
from PIL import Image

from tally import qr
from tally.qr import render
from tally.qr.emv import QrError, parse_payload

EXTERNAL = json.loads((Path(__file__).parent / "fixtures" / "emv_external.json").read_text("utf-8"))
NOW_MS = 1_800_000_000_000
CHAIN = "tally-demo"


def dynamic(**changes: object) -> qr.MerchantCode:
    fields: dict[str, object] = {
        "chain": CHAIN,
        "merchant": "harbor-cafe",
        "asset": "HARBOR-V",
        "amount": "12.50",
        "payment_id": "pos-0001",
        "name": "Harbor Cafe",
        "city": "Seoul",
        "now_ms": NOW_MS,
    }
    fields.update(changes)
    return qr.dynamic_code(**fields)  # type: ignore[arg-type]


def reason(payload: str, chain: str = CHAIN, now_ms: int = NOW_MS) -> str:
    with pytest.raises(QrError) as caught:
        qr.parse(payload, chain, now_ms)
    return caught.value.reason


def resealed(body: str) -> str:
    """A payload body (ending before 63) with a correct CRC: to test the checks behind the CRC."""
    return body + "6304" + qr.crc16(body + "6304")


# --- other implementations' payloads ------------------------------------------


def test_there_are_external_payloads_from_many_schemes() -> None:
    schemes = {v["scheme"].split(" (")[0] for v in EXTERNAL}
    assert len(EXTERNAL) >= 20 and len(schemes) >= 8, schemes


@pytest.mark.parametrize("vector", EXTERNAL, ids=lambda v: v["scheme"])
def test_external_payloads_pass_framing_and_crc(vector: dict[str, str]) -> None:
    payload = vector["payload"]
    objects = parse_payload(payload)
    assert objects["63"] == payload[-4:] == qr.crc16(payload[:-4])
    assert "00" in objects


@pytest.mark.parametrize("vector", EXTERNAL[:8], ids=lambda v: v["scheme"])
def test_external_payloads_with_one_character_changed_fail_their_crc(vector: dict[str, str]) -> None:
    payload = vector["payload"]
    at = len(payload) // 2
    changed = payload[:at] + ("1" if payload[at] != "1" else "2") + payload[at + 1 :]
    with pytest.raises(QrError) as caught:
        parse_payload(changed)
    assert caught.value.reason in ("bad_crc", "length_overrun", "malformed")


def test_external_payloads_are_not_taken_for_tally_codes() -> None:
    for vector in EXTERNAL:
        assert reason(vector["payload"]) in ("not_tally", "bad_value", "missing_object"), vector["scheme"]


def test_crc_is_ccitt_false() -> None:
    assert qr.crc16("123456789") == "29B1"  # the catalogued check value of CRC-16/CCITT-FALSE


# --- Tally's codes -------------------------------------------------------------


def test_dynamic_code_round_trips_and_expires_after_three_minutes() -> None:
    code = dynamic()
    payload = qr.encode(code)
    assert payload.startswith("000201010212") and payload[-8:-4] == "6304"
    parsed = qr.parse(payload, CHAIN, NOW_MS)
    assert parsed == code and parsed.dynamic and parsed.expires_ms == NOW_MS + 180_000
    assert qr.parse(payload, CHAIN, NOW_MS + qr.DYNAMIC_TTL_MS) == code
    assert reason(payload, now_ms=NOW_MS + qr.DYNAMIC_TTL_MS + 1) == "expired"


def test_static_code_round_trips() -> None:
    code = qr.MerchantCode(CHAIN, "harbor-cafe", "KRW", "Harbor Cafe", "Seoul", mcc="5812")
    payload = qr.encode(code)
    assert payload.startswith("000201010211") and "5303410" in payload  # KRW is ISO 4217 410
    assert qr.parse(payload, CHAIN, NOW_MS + 10**9) == code  # static codes do not expire
    assert not code.dynamic


def test_non_ascii_names_count_characters_and_crc_the_utf8_bytes() -> None:
    code = dynamic(name="하버 카페", city="서울")
    payload = qr.encode(code)
    assert "5905하버 카페" in payload and "6002서울" in payload
    assert qr.parse(payload, CHAIN, NOW_MS) == code


def test_foreign_chain_bad_crc_and_overrun_are_refused_with_reasons() -> None:
    payload = qr.encode(dynamic())
    assert reason(payload, chain="tally-other") == "foreign_chain"
    flipped = payload[:-1] + ("0" if payload[-1] != "0" else "1")
    assert reason(flipped) == "bad_crc"
    name_at = payload.index("5911Harbor Cafe")
    overrun = payload[:name_at] + "5999Harbor Cafe" + payload[name_at + 15 : -8]
    assert reason(resealed(overrun)) == "length_overrun"
    assert reason(payload[:-8]) in ("missing_object", "bad_crc")


@pytest.mark.parametrize(
    ("object_id", "expected"),
    [("26", "not_tally"), ("52", "missing_object"), ("53", "missing_object"), ("54", "missing_object"),
     ("58", "missing_object"), ("59", "missing_object"), ("60", "missing_object"), ("62", "missing_object")],
)  # fmt: skip
def test_each_missing_required_object_is_named(object_id: str, expected: str) -> None:
    payload = qr.encode(dynamic())
    objects = qr_objects(payload)
    body = "".join(f"{i}{len(v):02d}{v}" for i, v in objects if i not in (object_id, "63"))
    with pytest.raises(QrError) as caught:
        qr.parse(resealed(body), CHAIN, NOW_MS)
    assert caught.value.reason == expected
    assert expected == "not_tally" or object_id in caught.value.message


def test_malformed_values_are_refused() -> None:
    payload = qr.encode(dynamic())
    assert reason(resealed(payload[:-8].replace("540512.50", "5405x2.50"))) == "bad_value"
    assert reason(resealed(payload[:-8].replace("010212", "010213"))) == "bad_value"
    assert reason(resealed(payload[:-8].replace("5303999", "5303410"))) == "bad_value"  # not the asset's currency
    assert reason("0002") == "length_overrun"
    assert reason("00") == "malformed"
    assert reason("hello") == "malformed"
    assert reason(resealed(payload[:-8] + payload[:14])) == "duplicate_object"


def test_fields_that_cannot_be_written_are_refused_when_encoding() -> None:
    with pytest.raises(QrError, match="printable"):
        qr.encode(dynamic(name="A name far too long for any QR code"))
    with pytest.raises(QrError, match="payment id"):
        qr.encode(dynamic(payment_id="has space"))
    with pytest.raises(QrError, match="ISO 3166"):
        qr.encode(dynamic(country="XX"))
    with pytest.raises(QrError) as caught:
        qr.encode(dynamic(merchant="m" * 64, chain="c" * 64))
    assert caught.value.reason == "too_long"


def test_rendered_codes_read_back_to_the_payload() -> None:
    """A QR reader (zxing-cpp) reads the drawn PNG back, UTF-8 names included; the SVG draws the same symbol."""
    payload = qr.encode(dynamic(name="하버 카페"))
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(render.png(payload))))
    assert [(b.format.name, b.text) for b in found] == [("QRCode", payload)]
    svg = render.svg(payload)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert segno.make_qr(payload, error=render.ERROR_LEVEL).designator.endswith("M")


def qr_objects(payload: str) -> list[tuple[str, str]]:
    from tally.qr.emv import parse_objects

    return [(o.id, o.value) for o in parse_objects(payload)]
