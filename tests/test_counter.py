"""Paying at the counter against a real node: merchant QR codes and holders' one-time payment codes.

API and SDK (make, read, pay a merchant code; open, read, charge a payment
code; every refusal with its code) and the CLI commands that wrap them.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image

from helpers import NodeProcess, PointsWorld, points_world
from tally import qr
from tally.client import TallyError
from tally.client.keys import new_keyfile, write_keyfile
from tally.node.config import DataDir


@pytest.fixture(scope="module")
def world(node: NodeProcess) -> Iterator[PointsWorld]:
    w = points_world(node, 0x51)
    yield w
    w.client.close()


def refused(call: object, *args: object, **kwargs: object) -> TallyError:
    with pytest.raises(TallyError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def test_a_dynamic_merchant_code_is_paid_once(world: PointsWorld) -> None:
    client, hana = world.client, world.hana
    made = client.merchant_qr("mart", "PTS", amount="25", name="Mart", city="Busan")
    assert made.dynamic and made.amount_minor == 25 and made.payment_id and made.payment_id.startswith("qr-")
    assert made.svg.startswith("<svg")
    read = client.parse_qr(made.payload)
    assert (read.merchant, read.asset, read.amount_minor, read.payment_id) == ("mart", "PTS", 25, made.payment_id)
    assert (read.name, read.city, read.expires_ms) == ("Mart", "Busan", made.expires_ms)
    before = client.balances("hana")["PTS"]
    paid = client.wait_final(client.submit(hana.pay(read.asset, read.merchant, read.amount_minor, read.payment_id)))
    assert paid.code == "ok" and client.balances("hana")["PTS"] == before - 25
    again = client.wait_final(client.submit(hana.pay(read.asset, read.merchant, 25, read.payment_id)))
    assert again.code == "duplicate_payment"
    assert client.payment("mart", made.payment_id).payer == "hana"  # type: ignore[arg-type]


def test_static_codes_and_images(node: NodeProcess, world: PointsWorld) -> None:
    made = world.client.merchant_qr("mart", "PTS")
    assert not made.dynamic and made.amount is None and made.expires_ms is None
    assert world.client.parse_qr(made.payload).payment_id is None
    png = httpx.get(f"{node.url}/v1/merchants/mart/qr", params={"asset": "PTS", "amount": "3", "format": "png"})
    assert png.headers["content-type"] == "image/png"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert len(found) == 1 and world.client.parse_qr(found[0].text).amount_minor == 3
    svg = httpx.get(f"{node.url}/v1/merchants/mart/qr", params={"asset": "PTS", "format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and svg.text.startswith("<svg")


def test_making_a_code_refuses_bad_input(node: NodeProcess, world: PointsWorld) -> None:
    client = world.client
    assert refused(client.merchant_qr, "nobody", "PTS").code == "unknown_account"
    assert refused(client.merchant_qr, "hana", "PTS").code == "not_merchant"
    assert refused(client.merchant_qr, "mart", "NOPE").code == "unknown_asset"
    assert refused(client.merchant_qr, "mart", "PTS", amount="2.5").code == "invalid_amount"  # 0 decimals
    assert refused(client.merchant_qr, "mart", "PTS", name="N" * 26).code == "invalid_query"
    assert refused(client.merchant_qr, "mart", "PTS", city="a\nb").code == "invalid_query"
    assert refused(client.merchant_qr, "mart", "PTS", amount="1", payment_id="has space").code == "invalid_query"
    missing = httpx.get(f"{node.url}/v1/merchants/mart/qr")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "invalid_query"


def test_reading_a_code_refuses_what_a_wallet_must_not_pay(node: NodeProcess, world: PointsWorld) -> None:
    client = world.client
    payload = client.merchant_qr("mart", "PTS", amount="5").payload
    tampered = payload.replace("54015", "54019")
    assert refused(client.parse_qr, tampered).code == "qr_bad_crc"
    chain = client.genesis().chain
    foreign = qr.encode(qr.dynamic_code("other-chain", "mart", "PTS", "5", "p1", "Mart", "Seoul", 0))
    assert refused(client.parse_qr, foreign).code == "qr_foreign_chain"
    expired = qr.encode(qr.dynamic_code(chain, "mart", "PTS", "5", "p1", "Mart", "Seoul", 1_000_000))
    error = refused(client.parse_qr, expired)
    assert error.code == "qr_expired" and error.status == 422
    pix = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"  # noqa: E501
    assert refused(client.parse_qr, pix).code == "qr_missing_object"  # another scheme's code, no point of initiation
    unknown_asset = qr.encode(qr.MerchantCode(chain, "mart", "NOPE", "Mart", "Seoul"))
    assert refused(client.parse_qr, unknown_asset).code == "unknown_asset"
    not_json = httpx.post(f"{node.url}/v1/qr/parse", content=payload, headers={"content-type": "text/plain"})
    assert not_json.status_code == 415
    too_long = httpx.post(f"{node.url}/v1/qr/parse", json={"payload": "0" * 513})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "invalid_field"


def test_a_payment_code_is_charged_once_up_to_its_limit(world: PointsWorld) -> None:
    client, hana, mart = world.client, world.hana, world.mart
    digits = "31415926535897932384"
    assert client.wait_final(client.submit(hana.open_code(digits, "PTS", 40))).code == "ok"
    shown = client.pay_code(digits)
    assert (shown.status, shown.holder, shown.limit_minor, shown.charged_txid) == ("open", "hana", 40, None)
    assert client.wait_final(client.submit(mart.charge(digits, 41, "c-1"))).code == "over_code_limit"
    before = client.balances("hana")["PTS"]
    charged = client.wait_final(client.submit(mart.charge(digits, 30, "c-2")))
    assert charged.code == "ok" and client.balances("hana")["PTS"] == before - 30
    assert client.pay_code(digits).status == "charged" and client.pay_code(digits).charged_txid == charged.txid
    assert client.wait_final(client.submit(mart.charge(digits, 1, "c-3"))).code == "code_used"
    assert client.payment("mart", "c-2").payer == "hana"
    assert refused(client.pay_code, "00000000000000000000").code == "unknown_code"
    assert refused(client.pay_code, "123").code == "invalid_path"


# --- the CLI -------------------------------------------------------------------


def tally(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tally.cli", *args], capture_output=True, text=True, timeout=120)


def keyfile(tmp_path: Path, name: str, signer: object) -> str:
    path = tmp_path / f"{name}.json"
    key = signer.key  # type: ignore[attr-defined]
    write_keyfile(path, new_keyfile(name, key.seed))
    return str(path)


def test_the_counter_from_the_command_line(node: NodeProcess, world: PointsWorld, tmp_path: Path) -> None:
    url = ["--url", node.url]
    hana_key, mart_key = keyfile(tmp_path, "hana", world.hana), keyfile(tmp_path, "mart", world.mart)
    png = tmp_path / "code.png"
    made = tally("qr", "merchant", "mart", "--asset", "PTS", "--amount", "7", "--png", str(png), "--json", *url)
    assert made.returncode == 0, made.stderr
    payload = json.loads(made.stdout)["payload"]
    assert zxingcpp.read_barcodes(Image.open(png))[0].text == payload
    read = tally("qr", "parse", payload, *url)
    assert read.returncode == 0 and "amount 7" in read.stdout, read.stderr
    before = world.client.balances("hana")["PTS"]
    paid = tally("qr", "pay", payload, "--key", hana_key, *url)
    assert paid.returncode == 0 and "final" in paid.stdout and ": ok" in paid.stdout, paid.stdout + paid.stderr
    assert world.client.balances("hana")["PTS"] == before - 7
    again = tally("qr", "pay", payload, "--key", hana_key, *url)
    assert again.returncode == 1 and "duplicate_payment" in again.stdout
    static = json.loads(tally("qr", "merchant", "mart", "--asset", "PTS", "--json", *url).stdout)["payload"]
    no_amount = tally("qr", "pay", static, "--key", hana_key, *url)
    assert no_amount.returncode == 2 and "--amount" in no_amount.stderr
    assert tally("qr", "pay", static, "--key", hana_key, "--amount", "2", *url).returncode == 0

    opened = tally("code", "open", "--key", hana_key, "--asset", "PTS", "--limit", "9", "--json", *url)
    assert opened.returncode == 0, opened.stderr
    digits = json.loads(opened.stdout)["code"]
    assert len(digits) == 20 and digits.isdigit()
    charge = ["tx", "charge", "--key", mart_key, "--code", digits, "--amount", "9", "--payment-id", "cli-c1", *url]
    assert tally(*charge).returncode == 0
    shown = tally("code", "show", digits, *url)
    assert shown.returncode == 0 and shown.stdout.startswith("charged: hana, up to 9 PTS")
    assert tally(*charge[:-4], "--payment-id", "cli-c2", *url).returncode == 1  # used: code_used
    bad = tally("qr", "parse", payload[:-1] + "0", *url)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: qr_bad_crc"), bad.stderr
    assert DataDir(node.data_dir).ledger_path.exists()
