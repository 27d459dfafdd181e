"""The web apps in headless Chromium (Debian's), driven by Playwright, against real nodes.

A holder creates a wallet, gets the demo desk's welcome value, pays a merchant's
dynamic QR code scanned through Chromium's fake camera (a video file of the
code), and the merchant's open point of sale shows the payment without a
reload; the merchant charges the holder's one-time code; a partial refund
reaches the holder's history; the explorer verifies a receipt and refuses a
tampered one, and shows the validator sets it checked from the genesis; the
wallet lists the nearby shops of the merchant directory, nearest first; the
wallet shows a voucher's policy and, when the ledger refuses paying it out of
its region, why; the wallet says until when its Seoul culture voucher (one lot, a year) is spent, and
lists expired lots and where they went; a wallet buys the americano coupon in the coupon mall, uses it
at cafe-lumen, and the café's open point of sale lists the use; a second use is refused (coupon_used);
a wallet exchanges Skyway miles for Liberty Hotels points at exactly the live quote (a rate that moves in
between: refused, below_minimum, nothing changed), and pays the New York Liberty hotel, which takes only
Liberty points, with its miles (from the hotel's QR code and from the partner-merchant form); the monitor
shows four agreeing validators. No request the wallet sends carries
its private key. JavaScript computes the canonical bytes, ids and signatures
of every transaction vector and checks every receipt vector. Screenshots of
every app, phone-sized and desktop-sized, go to artifacts/screenshots/.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from helpers import NodeProcess, four_node_network, free_port
from tally.client import Signer, TallyClient, read_keyfile
from tally.client.models import ExpiredView
from tally.core.crypto import KeyPair
from tally.core.errors import Code
from tally.core.ops import OPERATIONS
from tally.core.types import AssetPolicy, Ratio
from tally.qr import render

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"
VECTORS = ROOT / "docs" / "test-vectors"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
TIMEOUT_MS = 30_000


def y4m_of(png: bytes, path: Path, frames: int = 30) -> Path:
    """A Y4M video (what Chromium's fake camera plays) showing the image on a white frame."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    side = 640
    frame = Image.new("RGB", (side, side // 4 * 3), "white")
    image = image.resize((400, 400))
    frame.paste(image, ((frame.width - 400) // 2, (frame.height - 400) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (frame.width // 2, frame.height // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{frame.width} H{frame.height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


def shoot(page: Page, name: str) -> None:
    """Save the page at phone and desktop size."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(PHONE)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """`tally demo` (demo data and the demo desk) served by a real node."""
    data_dir = tmp_path_factory.mktemp("web") / "demo"
    loaded = subprocess.run(
        [sys.executable, "-m", "tally.cli", "demo", "--data-dir", str(data_dir)], capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    node = NodeProcess(data_dir, free_port()).start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        yield browser
    finally:
        browser.close()


def new_page(browser: Browser, url: str, lang: str = "en-US") -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=PHONE, locale=lang)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(url)
    return context, page


def test_javascript_signs_every_transaction_vector_and_checks_every_receipt_vector(
    demo: NodeProcess, browser: Browser
) -> None:
    context, page = new_page(browser, demo.url + "/wallet/")
    transactions = json.loads((VECTORS / "transactions.json").read_text("utf-8"))
    receipts = json.loads((VECTORS / "receipts.json").read_text("utf-8"))
    results = page.evaluate(
        """async ([vectors, receipts]) => {
            const tally = await import("/web/shared/tally.js");
            const { verifyReceipt } = await import("/web/shared/receipt.js");
            const signed = [];
            for (const v of vectors) {
                const canonical = new TextDecoder().decode(tally.canonicalBytes(v.tx));
                const sig = tally.toHex(await tally.sign(v.seed, tally.canonicalBytes(v.tx)));
                const publicKey = await tally.publicKeyOf(v.seed);
                signed.push({canonical, txid: await tally.txidOf(v.tx), sig, publicKey,
                             verifies: await tally.verify(publicKey, tally.canonicalBytes(v.tx), tally.fromHex(sig))});
            }
            const valid = [];
            for (const v of receipts.valid) valid.push(await verifyReceipt(v.receipt, receipts.genesis));
            const tampered = [];
            for (const v of receipts.tampered) tampered.push(await verifyReceipt(v.receipt, receipts.genesis));
            return {signed, valid, tampered};
        }""",
        [transactions, receipts],
    )
    context.close()
    assert len(results["signed"]) == len(transactions) >= 10
    for vector, got in zip(transactions, results["signed"], strict=True):
        assert got["canonical"] == vector["canonical"], vector["description"]
        assert got["txid"] == vector["txid"], vector["description"]
        assert got["sig"] == vector["sig"], vector["description"]
        assert got["publicKey"] == vector["public_key"] and got["verifies"], vector["description"]
    assert results["valid"] == [[True, "ok"]] * len(receipts["valid"])
    assert results["tampered"] == [[False, case["reason"]] for case in receipts["tampered"]]


def test_wallet_pos_and_explorer_at_the_counter(demo: NodeProcess, browser: Browser, playwright: Playwright,
                                                tmp_path: Path) -> None:  # fmt: skip
    # The merchant opens its point of sale with its key file and asks for 12.50 by QR code.
    merchant_key = (demo.data_dir / "keys" / "cafe-lumen.json").read_text()
    pos_context, pos = new_page(browser, demo.url + "/pos/")
    pos.fill("textarea[name=key]", merchant_key)
    pos.click("[data-test=sign-in]")
    expect(pos.locator("[data-test=sales-count]")).to_be_visible()
    pos.click("[data-test=to-sale]")
    pos.select_option("select", "HARBOR-GIFT")
    pos.fill("input[name=amount]", "12.50")
    pos.click("[data-test=make-qr]")
    payload = pos.locator("[data-test=merchant-qr]").get_attribute("data-payload")
    assert payload and payload.startswith("000201010212")
    shoot(pos, "pos-sale-qr")

    # The holder's phone: its camera sees the shop's QR code (a video file of it).
    video = y4m_of(render.png(payload), tmp_path / "qr.y4m")
    camera = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        wallet_context = camera.new_context(viewport=PHONE, locale="ko-KR", permissions=["camera"])
        wallet_context.set_default_timeout(TIMEOUT_MS)
        sent: list[str] = []
        wallet_context.on("request", lambda r: sent.append(f"{r.method} {r.url} {r.post_data or ''}"))
        wallet = wallet_context.new_page()
        wallet.goto(demo.url + "/wallet/")
        expect(wallet.locator("h1")).to_have_text("내 지갑")  # Korean, from the browser's language
        wallet.fill("input[name=account]", "w-test1")
        wallet.click("[data-test=create]")
        balances = wallet.locator("[data-test=balances]")
        expect(balances.locator("[data-asset=HARBOR-GIFT]")).to_contain_text("100.00")
        expect(balances.locator("[data-asset=SKYMILES]")).to_contain_text("5,000")
        shoot(wallet, "wallet-home")

        wallet.click("[data-test=to-pay]")
        wallet.click("[data-test=scan]")
        expect(wallet.locator("[data-test=code]")).to_contain_text("12.50")
        shoot(wallet, "wallet-pay")
        wallet.click("[data-test=pay]")
        expect(wallet.locator("[data-test=receipt-link]")).to_be_visible()
        expect(pos.locator("[data-test=paid]")).to_contain_text("w-test1")  # live, no reload
        shoot(pos, "pos-paid")

        # The e-receipt verifies in the page against the genesis.
        wallet.click("[data-test=receipt-link]")
        expect(wallet.locator("[data-test=receipt-check]")).to_have_class(re.compile("verified"))
        shoot(wallet, "wallet-receipt")

        # A one-time code: the wallet shows it, the merchant charges 21.50 of its 30.00 limit.
        wallet.goto(demo.url + "/wallet/#/code")
        wallet.select_option("select", "HARBOR-GIFT")
        wallet.fill("input[name=limit]", "30")
        wallet.click("[data-test=open-code]")
        digits = wallet.locator("[data-test=digits]").inner_text().replace(" ", "")
        assert re.fullmatch(r"[0-9]{20}", digits)
        shoot(wallet, "wallet-code")
        pos.goto(demo.url + "/pos/#/charge")
        pos.fill("input[name=code]", digits)
        pos.click("[data-test=look-code]")
        expect(pos.locator("[data-test=code]")).to_contain_text("w-test1")
        pos.fill("input[name=amount]", "21.50")
        pos.click("[data-test=charge]")
        expect(pos.locator("[data-test=charged]")).to_be_visible()
        expect(wallet.locator("[data-test=paycode] h1")).to_have_text("가맹점이 코드로 결제했습니다")

        # A partial refund of the QR payment reaches the holder's history.
        pos.goto(demo.url + "/pos/#/")
        expect(pos.locator("[data-test=sales] li").first).to_have_attribute("data-type", "charge")  # newest first
        shoot(pos, "pos-today")
        paid_row = pos.locator("[data-test=sales] li[data-type=pay]").first
        paid_row.locator("[data-test=to-refund]").click()
        pos.fill("input[name=amount]", "2.50")
        pos.click("[data-test=refund-part]")
        expect(pos.locator("[data-test=refunded]")).to_contain_text("2.50")
        wallet.goto(demo.url + "/wallet/#/")
        history = wallet.locator("[data-test=history]")
        expect(history.locator("li[data-type=refund]")).to_contain_text("+2.50")
        expect(balances.locator("[data-asset=HARBOR-GIFT]")).to_contain_text("68.50")  # 100 - 12.50 - 21.50 + 2.50
        shoot(wallet, "wallet-history")

        # The merchant refunds the code payment in full, then asks for a cash-out.
        pos.goto(demo.url + "/pos/#/")
        pos.locator("[data-test=sales] li[data-type=charge]").first.locator("[data-test=to-refund]").click()
        pos.click("[data-test=refund-full]")
        expect(pos.locator("[data-test=refunded]")).to_contain_text("21.50")
        expect(balances.locator("[data-asset=HARBOR-GIFT]")).to_contain_text("90.00")  # the wallet, live
        pos.goto(demo.url + "/pos/#/cashout")
        pos.select_option("select", "HARBOR-GIFT")
        pos.fill("input[name=amount]", "10")
        pos.fill("input[name=payout]", "HARBOR-BANK/ACC-1001")
        pos.click("[data-test=cash-out]")
        expect(pos.locator("[data-test=cashed-out]")).to_be_visible()

        # Backup shows the key file; nothing the wallet sent carried the seed.
        key = wallet.evaluate("() => JSON.parse(localStorage.getItem('tally.wallet.key'))")
        seed = key["seed"]
        forms = [seed, seed.upper(), base64.b64encode(bytes.fromhex(seed)).decode(),
                 base64.urlsafe_b64encode(bytes.fromhex(seed)).decode().rstrip("=")]  # fmt: skip
        assert any("/demo/v1/wallets" in s for s in sent) and any("/v1/transactions" in s for s in sent)
        assert not [s for s in sent for form in forms if form in s]
        wallet_context.close()
    finally:
        camera.close()

    # The explorer checks the holder's payment receipt, and refuses it with its result changed.
    with TallyClient(demo.url, reader=read_keyfile(demo.data_dir / "keys" / "harbor-bank.json")) as client:
        entry = next(i for i in client.history("w-test1").items if i.type == "pay")
        receipt = json.loads(client.http.get(f"/v1/transactions/{entry.txid}/receipt").text)
    explorer_context, explorer = new_page(browser, demo.url + "/explorer/#/receipt")
    explorer.fill("textarea[name=receipt]", json.dumps(receipt))
    explorer.click("[data-test=check]")
    expect(explorer.locator("[data-test=verdict]")).to_have_class(re.compile("verified"))
    shoot(explorer, "explorer-receipt")
    receipt["code"] = "insufficient_funds"
    explorer.fill("textarea[name=receipt]", json.dumps(receipt))
    explorer.click("[data-test=check]")
    expect(explorer.locator("[data-test=verdict]")).to_contain_text("results path does not lead")
    explorer.goto(demo.url + f"/explorer/#/block/{entry.height}")
    expect(explorer.locator("[data-test=cert-count]")).to_contain_text("1 of 1")
    expect(explorer.locator("[data-test=full-needs-key]")).to_be_visible()  # who paid whom: not for everyone
    shoot(explorer, "explorer-block")
    # Given a member's key (in the page's memory), the explorer shows the block's transactions in full.
    explorer.goto(demo.url + "/explorer/#/key")
    explorer.fill("textarea[name=key]", (demo.data_dir / "keys" / "harbor-bank.json").read_text())
    explorer.click("[data-test=use-key]")
    expect(explorer.locator("[data-test=reading-as]")).to_contain_text("harbor-bank")
    explorer.goto(demo.url + f"/explorer/#/block/{entry.height}")
    expect(explorer.locator("[data-test=full-txs]")).to_contain_text("w-test1")
    shoot(explorer, "explorer-block-full")
    explorer.goto(demo.url + "/explorer/#/account/w-test1")
    expect(explorer.locator("[data-test=account]")).to_contain_text("harbor-bank")
    explorer.goto(demo.url + "/explorer/#/")
    expect(explorer.locator("[data-test=blocks] tbody tr").first).to_be_visible()
    shoot(explorer, "explorer-blocks")
    explorer_context.close()
    pos_context.close()


def test_the_explorer_shows_the_validator_sets(demo: NodeProcess, browser: Browser) -> None:
    """The Validators tab: the solo demo node's one set (validator-1 from height 1, from the genesis), reached
    in the page from the genesis; a change that does not check is shown as refused, and leaves the block
    page no set to count a certificate's signers against."""
    served = httpx.get(f"{demo.url}/v1/validators").json()
    key = served["sets"][0]["validators"][0]["public_key"]
    context, page = new_page(browser, demo.url + "/explorer/#/")
    page.click("[data-test=to-validators]")
    rows = page.locator("[data-test=sets] tbody tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td")
    expect(cells.nth(0)).to_have_text("1 in force")
    expect(cells.nth(1)).to_contain_text("validator-1")
    expect(cells.nth(1)).to_contain_text(key[:10])
    expect(cells.nth(2)).to_have_text("genesis")
    expect(page.locator("[data-test=notice]")).to_contain_text("16 blocks")
    check = page.locator("[data-test=changes-check]")
    expect(check).to_have_class(re.compile("verified"))
    expect(check).to_contain_text("its 0 certified changes")
    shoot(page, "explorer-validators")
    page.click("text=한국어")
    expect(cells.nth(2)).to_have_text("제네시스")
    expect(page.locator("[data-test=notice]")).to_contain_text("16블록")
    shoot(page, "explorer-validators-ko")
    page.click("text=English")

    # A node that serves a change whose schedule its block did not certify: the page's own check refuses it.
    block = httpx.get(f"{demo.url}/v1/blocks/2").json()
    cert = httpx.get(f"{demo.url}/v1/blocks/2/certificate").json()
    extra = {"from_height": 40, "validators": served["sets"][0]["validators"], "scheduled_height": 2}
    forged = {**served, "sets": [*served["sets"], extra],
              "changes": [{"header": block["header"], "certificate": cert,
                           "schedule": {"sets": [*served["sets"], extra]}, "schedule_path": []}]}  # fmt: skip
    page.route("**/v1/validators", lambda route: route.fulfill(json=forged))
    page.goto(demo.url + "/explorer/#/block/1")  # a fresh page: nothing of the validators is kept
    expect(page.locator("[data-test=cert-sets-error]")).to_contain_text("change at height 2")
    expect(page.locator("[data-test=cert-count]")).to_have_count(0)  # no set to count against
    expect(page.locator(".signers li.error")).to_contain_text("validator-1")
    page.goto(demo.url + "/explorer/#/validators")
    expect(check).to_have_class(re.compile("error"))
    expect(check).to_contain_text("change at height 2: its schedule is not the certified one")
    expect(rows).to_have_count(2)
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("2")
    shoot(page, "explorer-validators-refused")
    context.close()


def test_the_wallet_refuses_a_bad_backup_and_a_tampered_code(demo: NodeProcess, browser: Browser) -> None:
    context, page = new_page(browser, demo.url + "/wallet/")
    page.fill("textarea[name=backup]", '{"id": "alice", "public_key": "00", "seed": "' + "11" * 32 + '"}')
    page.click("[data-test=restore]")
    expect(page.locator(".error")).to_have_attribute("data-code", "key_file_key_mismatch")
    page.fill("textarea[name=backup]", (demo.data_dir / "keys" / "alice.json").read_text())
    page.click("[data-test=restore]")
    expect(page.locator("[data-test=balances] [data-asset=HARBOR-GIFT]")).to_be_visible()
    page.goto(demo.url + "/wallet/#/pay")
    with TallyClient(demo.url, reader=read_keyfile(demo.data_dir / "keys" / "harbor-bank.json")) as client:
        payload = client.merchant_qr("cafe-lumen", "HARBOR-GIFT", amount="1").payload
    page.fill("textarea[name=payload]", payload[:-1] + ("0" if payload[-1] != "0" else "1"))
    page.click("[data-test=read]")
    expect(page.locator(".error")).to_have_attribute("data-code", "qr_bad_crc")
    context.close()


def test_the_wallet_shows_a_voucher_policy_and_why_a_payment_is_refused(demo: NodeProcess, browser: Browser) -> None:
    """The demo desk's Seoul culture voucher says where it is spent; paying it at a Busan bookshop is refused by the
    ledger (wrong_region), and the payment page and the history say why, in the holder's language."""
    context, page = new_page(browser, demo.url + "/wallet/")
    page.fill("input[name=account]", "w-policy")
    page.click("[data-test=create]")
    culture = page.locator("[data-test=balances] [data-asset=SEOUL-CULTURE]")
    expect(culture).to_contain_text("20,000")
    rules = culture.locator("[data-test=policy]")
    expect(rules).to_contain_text("Spent at: Fast food, cafés / Books, in Seoul (KR-11)")
    expect(rules).to_contain_text("Hold up to 500,000")
    expect(page.locator("[data-test=balances] [data-asset=HARBOR-GIFT] [data-test=policy]")).to_have_count(0)
    shoot(page, "wallet-policy")

    with TallyClient(demo.url) as client:  # the shop's QR code is public
        payload = client.merchant_qr("haeundae-books", "SEOUL-CULTURE", amount="1000").payload
    page.click("[data-test=to-pay]")
    page.fill("textarea[name=payload]", payload)
    page.click("[data-test=read]")
    expect(page.locator("[data-test=code]")).to_contain_text("in Seoul (KR-11)")  # the rule, before paying
    shoot(page, "wallet-pay-policy")
    page.click("[data-test=pay]")
    result = page.locator("[data-test=pay-result]")
    expect(result).to_have_attribute("data-code", "wrong_region")
    expect(result.locator("h1")).to_have_text("Not paid")
    expect(result.locator(".error")).to_have_text("This voucher is not accepted in this shop's region. (wrong_region)")
    shoot(page, "wallet-pay-refused")
    with TallyClient(demo.url, reader=read_keyfile(demo.data_dir / "keys" / "harbor-bank.json")) as client:
        assert client.balances("w-policy")["SEOUL-CULTURE"] == 20_000  # nothing moved
        refused = client.history("w-policy").items[0]
        assert (refused.type, refused.status, refused.code) == ("pay", "rejected", "wrong_region")

    # The history marks it refused, with the rule's reason; in Korean too.
    page.click("text=Done")
    item = page.locator("[data-test=history] li.rejected").first
    expect(item.locator("[data-test=refused-badge]")).to_have_text("Refused")
    expect(item.locator("[data-test=refusal]")).to_have_text(
        "This voucher is not accepted in this shop's region. (wrong_region)"
    )
    expect(item).to_contain_text("haeundae-books")
    shoot(page, "wallet-history-refused")
    page.click("button:has-text('한국어')")
    expect(item.locator("[data-test=refusal]")).to_have_text(
        "이 가맹점의 지역에서는 쓸 수 없는 상품권입니다. (wrong_region)"
    )
    expect(item.locator("[data-test=refused-badge]")).to_have_text("거절됨")
    expect(rules).to_contain_text("사용처: 서울 (KR-11)의 패스트푸드·카페 / 서점")
    shoot(page, "wallet-history-refused-ko")
    context.close()


def listed(page: Page) -> list[str]:
    """The merchants the wallet's Nearby shops page lists, in its order."""
    found = page.locator("[data-test=shops] li").evaluate_all("items => items.map((li) => li.dataset.merchant)")
    return [str(m) for m in found]


def test_the_wallet_lists_nearby_shops(demo: NodeProcess, browser: Browser) -> None:
    """Nearby shops: the demo's merchant directory nearest first from Seoul City Hall (a place picked from the
    list), a page at a time; filtered to one of the wallet's assets; and from the phone's own position."""
    context, page = new_page(browser, demo.url + "/wallet/")
    page.fill("input[name=account]", "w-nearby")
    page.click("[data-test=create]")
    expect(page.locator("[data-test=balances] [data-asset=SKYMILES]")).to_be_visible()
    page.click("[data-test=to-nearby]")
    expect(page.locator("[data-test=no-point]")).to_be_visible()  # no position allowed: a place is picked
    # Two merchants a page here, so that "More" reads the next one with the page's next_cursor.
    two = re.compile(r"limit=\d+")
    page.route("**/v1/directory?*", lambda route: route.continue_(url=two.sub("limit=2", route.request.url)))
    page.select_option("select[name=place]", "seoul-city-hall")
    shops = page.locator("[data-test=shops] li")
    expect(shops).to_have_count(2)
    page.click("[data-test=more]")
    expect(shops).to_have_count(4)
    page.click("[data-test=more]")  # the last page, short: it ends the list
    expect(page.locator("[data-test=more]")).to_have_count(0)
    expect(shops).to_have_count(5)
    assert listed(page) == ["cafe-lumen", "book-nook", "duty-free-7", "haeundae-books", "liberty-nyc"]
    expect(shops.nth(0).locator("[data-test=distance]")).to_have_text("0 m")
    expect(shops.nth(1).locator("[data-test=distance]")).to_have_text("1.3 km")
    expect(shops.nth(2).locator("[data-test=distance]")).to_have_text("325 km")
    expect(shops.nth(3).locator("[data-test=distance]")).to_have_text("331 km")
    expect(shops.nth(4).locator("[data-test=distance]")).to_have_text("11,048 km")  # the New York hotel
    expect(shops.nth(0).locator("[data-test=category]")).to_have_text("5814 · Fast food, cafés")
    expect(shops.nth(1).locator("[data-test=category]")).to_have_text("5942 · Books")
    expect(shops.nth(2).locator("[data-test=category]")).to_have_text("5309 · Duty free")
    expect(shops.nth(4).locator("[data-test=category]")).to_have_text("7011 · Lodging")
    expect(shops.nth(0).locator("[data-test=accepts]")).to_have_text(re.compile("Harbor gift voucher.*Skyway miles"))
    expect(shops.nth(0).locator("[data-test=roam]")).to_have_count(0)  # paid with what the wallet holds
    # The hotel takes only Liberty points, which the wallet does not hold: its miles can pay it (protocol 11).
    roam = shops.nth(4).locator("[data-test=roam]")
    expect(roam).to_have_text("Pay with your Skyway miles")
    expect(roam).to_have_attribute("href", "#/partner/liberty-nyc")
    shoot(page, "wallet-nearby")
    page.unroute("**/v1/directory?*")

    # The wallet's SKYMILES only: the bookshop takes vouchers, and drops out.
    page.select_option("select[name=asset]", "SKYMILES")
    expect(shops).to_have_count(2)
    assert listed(page) == ["cafe-lumen", "duty-free-7"]
    shoot(page, "wallet-nearby-skymiles")

    # A point typed: out of range is refused in the page; Busan Station puts the duty-free shop first.
    page.select_option("select[name=place]", "typed")
    page.fill("input[name=point]", "95, 129.0422")
    page.click("[data-test=show-point]")
    expect(page.locator(".error")).to_have_attribute("data-code", "point_invalid")
    page.fill("input[name=point]", "35.1151, 129.0422")
    page.click("[data-test=show-point]")
    expect(shops.first).to_have_attribute("data-merchant", "duty-free-7")
    expect(shops.first.locator("[data-test=distance]")).to_have_text("7.8 km")
    context.close()

    # A phone that shares its position (at Busan Station): the page uses it at once, in Korean.
    phone = browser.new_context(viewport=PHONE, locale="ko-KR", permissions=["geolocation"],
                                geolocation={"latitude": 35.1151, "longitude": 129.0422})  # fmt: skip
    phone.set_default_timeout(TIMEOUT_MS)
    page = phone.new_page()
    page.goto(demo.url + "/wallet/")
    page.fill("textarea[name=backup]", (demo.data_dir / "keys" / "alice.json").read_text())
    page.click("[data-test=restore]")
    expect(page.locator("[data-test=balances] [data-asset=SKYMILES]")).to_be_visible()
    page.click("[data-test=to-nearby]")
    expect(page.locator("select[name=place]")).to_have_value("here")
    expect(page.locator("[data-test=where]")).to_contain_text("현재 위치 기준")
    shops = page.locator("[data-test=shops] li")
    expect(shops).to_have_count(5)
    assert listed(page) == ["duty-free-7", "haeundae-books", "book-nook", "cafe-lumen", "liberty-nyc"]  # Jongno: nearer
    expect(shops.first.locator("[data-test=distance]")).to_have_text("7.8km")
    expect(shops.first.locator("[data-test=category]")).to_have_text("5309 · 면세점")
    shoot(page, "wallet-nearby-ko")
    phone.close()


SEOUL = timezone(timedelta(hours=9))  # the demo chain's calendar (utc_offset_min 540)


def member_client(demo: NodeProcess, key: str = "harbor-bank") -> TallyClient:
    return TallyClient(demo.url, reader=read_keyfile(demo.data_dir / "keys" / f"{key}.json"))


def test_the_wallet_shows_when_its_lots_expire(demo: NodeProcess, browser: Browser) -> None:
    """Lots (protocol 9): a new wallet's 20,000 Seoul culture voucher is one lot, good for a year to the end of its
    day in the chain's calendar (Asia/Seoul). The home page says until when; the asset's page lists the lots, first
    to expire first and what is spendable; once a block has swept a ticket past its end, what expired and where it
    went."""
    context, page = new_page(browser, demo.url + "/wallet/")
    page.fill("input[name=account]", "w-lots")
    page.click("[data-test=create]")
    culture = page.locator("[data-test=balances] [data-asset=SEOUL-CULTURE]")
    expect(culture).to_contain_text("20,000")
    with member_client(demo) as client:
        held = {item.asset: item for item in client.lots("w-lots").items}
    assert set(held) == {"SEOUL-CULTURE"} and len(held["SEOUL-CULTURE"].lots) == 1
    lot = held["SEOUL-CULTURE"].lots[0]
    last = datetime.fromtimestamp((lot.expires_ms - 1) / 1000, SEOUL)  # it expires at the midnight that ends it
    assert (last.date() - datetime.now(SEOUL).date()).days in (364, 365, 366)
    en_date, ko_date = f"{last:%b} {last.day}, {last.year}", f"{last.year}. {last.month}. {last.day}."
    line = culture.locator("[data-test=lots]")
    expect(line).to_have_text(f"20,000 usable until {en_date}")
    expect(page.locator("[data-test=balances] [data-test=lots]")).to_have_count(1)  # HARBOR-GIFT, SKYMILES: none
    shoot(page, "wallet-lots-home")

    line.click()
    asset = page.locator("[data-test=asset]")
    expect(asset.locator("[data-test=balance]")).to_have_text("20,000")
    expect(asset.locator("[data-test=spendable]")).to_have_text("20,000")
    expect(asset.locator("[data-test=policy]")).to_contain_text("Hold up to 500,000")
    rows = page.locator("[data-test=lots] li")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_text(re.compile(rf"^\s*Until {en_date}\s*20,000\s*$"))
    expect(page.locator("[data-test=expired]")).to_have_count(0)
    shoot(page, "wallet-lots")
    page.click("button:has-text('한국어')")
    expect(rows.first).to_contain_text(f"{ko_date}까지")
    page.click("button:has-text('English')")
    page.goto(demo.url + "/wallet/#/asset/HARBOR-GIFT")
    expect(page.locator("[data-test=no-lots]")).to_have_text("This balance does not expire.")

    # A ticket that ends two seconds from now: the first block past its end sweeps the holder's 3,000 back to the
    # issuer (a real sweep; the page then shows what expired and where it went).
    with member_client(demo) as client:
        chain = client.genesis().chain
        bank_key = read_keyfile(demo.data_dir / "keys" / "harbor-bank.json").keypair()
        bank = Signer("harbor-bank", bank_key, chain, next_seq=client.account("harbor-bank").seq)
        end_ms = int(time.time() * 1000) + 2_000
        ticket = AssetPolicy(valid_until_ms=end_ms)
        for tx in (
            bank.create_asset("TICKET", "Concert ticket", "voucher", 0, False, "none", policy=ticket),
            bank.issue("TICKET", "w-lots", 3_000),
        ):
            assert client.wait_final(client.submit(tx)).code == "ok"
        deadline = time.monotonic() + 30
        swept: list[ExpiredView] = []
        while not swept:  # each round is a block; the first one at or past the end sweeps
            assert time.monotonic() < deadline, "no block swept the ticket"
            client.wait_final(client.submit(bank.issue("HARBOR-GIFT", "harbor-bank", 1)))
            found = [item for item in client.lots("w-lots").items if item.asset == "TICKET"]
            swept = found[0].expired if found else []
        assert client.balances("w-lots").get("TICKET", 0) == 0
    gone_at = datetime.fromtimestamp((end_ms - 1) / 1000, SEOUL)
    page.goto(demo.url + "/wallet/#/asset/TICKET")
    expect(page.locator("[data-test=no-lots]")).to_be_visible()  # nothing left to expire
    gone = page.locator("[data-test=expired] li")
    expect(gone).to_have_count(1)
    expect(gone.first).to_contain_text(f"Expired after {gone_at:%b} {gone_at.day}, {gone_at.year}")
    expect(gone.first).to_contain_text(f"Returned to the issuer, harbor-bank (block {swept[0].height})")
    expect(gone.first).to_contain_text("3,000")
    shoot(page, "wallet-lots-expired")
    page.goto(demo.url + "/wallet/#/")
    expect(line).to_contain_text(f"20,000 usable until {en_date}")
    context.close()


def test_the_wallet_buys_a_coupon_and_uses_it_at_the_counter(demo: NodeProcess, browser: Browser) -> None:
    """The coupon mall (protocol 10): a new wallet (5,000 SKYMILES) buys Skyway's americano coupon for 4,000, and the
    stock shown goes down by one; a second purchase is refused (insufficient_funds) in the holder's language. The wallet
    uses the coupon at cafe-lumen and the café's open point of sale lists the use without a reload; a second use, from
    a tab that still shows it unused, is refused (coupon_used)."""
    stock = httpx.get(f"{demo.url}/v1/coupons/americano").json()["stock"]
    pos_context, pos = new_page(browser, demo.url + "/pos/")
    pos.fill("textarea[name=key]", (demo.data_dir / "keys" / "cafe-lumen.json").read_text())
    pos.click("[data-test=sign-in]")
    uses = pos.locator("[data-test=coupon-uses]")
    expect(uses.locator("h2")).to_have_text("Coupons used here")
    expect(pos.locator("[data-test=sales-count]")).to_be_visible()
    expect(uses.locator("li[data-holder=w-coupon]")).to_have_count(0)

    context, page = new_page(browser, demo.url + "/wallet/")
    page.fill("input[name=account]", "w-coupon")
    page.click("[data-test=create]")
    miles = page.locator("[data-test=balances] [data-asset=SKYMILES]")
    expect(miles).to_contain_text("5,000")
    page.click("[data-test=to-mall]")
    coupon = page.locator("[data-test=coupons] li[data-coupon=americano]")
    expect(coupon.locator(".name")).to_have_text("One Americano at Cafe Lumen")
    expect(coupon.locator("[data-test=price]")).to_have_text("4,000 Skyway miles")
    expect(coupon.locator("[data-test=stock]")).to_have_text(f"{stock:,} left")
    expect(coupon.locator("[data-test=merchants]")).to_have_text("Used at: cafe-lumen")
    expect(coupon.locator("[data-test=valid]")).to_contain_text("Valid until 1/1/36")
    expect(coupon.locator("[data-test=held]")).to_have_text("You hold 5,000 Skyway miles")
    shoot(page, "wallet-mall")
    coupon.locator("[data-test=buy]").click()
    expect(coupon.locator("[data-test=bought]")).to_contain_text("Bought: One Americano at Cafe Lumen.")
    expect(coupon.locator("[data-test=stock]")).to_have_text(f"{stock - 1:,} left")
    expect(coupon.locator("[data-test=held]")).to_have_text("You hold 1,000 Skyway miles")
    shoot(page, "wallet-mall-bought")

    # 1,000 miles left: a second one is refused by the ledger, and the page says why, in English and in Korean.
    coupon.locator("[data-test=buy]").click()
    expect(coupon.locator(".error")).to_have_text("Not enough balance. (insufficient_funds)")
    expect(coupon.locator("[data-test=stock]")).to_have_text(f"{stock - 1:,} left")
    page.click("button:has-text('한국어')")
    expect(coupon.locator(".error")).to_have_text("잔액이 부족합니다. (insufficient_funds)")
    expect(coupon.locator("[data-test=stock]")).to_have_text(f"{stock - 1:,}개 남음")
    shoot(page, "wallet-mall-refused-ko")
    page.click("button:has-text('English')")
    page.click("a.button:has-text('Done')")
    expect(miles).to_contain_text("1,000")
    expect(page.locator("[data-test=history] li.applied[data-type=buy_coupon]")).to_contain_text("Coupon bought")

    # My coupons: unused; a second tab, cut off from the event stream, keeps showing it so.
    page.click("[data-test=to-coupons]")
    mine = page.locator("[data-test=my-coupons] li[data-coupon=americano]")
    expect(mine).to_have_count(1)
    expect(mine.locator("[data-test=state]")).to_have_text("Unused")
    stale = context.new_page()
    stale.route("**/v1/events?*", lambda route: route.abort())
    stale.goto(demo.url + "/wallet/#/coupons")
    stale_item = stale.locator("[data-test=my-coupons] li[data-coupon=americano]")
    expect(stale_item.locator("[data-test=use]")).to_be_visible()

    mine.locator("[data-test=use]").click()
    expect(mine.locator("[data-test=confirm-use]")).to_have_text("Use it now at cafe-lumen")
    shoot(page, "wallet-coupon-use")
    mine.locator("[data-test=confirm-use]").click()
    expect(mine.locator("[data-test=state]")).to_have_text("Used")
    expect(mine.locator("[data-test=used-at]")).to_contain_text("Used at cafe-lumen")
    expect(mine.locator("[data-test=show-cashier]")).to_have_text("Used. Show this screen to the cashier.")
    expect(mine.locator("[data-test=use]")).to_have_count(0)  # used once: no second use from here
    shoot(page, "wallet-coupon-used")

    # The counter: cafe-lumen's open point of sale lists the use, newest first, live.
    used = uses.locator("li").first
    expect(used).to_have_attribute("data-holder", "w-coupon")
    expect(used).to_contain_text("One Americano at Cafe Lumen")
    expect(used).to_contain_text("Used by w-coupon")
    expect(used.locator("[data-test=new]")).to_have_text("New")
    shoot(pos, "pos-coupons")

    # The stale tab tries to use it again: refused, with the reason, and the coupon shows as used.
    stale_item.locator("[data-test=use]").click()
    stale_item.locator("[data-test=confirm-use]").click()
    expect(stale_item.locator(".error")).to_have_text("This coupon was used already. (coupon_used)")
    expect(stale_item.locator("[data-test=state]")).to_have_text("Used")
    expect(stale_item.locator("[data-test=use]")).to_have_count(0)
    shoot(stale, "wallet-coupon-used-twice")

    with member_client(demo) as client:
        owned = client.owned_coupons("w-coupon").items
        assert [(o.coupon, o.used_merchant) for o in owned] == [("americano", "cafe-lumen")]
        assert client.balances("w-coupon")["SKYMILES"] == 1_000
        refused = [i for i in client.history("w-coupon").items if i.status == "rejected"]
        assert sorted(i.code for i in refused) == ["coupon_used", "insufficient_funds"]
    with member_client(demo, "cafe-lumen") as client:
        assert [u.holder for u in client.coupon_uses("cafe-lumen").items if u.holder == "w-coupon"] == ["w-coupon"]
    assert httpx.get(f"{demo.url}/v1/coupons/americano").json()["stock"] == stock - 1
    context.close()
    pos_context.close()


def institution(client: TallyClient, demo: NodeProcess, name: str) -> Signer:
    """A demo account's signer (an institution, a merchant or a holder) at its next seq; it reads itself."""
    key = read_keyfile(demo.data_dir / "keys" / f"{name}.json")
    with TallyClient(demo.url, reader=key) as own:
        seq = own.account(name).seq
    return Signer(name, key.keypair(), client.genesis().chain, next_seq=seq)


def hotel_points(demo: NodeProcess) -> int:
    """The New York Liberty hotel's LIBERTY, as it reads its own balances."""
    with member_client(demo, "liberty-nyc") as hotel:
        return hotel.balances("liberty-nyc").get("LIBERTY", 0)


def test_the_wallet_exchanges_with_a_live_quote_and_pays_a_partner_merchant_with_home_points(
    demo: NodeProcess, browser: Browser
) -> None:
    """Protocol 11 in the wallet. A new wallet (5,000 SKYMILES) exchanges 1,000 miles for Liberty Hotels points: the
    live quote shows exactly what the ledger pays (856, checked by hand and against GET /v1/quote/exchange), the
    rate, the value and the remainder left with the issuer; 1 mile buys nothing (too_small), said in Korean too.
    When Skyway moves its rate between the quote and the click, the ledger refuses the exchange (below_minimum) and
    nothing changes. The wallet then pays liberty-nyc, which takes only Liberty points, exactly 1,000 of them with
    its miles from the hotel's QR code (the roaming quote's pay_minor, no more), and 10 more from the partner-
    merchant form."""
    # By hand: 1,000 miles at 48/5 won a mile and 1/14 cent a won are 24,000/35 = 685.71 cents; the obligation is 685
    # cents, which buy 685 / (4/5) = 856.25 -> 856 points (0 fee); the remainder is 24,000/35 - 856 * 4/5 = 32/35 cent.
    params = {"from_asset": "SKYMILES", "to_asset": "LIBERTY", "amount_minor": 1_000}
    quoted = httpx.get(f"{demo.url}/v1/quote/exchange", params=params).json()
    fields = ("value_minor", "gross_minor", "fee_minor", "out_minor", "remainder")
    assert tuple(quoted[f] for f in fields) == (685, 856, 0, 856, "32/35")
    context, page = new_page(browser, demo.url + "/wallet/")
    page.fill("input[name=account]", "w-roam")
    page.click("[data-test=create]")
    balances = page.locator("[data-test=balances]")
    expect(balances.locator("[data-asset=SKYMILES]")).to_contain_text("5,000")
    page.click("[data-test=to-exchange]")
    expect(page.locator("select[name=from_asset]")).to_have_value("SKYMILES")  # the one held asset with a rate
    expect(page.locator("select[name=to_asset]")).to_have_value("LIBERTY")
    expect(page.locator("[data-test=held-from]")).to_have_text("You hold 5,000 Skyway miles")

    # One mile buys nothing: the quote says so before anything is signed, in the holder's language.
    page.fill("input[name=amount]", "1")
    refusal = page.locator("[data-test=quote-error] .error")
    expect(refusal).to_have_attribute("data-code", "too_small")
    expect(refusal).to_have_text("This amount is too small to buy even one unit. (too_small)")
    page.click("button:has-text('한국어')")
    expect(refusal).to_have_text("금액이 너무 적어 1단위도 받을 수 없습니다. (too_small)")
    shoot(page, "wallet-exchange-too-small-ko")
    page.click("button:has-text('English')")

    # The quote follows the amount as it is typed.
    out = page.locator("[data-test=quote-out]")
    page.fill("input[name=amount]", "2500")
    twice = httpx.get(f"{demo.url}/v1/quote/exchange", params={**params, "amount_minor": 2_500}).json()
    expect(out).to_have_text(f"{twice['out_minor']:,}")
    page.fill("input[name=amount]", "1000")
    expect(out).to_have_text("856")
    expect(out).to_have_text(f"{quoted['out_minor']:,}")
    expect(page.locator("[data-test=quote-rates]")).to_contain_text("1 Skyway miles = 9.6 KRW")
    expect(page.locator("[data-test=quote-rates]")).to_contain_text("1 Liberty Hotels points = 0.008 USD")
    expect(page.locator("[data-test=quote-value]")).to_have_text("6.85 USD")
    expect(page.locator("[data-test=quote-fee]")).to_have_text("none")
    expect(page.locator("[data-test=quote-remainder]")).to_have_text(
        "Rounded down: the remainder, 32/35 × 0.01 USD, stays with the issuer."
    )
    exchange = page.locator("[data-test=exchange-now]")
    expect(exchange).to_have_text("Exchange 1,000 Skyway miles for 856 Liberty Hotels points")
    shoot(page, "wallet-exchange-quote")
    exchange.click()
    expect(page.locator("[data-test=exchanged]")).to_have_text(
        "Exchanged 1,000 Skyway miles for 856 Liberty Hotels points."
    )
    expect(page.locator("[data-test=held-from]")).to_have_text("You hold 4,000 Skyway miles")
    expect(page.locator("[data-test=held-to]")).to_have_text("You hold 856 Liberty Hotels points")
    with member_client(demo) as client:
        assert client.balances("w-roam") == {
            "HARBOR-GIFT": 10_000,
            "SKYMILES": 4_000,
            "SEOUL-CULTURE": 20_000,
            "LIBERTY": 856,
        }
        [made] = [i for i in client.history("w-roam").items if i.type == "exchange"]
        assert (made.status, made.tx["min_out_minor"]) == ("applied", 856)  # signed: at least the quote

    # Skyway halves its rate after the quote: the ledger refuses the exchange signed at the old one; nothing moves.
    page.fill("input[name=amount]", "500")
    expect(out).to_have_text("427")  # 500 miles: 342.86 cents, an obligation of 342, 342 / (4/5) = 427.5 points
    with member_client(demo) as client:
        sky = institution(client, demo, "skyway")
        assert client.wait_final(client.submit(sky.set_rate("SKYMILES", Ratio(24, 5)))).code == "ok"
        moved = client.quote_exchange("SKYMILES", "LIBERTY", 500).out_minor
        try:
            exchange.click()
            refused = page.locator("[data-test=exchange-error] .error")
            expect(refused).to_have_attribute("data-code", "below_minimum")
            expect(refused).to_have_text(
                "The rate moved: you would get less than the quote you signed, so nothing changed."
                " Check the new quote. (below_minimum)"
            )
            expect(out).to_have_text(f"{moved:,}")  # the quote as the rates are now
            shoot(page, "wallet-exchange-rate-moved")
            assert client.balances("w-roam")["SKYMILES"] == 4_000 and client.balances("w-roam")["LIBERTY"] == 856
            assert client.history("w-roam").items[0].code == "below_minimum"
        finally:
            assert client.wait_final(client.submit(sky.set_rate("SKYMILES", Ratio(48, 5)))).code == "ok"
    page.click("a.button:has-text('Done')")
    expect(balances.locator("[data-asset=LIBERTY]")).to_contain_text("856")
    expect(balances.locator("[data-asset=SKYMILES]")).to_contain_text("4,000")
    history = page.locator("[data-test=history]")
    expect(history.locator("li.applied[data-type=exchange]")).to_contain_text("Exchange")
    expect(history.locator("li.rejected[data-type=exchange] [data-test=refusal]")).to_have_attribute(
        "data-code", "below_minimum"
    )
    shoot(page, "wallet-exchanged")

    # The hotel's QR code asks for exactly 1,000 Liberty points; the wallet holds 856 of them, so it pays with miles.
    roaming = httpx.get(f"{demo.url}/v1/quote/roaming",
                        params={"asset": "LIBERTY", "pay_asset": "SKYMILES", "amount_minor": 1_000}).json()  # fmt: skip
    assert (roaming["pay_minor"], roaming["value_minor"]) == (1_167, 800)  # 1,167 miles: 800.23 cents, 1,166: 799.54
    hotel_before = hotel_points(demo)
    payload = httpx.get(f"{demo.url}/v1/merchants/liberty-nyc/qr", params={"asset": "LIBERTY", "amount": "1000"}).json()
    page.click("[data-test=to-pay]")
    page.fill("textarea[name=payload]", payload["payload"])
    page.click("[data-test=read]")
    expect(page.locator("[data-test=code]")).to_contain_text("1,000")
    with_miles = page.locator("[data-test=pay-with][data-asset=SKYMILES]")
    expect(with_miles).to_have_text("Pay with Skyway miles")
    expect(page.locator("[data-test=pay-with]")).to_have_count(
        1
    )  # LIBERTY is the hotel's own; the vouchers have no rate
    shoot(page, "wallet-pay-partner-qr")
    with_miles.click()
    expect(page.locator("[data-test=roaming-pay]")).to_have_text(f"{roaming['pay_minor']:,}")
    expect(page.locator("[data-test=roaming-gets]")).to_have_text("exactly 1,000 Liberty Hotels points (liberty-nyc)")
    expect(page.locator("[data-test=roaming-value]")).to_have_text("8.00 USD")
    expect(page.locator("[data-test=roaming-remainder]")).to_contain_text(
        f"the remainder, {roaming['remainder']} × 0.01 USD"
    )
    shoot(page, "wallet-pay-roaming-quote")
    page.click("[data-test=pay-roaming]")
    result = page.locator("[data-test=pay-result]")
    expect(result).to_have_attribute("data-code", "ok")
    expect(result.locator("[data-test=paid-with]")).to_have_text(
        "Paid 1,167 Skyway miles: liberty-nyc received exactly 1,000 Liberty Hotels points."
    )
    shoot(page, "wallet-paid-roaming")
    assert hotel_points(demo) == hotel_before + 1_000  # exactly its amount
    with member_client(demo) as client:
        held = client.balances("w-roam")
        assert (held["SKYMILES"], held["LIBERTY"]) == (4_000 - roaming["pay_minor"], 856)  # miles paid, points kept
        [paid] = [i for i in client.history("w-roam").items if i.type == "pay_roaming"]
        assert (paid.status, paid.tx["max_pay_minor"], paid.tx["payment_id"]) == (
            "applied",
            1_167,
            payload["payment_id"],
        )
    result.locator("[data-test=receipt-link]").click()
    expect(page.locator("[data-test=receipt-check]")).to_have_class(re.compile("verified"))
    expect(page.locator("[data-test=receipt]")).to_contain_text("at most 1,167 Skyway miles")

    # No QR code at hand: the partner-merchant form, by the hotel's id.
    page.goto(demo.url + "/wallet/#/partner")
    page.fill("input[name=merchant]", "liberty-nyc")
    page.click("[data-test=look-up]")
    expect(page.locator("[data-test=takes]")).to_have_text("liberty-nyc takes: Liberty Hotels points")
    page.fill("input[name=amount]", "10")
    small = httpx.get(f"{demo.url}/v1/quote/roaming",
                      params={"asset": "LIBERTY", "pay_asset": "SKYMILES", "amount_minor": 10}).json()  # fmt: skip
    expect(page.locator("[data-test=roaming-pay]")).to_have_text(f"{small['pay_minor']:,}")
    shoot(page, "wallet-partner-form")
    page.click("[data-test=pay-roaming]")
    expect(page.locator("[data-test=pay-result]")).to_have_attribute("data-code", "ok")
    assert hotel_points(demo) == hotel_before + 1_010
    with member_client(demo) as client:
        assert client.balances("w-roam")["SKYMILES"] == 4_000 - roaming["pay_minor"] - small["pay_minor"]
    context.close()


def test_the_monitor_shows_four_agreeing_validators(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("web-net") / "net"
    net = four_node_network(root, "tally-web-net")
    net.up()
    try:
        url = net.nodes["node-1"].url
        with TallyClient(url) as client:  # one final block, so that there is a height to agree on
            member = Signer("member-1", read_keyfile(root / "keys" / "member-1.json").keypair(), client.genesis().chain)
            assert (
                client.wait_final(client.submit(member.create_asset("WEB", "Web", "points", 0, True, "none"))).code
                == "ok"
            )
        context, page = new_page(browser, url + "/explorer/#/monitor")
        expect(page.locator("[data-test=validators] tbody tr")).to_have_count(4)
        expect(page.locator("[data-test=agreement]")).to_contain_text("4 validators agree")
        with TallyClient(url) as client:  # blocks while the page watches: the charts draw them
            for n in range(4):
                client.wait_final(client.submit(member.create_asset(f"WEB{n}", "Web", "points", 0, True, "none")))
        expect(page.locator(".chart").first).to_have_attribute("data-points", re.compile(r"^[4-9]|^[1-9][0-9]"))
        shoot(page, "explorer-monitor")
        context.close()
    finally:
        net.stop()


def test_the_demo_desk_and_the_network_view(demo: NodeProcess, node: NodeProcess) -> None:
    """The demo node's desk opens a wallet once, with welcome value; other nodes open none."""
    key = KeyPair(bytes([0x61]) * 32).public_key_hex
    opened = httpx.post(f"{demo.url}/demo/v1/wallets", json={"account": "w-desk", "public_key": key})
    assert opened.status_code == 201, opened.text
    with TallyClient(demo.url, reader=read_keyfile(demo.data_dir / "keys" / "harbor-bank.json")) as client:
        assert client.account("w-desk").public_key == key and client.account("w-desk").member == "harbor-bank"
        assert client.balances("w-desk") == {"HARBOR-GIFT": 10_000, "SKYMILES": 5_000, "SEOUL-CULTURE": 20_000}
        view = client.http.get("/v1/network").json()
    again = httpx.post(f"{demo.url}/demo/v1/wallets", json={"account": "w-desk", "public_key": key})
    assert again.status_code == 409 and again.json()["error"]["code"] == "account_exists"
    bad = httpx.post(f"{demo.url}/demo/v1/wallets", json={"account": "W desk", "public_key": key})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_field"
    closed = httpx.post(f"{node.url}/demo/v1/wallets", json={"account": "w-desk", "public_key": key})
    assert closed.status_code == 404 and closed.json()["error"]["code"] == "demo_desk_closed"
    assert view["digests_agree"] and [v["id"] for v in view["validators"]] == ["validator-1"]
    assert view["validators"][0]["final_height"] == view["common_final_height"] > 0


def test_apps_are_served_with_their_security_policy(demo: NodeProcess) -> None:
    for app in ("wallet", "pos", "explorer", "console"):
        page = httpx.get(f"{demo.url}/{app}/")
        assert page.status_code == 200 and f"/web/{app}/app.js" in page.text
        assert "script-src 'self' 'sha256-" in page.headers["content-security-policy"]
        assert httpx.get(f"{demo.url}/{app}").status_code == 308
    script = httpx.get(f"{demo.url}/web/vendor/preact.mjs")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{demo.url}/").json()["apps"] == {
        "wallet": "/wallet/", "pos": "/pos/", "explorer": "/explorer/", "console": "/console/"
    }  # fmt: skip


def test_both_languages_have_every_string() -> None:
    messages = (ROOT / "src" / "tally" / "web" / "static" / "shared" / "messages.js").read_text("utf-8")
    en, ko = messages.split("export const ko")
    keys = [set(re.findall(r'^  "([a-z_.]+)":', part, re.M)) for part in (en, ko)]
    assert keys[0] == keys[1] and len(keys[0]) > 100
    used = set()
    for script in (ROOT / "src" / "tally" / "web" / "static").glob("*/*.js"):
        used |= set(re.findall(r'\bt\("([a-z_.]+)"', script.read_text("utf-8")))
    assert used <= keys[0], used - keys[0]
    assert {f"tx.{op.type}" for op in OPERATIONS} <= keys[0]  # every transaction type has its name
    codes = list(Code)
    settlement = codes[codes.index(Code.NO_RATE_BOUNDS) :]  # protocol 11's refusals, each in words
    assert {f"error.{c.value}" for c in settlement} <= keys[0], {f"error.{c.value}" for c in settlement} - keys[0]
