"""The member console and the wallet's controls in headless Chromium (Debian's), driven by Playwright,
against a demo node (the fixtures and helpers of test_web.py).

The council first needs two votes (harbor-bank raises the threshold through the Python SDK). In the
console harbor-bank proposes a quota for HARBOR-GIFT and sees it open with 1 of 2 votes; skyway,
signed in from its key file, votes and sees it executed, and harbor-bank's open page follows without
a reload; the ledger holds the quota. harbor-bank sets a holder's limits and proposes freezing the
holder; the holder's wallet shows the limits, replaces its key (rotate_key, the new key made in the
page and never sent) and shows the freeze's reason. A holder who lost the phone makes a new key in a
fresh wallet; harbor-bank recovers the account to it and the wallet opens. harbor-bank moves its
merchant cafe-lumen in the registry and sees the new entry; skyway's duty-free-7 is refused to it
(not_authorized). The Assets tab shows Seoul Love's policy, its budget account's balance and, after a cash-out
far past a shop's usual redemptions, the flagged merchant; another member is told who reads those. It lists Seoul
Love's cashback rule (seoul-cafes) with what its budget account has left. The Settlement tab (protocol 11) shows
liberty-hotels how members settle, what skyway owes it (the demo's exchange, roaming payment and refund), live as
another roaming payment lands, its hotel's payout, which it marks paid (once) and another returned, and the window,
which it settles (the ledger refuses while skyway's dollar token does not cover it; through the banks then), and
its report as CSV. Screenshots go to artifacts/screenshots/ (console-*, wallet-*).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from helpers import NodeProcess
from tally.client import KeyFile, Signer, TallyClient, read_keyfile
from test_web import browser, demo, new_page, playwright, shoot  # noqa: F401  (fixtures, shared with test_web)

QUOTA_PROPOSAL = "quota:HARBOR-GIFT:web"


def signer(client: TallyClient, node: NodeProcess, name: str) -> Signer:
    """The demo institution `name`'s signer at its account's next seq (the console signs with it too)."""
    key = read_keyfile(node.data_dir / "keys" / f"{name}.json").keypair()
    with TallyClient(node.url, reader=(name, key)) as own:  # an institution reads its own account
        seq = own.account(name).seq
    return Signer(name, key, client.genesis().chain, next_seq=seq)


def harbor_key(node: NodeProcess) -> KeyFile:
    """harbor-bank's key file: it registered alice and chen, so it reads them (docs/access.md)."""
    return read_keyfile(node.data_dir / "keys" / "harbor-bank.json")


def key_text(node: NodeProcess, name: str) -> str:
    return (node.data_dir / "keys" / f"{name}.json").read_text()


def sign_in(page: Page, node: NodeProcess, name: str) -> None:
    page.fill("textarea[name=key]", key_text(node, name))
    page.click("[data-test=sign-in]")
    expect(page.locator("[data-test=me]")).to_have_text(name)


def to(page: Page, route: str) -> None:
    """Another page of the same app (the hash only: the console keeps its key in memory, a reload signs out)."""
    page.evaluate("route => { location.hash = route; }", route)


@pytest.fixture(scope="module")
def council(demo: NodeProcess) -> NodeProcess:  # noqa: F811
    """The demo node with a council of three (harbor-bank, skyway, liberty-hotels) that needs two votes, and no delay
    before a recovery completes."""
    with TallyClient(demo.url) as client:
        for proposal, name, value in (("web:delay-0", "recovery_delay_ms", 0), ("web:threshold-2", "threshold", 2)):
            action = {"kind": "set_param", "name": name, "value": value}
            status = client.wait_final(client.submit(signer(client, demo, "harbor-bank").propose(proposal, action)))
            assert status.code == "ok" and client.proposal(proposal).state == "executed"
        assert client.council().threshold == 2 and client.council().recovery_delay_ms == 0
    return demo


def test_two_members_pass_a_quota_in_the_console(council: NodeProcess, browser: Browser) -> None:  # noqa: F811
    harbor_context, harbor = new_page(browser, council.url + "/console/")
    harbor.set_viewport_size({"width": 1280, "height": 800})
    shoot(harbor, "console-sign-in")
    sign_in(harbor, council, "harbor-bank")
    expect(harbor.locator("[data-test=threshold]")).to_have_text("2 of 3 votes pass a proposal")
    expect(harbor.locator("[data-test=members] li")).to_have_count(3)
    expect(harbor.locator("[data-proposal='web:threshold-2']")).to_have_attribute("data-state", "executed")
    shoot(harbor, "console-council")

    # harbor-bank proposes a quota: its own vote is the first of two.
    harbor.click("[data-test=to-propose]")
    harbor.select_option("select[name=kind]", "set_quota")
    harbor.select_option("select[name=asset]", "HARBOR-GIFT")
    harbor.fill("input[name=quota]", "8,000")
    harbor.fill("input[name=proposal]", QUOTA_PROPOSAL)
    shoot(harbor, "console-propose")
    harbor.click("[data-test=propose]")
    item = harbor.locator(f"[data-proposal='{QUOTA_PROPOSAL}']")
    expect(item).to_have_attribute("data-state", "open")
    expect(item.locator("[data-test=votes]")).to_contain_text("1/2 votes: harbor-bank")
    expect(item).to_contain_text("Quota of HARBOR-GIFT: 8,000.00")
    expect(item.locator("[data-test=you-voted]")).to_be_visible()
    expect(item.locator("[data-test=vote]")).to_have_count(0)
    shoot(harbor, "console-proposal-open")

    # The same id again: the ledger's stable code, in words and as the code.
    harbor.click("[data-test=to-propose]")
    harbor.fill("input[name=quota]", "9000")
    harbor.fill("input[name=proposal]", QUOTA_PROPOSAL)
    harbor.click("[data-test=propose]")
    expect(harbor.locator(".error")).to_have_attribute("data-code", "duplicate_proposal")
    expect(harbor.locator(".error")).to_contain_text("(duplicate_proposal)")
    shoot(harbor, "console-propose-refused")
    to(harbor, f"/proposal/{QUOTA_PROPOSAL}")
    expect(item).to_have_attribute("data-state", "open")

    # skyway signs in from its key file (the file chooser) and casts the second vote.
    sky_context, sky = new_page(browser, council.url + "/console/")
    sky.set_input_files("[data-test=key-file]", str(council.data_dir / "keys" / "skyway.json"))
    expect(sky.locator("[data-test=me]")).to_have_text("skyway")
    sky_item = sky.locator(f"[data-proposal='{QUOTA_PROPOSAL}']")
    expect(sky_item).to_have_attribute("data-state", "open")
    shoot(sky, "console-vote")
    sky_item.locator("[data-test=vote]").click()
    expect(sky_item).to_have_attribute("data-state", "executed")
    expect(sky_item.locator("[data-test=result]")).to_contain_text("Executed in block")
    expect(sky_item.locator("[data-test=votes]")).to_contain_text("harbor-bank, skyway")
    shoot(sky, "console-proposal-executed")
    expect(item).to_have_attribute("data-state", "executed")  # harbor-bank's page follows the blocks

    with TallyClient(council.url, reader=harbor_key(council)) as client:
        supply = client.supply("HARBOR-GIFT")
        assert supply.quota_minor == 800_000 and supply.status == "active"
        assert client.proposal(QUOTA_PROPOSAL).votes == ["harbor-bank", "skyway"]

    # The assets page: status and supply against the quota.
    sky.click("[data-test=to-assets]")
    card = sky.locator("[data-asset=HARBOR-GIFT]")
    expect(card.locator("[data-test=quota]")).to_have_text("8,000.00")
    expect(card.locator("[data-test=status]")).to_have_text("active")
    assert card.locator("[data-test=outstanding]").inner_text() == f"{supply.outstanding_minor / 100:,.2f}"
    expect(sky.locator("[data-asset=SKYMILES] [data-test=quota]")).to_have_text("none")
    shoot(sky, "console-assets")
    sky.click("button:has-text('한국어')")
    expect(card.locator("[data-test=status]")).to_have_text("사용 중")
    shoot(sky, "console-assets-ko")
    sky_context.close()

    # Signing out forgets the key; a holder's key does not open the console.
    harbor.click("[data-test=sign-out]")
    harbor.fill("textarea[name=key]", key_text(council, "alice"))
    harbor.click("[data-test=sign-in]")
    expect(harbor.locator(".error")).to_have_attribute("data-code", "not_institution")
    assert harbor.evaluate("() => JSON.stringify(localStorage)").find("seed") == -1
    harbor_context.close()


def test_a_holder_sees_its_limits_and_freeze_and_replaces_its_key(council: NodeProcess, browser: Browser) -> None:  # noqa: F811
    console_context, console = new_page(browser, council.url + "/console/")
    console.set_viewport_size({"width": 1280, "height": 800})
    sign_in(console, council, "harbor-bank")
    console.click("[data-test=to-accounts]")
    console.fill("input[name=lookup]", "alice")
    console.click("[data-test=look-up]")
    expect(console.locator("[data-test=not-frozen]")).to_be_visible()
    console.select_option("select[name=limit_asset]", "HARBOR-GIFT")
    console.fill("input[name=max_payment]", "50")
    console.fill("input[name=daily_out]", "200.00")
    console.click("[data-test=set-limits]")
    expect(console.locator("[data-test=limits-saved]")).to_be_visible()
    row = console.locator("[data-test=limits] tr[data-asset=HARBOR-GIFT]")
    expect(row).to_contain_text("50.00")
    expect(row).to_contain_text("set by harbor-bank")
    shoot(console, "console-account-limits")
    with TallyClient(council.url, reader=harbor_key(council)) as client:
        [limits] = client.controls("alice").limits
        assert (limits.asset, limits.source, limits.max_payment_minor, limits.daily_out_minor) == (
            "HARBOR-GIFT", "own", 5_000, 20_000
        )  # fmt: skip
        old_key = client.account("alice").public_key

    # The holder's wallet shows the limits, then replaces its key: made here, signed by the old one.
    wallet_context, wallet = new_page(browser, council.url + "/wallet/")
    sent: list[str] = []
    wallet_context.on("request", lambda r: sent.append(f"{r.method} {r.url} {r.post_data or ''}"))
    wallet.fill("textarea[name=backup]", key_text(council, "alice"))
    wallet.click("[data-test=restore]")
    limits_list = wallet.locator("[data-test=limits] li[data-asset=HARBOR-GIFT]")
    expect(limits_list).to_contain_text("Up to 50.00 a payment")
    expect(limits_list).to_contain_text("Up to 200.00 a day (0.00 sent today)")
    shoot(wallet, "wallet-limits")
    wallet.click("[data-test=to-backup]")
    wallet.click("[data-test=rotate]")
    expect(wallet.locator("[data-test=rotated]")).to_be_visible()
    shoot(wallet, "wallet-rotated")
    kept = wallet.evaluate("() => JSON.parse(localStorage.getItem('tally.wallet.key'))")
    assert kept["id"] == "alice" and kept["public_key"] != old_key
    assert wallet.evaluate("() => localStorage.getItem('tally.wallet.pending_keys')") is None
    assert json.loads(wallet.locator("[data-test=backup]").input_value())["public_key"] == kept["public_key"]
    with TallyClient(council.url, reader=harbor_key(council)) as client:
        assert client.account("alice").public_key == kept["public_key"]
    seed = bytes.fromhex(kept["seed"])
    forms = [kept["seed"], kept["seed"].upper(), base64.b64encode(seed).decode(),
             base64.urlsafe_b64encode(seed).decode().rstrip("=")]  # fmt: skip
    assert any("rotate_key" in s for s in sent) and not [s for s in sent for form in forms if form in s]

    # harbor-bank proposes freezing alice from her account page; skyway's vote (the SDK) passes it.
    console.click("[data-test=propose-freeze]")
    expect(console.locator("select[name=kind]")).to_have_value("freeze")
    expect(console.locator("input[name=subject]")).to_have_value("alice")
    console.fill("input[name=reason]", "court_order")
    console.click("[data-test=propose]")
    opened = console.locator("[data-proposal][data-state=open]")
    expect(opened).to_contain_text("Freeze account alice: court order (court_order)")
    proposal = opened.get_attribute("data-proposal")
    assert proposal and proposal.startswith("freeze:alice:")
    with TallyClient(council.url, reader=harbor_key(council)) as client:
        assert client.wait_final(client.submit(signer(client, council, "skyway").vote(proposal))).code == "ok"
        frozen = client.controls("alice").frozen
        assert frozen is not None and frozen.reason == "court_order"
    expect(console.locator(f"[data-proposal='{proposal}']")).to_have_attribute("data-state", "executed")
    to(console, "/account/alice")
    frozen_line = console.locator("[data-test=frozen]")
    expect(frozen_line).to_contain_text("Frozen: court order (court_order), by council")  # a proposal froze it
    expect(console.locator("[data-test=propose-unfreeze]")).to_be_visible()
    expect(console.locator("input[name=max_payment]")).to_have_value("50.00")  # the form starts from her limits
    expect(console.locator("input[name=balance_cap]")).to_have_value("")
    shoot(console, "console-account-frozen")

    # The wallet, opened again, says why the account is frozen (with its new key still in use).
    wallet.goto(council.url + "/wallet/#/")
    expect(wallet.locator("[data-test=frozen-reason]")).to_have_text("Reason: court order (court_order)")
    expect(wallet.locator("[data-test=key-replaced]")).to_have_count(0)
    shoot(wallet, "wallet-frozen")
    wallet_context.close()
    console_context.close()


def test_a_member_recovers_a_lost_wallet_to_a_new_key(council: NodeProcess, browser: Browser) -> None:  # noqa: F811
    # The new phone: a wallet (in Korean) makes a new key for chen and shows its public key.
    wallet_context, wallet = new_page(browser, council.url + "/wallet/", lang="ko-KR")
    wallet.fill("input[name=recover_account]", "chen")
    wallet.click("[data-test=recover]")
    new_key = wallet.locator("[data-test=recovery-key]").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", new_key)

    # chen's member starts the recovery in the console and, the delay being 0 here, completes it.
    console_context, console = new_page(browser, council.url + "/console/#/account/chen")
    console.set_viewport_size({"width": 1280, "height": 800})
    sign_in(console, council, "harbor-bank")
    console.fill("input[name=new_key]", new_key)
    console.click("[data-test=start-recovery]")
    expect(console.locator("[data-test=recovery-pending]")).to_contain_text("A recovery by harbor-bank is pending")
    expect(wallet.locator("[data-test=recovery-state]")).to_have_class(re.compile("verified"))
    # the new key reads chen's account once his member started the recovery to it: the member is named
    expect(wallet.locator("[data-test=recovering]")).to_contain_text("harbor-bank")
    shoot(wallet, "wallet-recovering")
    shoot(console, "console-recovery-pending")
    console.click("[data-test=complete-recovery]")
    expect(console.locator("[data-test=start-recovery]")).to_be_visible()
    expect(console.locator("[data-test=public-key]")).to_have_text(new_key)

    # The new phone's wallet opens on chen's balances by itself.
    expect(wallet.locator("[data-test=balances] [data-asset=HARBOR-GIFT]")).to_be_visible()
    assert wallet.evaluate("() => JSON.parse(localStorage.getItem('tally.wallet.key')).public_key") == new_key
    with TallyClient(council.url, reader=harbor_key(council)) as client:
        assert client.account("chen").public_key == new_key and client.controls("chen").recovery is None
    shoot(wallet, "wallet-recovered")
    console_context.close()
    wallet_context.close()


def test_a_member_sets_its_merchants_registry_entry(council: NodeProcess, browser: Browser) -> None:  # noqa: F811
    """harbor-bank moves cafe-lumen (and changes its category and assets) from the merchant's account page; the
    page shows the new entry, and the ledger and the directory hold it. duty-free-7 is skyway's: refused."""
    console_context, console = new_page(browser, council.url + "/console/#/account/cafe-lumen")
    console.set_viewport_size({"width": 1280, "height": 800})
    sign_in(console, council, "harbor-bank")
    console.click("[data-test=to-registry]")
    expect(console.locator("[data-test=yours]")).to_be_visible()
    expect(console.locator("[data-test=entry-location]")).to_have_text("37.5665, 126.978")
    expect(console.locator("[data-test=entry-category]")).to_have_text("5814 · Fast food, cafés")
    expect(console.locator("input[name=lat]")).to_have_value("37.5665")  # the form starts from the entry

    # To Myeongdong, pasted as one "lat, lon" (both fields fill); a restaurant now, vouchers only (no miles, no
    # local currency).
    console.fill("input[name=lat]", "37.563600, 126.986900")
    expect(console.locator("input[name=lat]")).to_have_value("37.563600")
    expect(console.locator("input[name=lon]")).to_have_value("126.986900")
    console.fill("input[name=category]", "5812")
    console.locator("input[name=accepts][value=SKYMILES]").uncheck()
    console.locator("input[name=accepts][value=SEOUL-LOVE]").uncheck()
    console.click("[data-test=set-merchant]")
    expect(console.locator("[data-test=entry-saved]")).to_be_visible()
    expect(console.locator("[data-test=entry-location]")).to_have_text("37.5636, 126.9869")
    expect(console.locator("[data-test=entry-category]")).to_have_text("5812 · Restaurants")
    expect(console.locator("[data-test=entry-accepts] div")).to_have_text(
        ["HARBOR-GIFT · Harbor gift voucher", "SEOUL-CULTURE · Seoul culture voucher"]
    )
    expect(console.locator("[data-test=entry]")).to_contain_text("harbor-bank, block")
    shoot(console, "console-merchant-entry")
    with TallyClient(council.url) as client:
        entry = client.merchant("cafe-lumen")
        assert (entry.category, entry.lat_e6, entry.lon_e6, entry.accepts, entry.set_by) == (
            "5812", 37_563_600, 126_986_900, ["HARBOR-GIFT", "SEOUL-CULTURE"], "harbor-bank"
        )  # fmt: skip
        nearest = client.directory("37.5636", "126.9869").items[0]
        assert (nearest.merchant, nearest.distance_m) == ("cafe-lumen", 0)

    # A latitude past 90 never leaves the page; another member's merchant: the ledger refuses it.
    console.fill("input[name=lat]", "90.5")
    console.click("[data-test=set-merchant]")
    expect(console.locator(".error")).to_have_attribute("data-code", "lat_invalid")
    to(console, "/merchant/duty-free-7")
    expect(console.locator("[data-test=not-yours]")).to_contain_text("only skyway")
    expect(console.locator("[data-test=entry-region]")).to_have_text("KR-26 · Busan")
    console.click("[data-test=set-merchant]")
    expect(console.locator(".error")).to_have_attribute("data-code", "not_authorized")
    expect(console.locator(".error")).to_contain_text("(not_authorized)")
    shoot(console, "console-merchant-refused")
    with TallyClient(council.url) as client:
        assert client.merchant("duty-free-7").set_by == "skyway"
    console_context.close()


def rule(card: Locator, name: str) -> Locator:
    """One rule of an asset card's policy (its value), by name: spent_at, monthly_cap, discount, ..."""
    return card.locator(f"[data-test=policy] dd[data-rule={name}]")


def test_the_console_shows_a_policy_its_budget_and_flagged_merchants(council: NodeProcess, browser: Browser) -> None:  # noqa: F811
    """The Assets tab shows Seoul Love's policy rule by rule and its budget account's balance; once harbor-bank sets
    cafe-lumen's usual redemptions to 100,000, bob pays it 310,000 (after buying 300,000 at 10% off) and it cashes
    that out at once, the page lists cafe-lumen as flagged. skyway, neither issuer nor supervisor, is told who sees
    the flags."""
    console_context, console = new_page(browser, council.url + "/console/#/assets")
    console.set_viewport_size({"width": 1280, "height": 800})
    sign_in(console, council, "harbor-bank")
    love = console.locator("[data-asset=SEOUL-LOVE]")
    expect(rule(love, "spent_at")).to_have_text("regions KR-11 · Seoul")
    expect(rule(love, "monthly_cap")).to_have_text("700,000")
    expect(rule(love, "holder_cap")).to_have_text("none")
    expect(rule(love, "discount")).to_have_text("10% off, paid by seoul-budget")
    expect(rule(love, "merchants")).to_have_text("cash-out cap 5,000,000 a month; flagged past 3× usual redemptions")
    expect(rule(love, "cash_out")).to_have_text("merchants, fee 0%")
    with TallyClient(council.url, reader=harbor_key(council)) as client:
        budget = client.balances("seoul-budget")["SEOUL-LOVE"]
    expect(love.locator("[data-test=budget]")).to_have_text(f"seoul-budget: {budget:,} left")
    expect(love.locator("[data-test=no-flags]")).to_have_text("No merchant flagged.")
    culture = console.locator("[data-asset=SEOUL-CULTURE]")
    expect(rule(culture, "spent_at")).to_have_text(
        "categories 5814 · Fast food, cafés / 5942 · Books; regions KR-11 · Seoul"
    )
    expect(rule(culture, "refund")).to_have_text("once 60% is spent (80% up to 10,000)")
    expect(culture.locator("[data-test=budget]")).to_have_count(0)
    expect(console.locator("[data-asset=HARBOR-GIFT] [data-test=no-policy]")).to_be_visible()

    # A shop that usually redeems 100,000 a month takes 310,000 and cashes it out at once: flagged past 3x.
    with TallyClient(council.url, reader=harbor_key(council)) as client:
        bank = signer(client, council, "harbor-bank")
        for tx in (bank.set_merchant_limit("cafe-lumen", "SEOUL-LOVE", 0, 100_000),
                   bank.sell("SEOUL-LOVE", "bob", 300_000, 270_000, "HARBOR-BANK/KRW-web-1")):  # fmt: skip
            assert client.wait_final(client.submit(tx)).code == "ok"
        bob = read_keyfile(council.data_dir / "keys" / "bob.json").keypair()
        with TallyClient(council.url, reader=("bob", bob)) as own:
            seq = own.account("bob").seq
        paid = Signer("bob", bob, client.genesis().chain, next_seq=seq).pay(
            "SEOUL-LOVE", "cafe-lumen", 310_000, "love-web-1"
        )
        assert client.wait_final(client.submit(paid)).code == "ok"
        cafe = read_keyfile(council.data_dir / "keys" / "cafe-lumen.json").keypair()
        with TallyClient(council.url, reader=("cafe-lumen", cafe)) as own:
            seq = own.account("cafe-lumen").seq
        cashed = Signer("cafe-lumen", cafe, client.genesis().chain, next_seq=seq).cash_out(
            "SEOUL-LOVE", 310_000, "HARBOR-BANK/ACC-1001", ref="love-web-cash-1"
        )
        assert client.wait_final(client.submit(cashed)).code == "ok"
        [flag] = client.flags("SEOUL-LOVE").flags
        assert (flag.merchant, flag.usual_minor, flag.multiple) == ("cafe-lumen", 100_000, 3)
        budget = client.balances("seoul-budget")["SEOUL-LOVE"]
    month = f"{1970 + flag.month // 12}-{flag.month % 12 + 1:02d}"
    row = love.locator("[data-test=flags] tr[data-merchant=cafe-lumen]")  # the page follows the blocks
    expect(row).to_contain_text(month)
    expect(row).to_contain_text(f"{flag.redeemed_minor:,}")
    expect(row).to_contain_text("100,000")
    expect(row).to_contain_text(f"block {flag.height}")
    expect(love.locator("[data-test=budget]")).to_have_text(f"seoul-budget: {budget:,} left")  # 30,000 less
    shoot(console, "console-assets-policy")
    console.click("button:has-text('한국어')")
    expect(rule(love, "discount")).to_have_text("10% 할인, seoul-budget 계좌 부담")
    expect(love.locator("[data-test=budget]")).to_contain_text("남음")
    shoot(console, "console-assets-policy-ko")
    console_context.close()

    # skyway neither issues Seoul Love nor supervises: the flags are not its to read; the budget is public.
    sky_context, sky = new_page(browser, council.url + "/console/#/assets")
    sky.set_viewport_size({"width": 1280, "height": 800})
    sign_in(sky, council, "skyway")
    love = sky.locator("[data-asset=SEOUL-LOVE]")
    expect(rule(love, "discount")).to_have_text("10% off, paid by seoul-budget")  # the policy is public
    expect(love.locator("[data-test=flags-hidden]")).to_have_text(
        "Flagged merchants are visible only to the issuer (harbor-bank) and supervisors (regulators and auditors)."
    )
    with TallyClient(council.url) as anyone:
        left = anyone.supply("SEOUL-LOVE").budget_minor
    assert left is not None
    expect(love.locator("[data-test=budget]")).to_have_text(f"seoul-budget: {left:,} left")
    expect(love.locator("[data-test=flags]")).to_have_count(0)
    shoot(sky, "console-assets-policy-other-member")
    sky_context.close()


def incentive_field(card: Locator, rule_id: str, name: str) -> Locator:
    """One field of an asset card's cashback rule, by name: rate, where, period, cap, budget."""
    return card.locator(f"[data-test=incentives] [data-incentive={rule_id}] dd[data-field={name}]")


def test_the_console_shows_an_assets_incentive_rules(council: NodeProcess, browser: Browser) -> None:  # noqa: F811
    """The Assets tab lists Seoul Love's cashback rule seoul-cafes (5% at Seoul's cafés, up to 5,000 a holder, no
    end) with what seoul-budget has left (the public incentives route, read here through the SDK), running, in
    English and Korean; assets without rules show none."""
    with TallyClient(council.url) as client:
        [item] = client.incentives("SEOUL-LOVE").items
        assert not client.incentives("HARBOR-GIFT").items and not client.incentives("SEOUL-CULTURE").items
    assert (item.rule.id, item.rule.rate_bp, item.rule.cap_per_holder_minor, item.rule.budget_account, item.active) == (
        "seoul-cafes", 500, 5_000, "seoul-budget", True
    )  # fmt: skip
    left = item.budget_minor
    console_context, console = new_page(browser, council.url + "/console/#/assets")
    console.set_viewport_size({"width": 1280, "height": 800})
    sign_in(console, council, "harbor-bank")
    love = console.locator("[data-asset=SEOUL-LOVE]")
    expect(love.locator("[data-test=incentives] h3")).to_have_text("Incentives (cashback)")
    expect(love.locator("[data-incentive]")).to_have_count(1)
    cafes = love.locator("[data-incentive=seoul-cafes]")
    expect(cafes.locator(".rule-id")).to_have_text("seoul-cafes")
    expect(cafes.locator("[data-test=running]")).to_have_text("running")
    expect(incentive_field(love, "seoul-cafes", "rate")).to_have_text("5% of each payment")
    expect(incentive_field(love, "seoul-cafes", "where")).to_have_text(
        "categories 5814 · Fast food, cafés; regions KR-11 · Seoul"
    )
    expect(incentive_field(love, "seoul-cafes", "period")).to_have_text("no end")
    expect(incentive_field(love, "seoul-cafes", "cap")).to_have_text("5,000")
    expect(incentive_field(love, "seoul-cafes", "budget")).to_have_text(f"seoul-budget: {left:,} left")
    expect(cafes.locator("[data-test=budget-empty]")).to_have_count(0)
    for other in ("HARBOR-GIFT", "SEOUL-CULTURE", "SKYMILES"):
        expect(console.locator(f"[data-asset={other}] [data-test=incentives]")).to_have_count(0)
    shoot(console, "console-assets-incentives")

    console.click("button:has-text('한국어')")
    expect(love.locator("[data-test=incentives] h3")).to_have_text("인센티브(캐시백)")
    expect(cafes.locator("[data-test=running]")).to_have_text("진행 중")
    expect(incentive_field(love, "seoul-cafes", "rate")).to_have_text("결제액의 5%")
    expect(incentive_field(love, "seoul-cafes", "where")).to_have_text("업종 5814 · 패스트푸드·카페; 지역 KR-11 · 서울")
    expect(incentive_field(love, "seoul-cafes", "period")).to_have_text("기한 없음")
    expect(incentive_field(love, "seoul-cafes", "cap")).to_have_text("5,000")
    expect(incentive_field(love, "seoul-cafes", "budget")).to_have_text(f"seoul-budget: {left:,} 남음")
    shoot(console, "console-assets-incentives-ko")
    console_context.close()


def usd(minor: int, signed: bool = False) -> str:
    """Cents as the console writes dollars: "148.57 USD" ("+148.57 USD" signed)."""
    text = f"{abs(minor) // 100:,}.{abs(minor) % 100:02d} USD"
    return ("-" if minor < 0 else "+" if signed and minor > 0 else "") + text


def test_the_console_shows_settlement_positions_windows_and_payouts(council: NodeProcess, browser: Browser) -> None:  # noqa: F811
    """liberty-hotels' Settlement tab: USD in windows of 20 blocks through HARBOR-USD, 1 KRW = 1/1400 USD; skyway owes
    it 148.57 USD (68.57 exchanged, 100.00 roamed, 20.00 refunded back), and the page follows a roaming payment made
    while it is open. The hotel's 5,000-point payout is pending: Paid marks it done, once (a second answer is refused,
    payout_acknowledged); a later one is returned (account_closed) and its points come back. Once the window closes,
    skyway's dollar token no longer covering its position, the ledger settlement is refused (insufficient_prefunding),
    and the window goes out through the banks and is confirmed. The report downloads as the node's CSV."""
    hotels = read_keyfile(council.data_dir / "keys" / "liberty-hotels.json")
    with TallyClient(council.url, reader=hotels) as client:
        s = client.settlement()
        assert (s.currency, s.window_blocks, s.asset) == ("USD", 20, "HARBOR-USD")
        [pair] = s.unsettled_pairs
        assert (pair.debtor, pair.creditor, pair.amount_minor) == ("skyway", "liberty-hotels", 14_857)  # 148.57 USD
        first = client.windows().items[-1]  # the demo's window: the oldest
        detail = client.window(first.window)
        assert sorted((o.kind, o.debtor, o.amount_minor) for o in detail.obligations) == [
            ("exchange", "skyway", 6_857), ("refund", "liberty-hotels", 2_000), ("roaming", "skyway", 10_000)
        ]  # fmt: skip
        [payout] = [p for p in detail.payouts if p.account == "liberty-nyc"]
        assert (payout.asset, payout.amount_minor, payout.status) == ("LIBERTY", 5_000, "pending")

    page_context, page = new_page(browser, council.url + "/console/")
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, council, "liberty-hotels")
    page.click("[data-test=to-settlement]")
    expect(page.locator("[data-test=window]")).to_have_attribute("data-window", str(first.window))  # the open one
    to(page, f"/settlement/{first.window}")  # kept while later windows begin
    config = page.locator("[data-test=settlement-config]")
    expect(config.locator("[data-test=currency]")).to_have_text("USD")
    expect(config.locator("[data-test=window-blocks]")).to_have_text("20 blocks")
    expect(config.locator("[data-test=settlement-asset]")).to_have_text(
        "HARBOR-USD · Harbor Bank USD deposit token (settlement)"
    )
    expect(config.locator("[data-test=fx]")).to_have_text("1 KRW = 1/1400 ≈ 0.000714 USD")
    expect(config.locator("[data-test=rates] tr[data-asset=SKYMILES]")).to_contain_text("1 = 9.6 KRW")
    owed = page.locator("[data-test=pairs] li[data-debtor=skyway][data-creditor=liberty-hotels]")
    expect(owed).to_contain_text("skyway owes liberty-hotels")
    expect(owed.locator("[data-test=pair-amount]")).to_have_text(usd(14_857))
    expect(page.locator("[data-test=my-net]")).to_have_text(f"{usd(14_857, True)} owed to you")
    window = page.locator(f"[data-test=window][data-window='{first.window}']")
    for kind, amount in (("exchange", 6_857), ("roaming", 10_000), ("refund", 2_000)):
        expect(window.locator(f"[data-test=obligations] tr[data-kind={kind}]").first).to_contain_text(usd(amount))
    hotel = window.locator(f"[data-test=payouts] li[data-payout='{payout.txid}']")
    expect(hotel.locator("[data-test=payout-status]")).to_have_text("pending")
    expect(hotel).to_contain_text("liberty-nyc · 5,000 LIBERTY")
    shoot(page, "console-settlement")

    # A roaming payment while the page is open: emeka pays the hotel $20 (2,500 points) with miles; the position grows.
    with TallyClient(council.url, reader=hotels) as client:
        quote = client.quote_roaming("LIBERTY", 2_500, "SKYMILES")
        emeka = signer(client, council, "emeka")
        paid = emeka.pay_roaming("LIBERTY", "liberty-nyc", 2_500, "stay-web-1", "SKYMILES", quote.pay_minor)
        assert client.wait_final(client.submit(paid)).code == "ok"
        assert client.settlement().unsettled_pairs[0].amount_minor == 14_857 + quote.value_minor
    live = 14_857 + quote.value_minor  # 168.57 USD
    expect(owed.locator("[data-test=pair-amount]")).to_have_text(usd(live))
    expect(page.locator("[data-test=my-net]")).to_have_text(f"{usd(live, True)} owed to you")

    # The hotel's bank paid the payout: Paid records it, once.
    hotel.locator("[data-test=payout-paid]").click()
    expect(hotel.locator("[data-test=payout-status]")).to_have_text("done")
    expect(hotel.locator("[data-test=payout-paid]")).to_have_count(0)
    expect(hotel.locator("[data-test=payout-returned]")).to_have_count(0)
    with TallyClient(council.url, reader=hotels) as client:
        again = signer(client, council, "liberty-hotels").ack_payout(payout.txid, False, reason="account_closed")
        status = client.wait_final(client.submit(again))
        assert (status.code, status.status) == ("payout_acknowledged", "final")
        assert [p.status for p in client.window(first.window).payouts if p.txid == payout.txid] == ["done"]

    # A second cash-out the bank returns (account closed): the points go back to the hotel.
    with TallyClient(council.url, reader=hotels) as client:
        hotel_signer = signer(client, council, "liberty-nyc")
        cashed = hotel_signer.cash_out("LIBERTY", 1_000, "US-CHASE-021000021-4410", ref="cash-out-web-1")
        cashed_status = client.wait_final(client.submit(cashed))
        assert cashed_status.code == "ok"
        current = client.settlement().current_window  # the window it is paid out in: this one, or the one before
        returned_window = next(n for n in (current, current - 1)
                               if any(p.txid == cashed_status.txid for p in client.window(n).payouts))  # fmt: skip
        left = client.balances("liberty-nyc")["LIBERTY"]
    to(page, f"/settlement/{returned_window}")
    back = page.locator(f"[data-test=payouts] li[data-payout='{cashed_status.txid}']")
    back.locator("[data-test=payout-returned]").click()
    page.fill("input[name=return_reason]", "account_closed")
    shoot(page, "console-settlement-return")
    back.locator("[data-test=payout-confirm-return]").click()
    expect(back.locator("[data-test=payout-status]")).to_have_text("returned")
    expect(back.locator("[data-test=return-reason]")).to_have_text("returned: account_closed")
    with TallyClient(council.url, reader=hotels) as client:
        assert client.balances("liberty-nyc")["LIBERTY"] == left + 1_000

    # skyway moves its dollar token away (its prefunding); blocks pass until the window has closed.
    with TallyClient(council.url, reader=hotels) as client:
        sky = signer(client, council, "skyway")
        with TallyClient(council.url, reader=read_keyfile(council.data_dir / "keys" / "skyway.json")) as own:
            dollars = own.balances("skyway")["HARBOR-USD"]
        assert client.wait_final(client.submit(sky.transfer("HARBOR-USD", "harbor-bank", dollars))).code == "ok"
        bank = signer(client, council, "harbor-bank")
        deadline = time.monotonic() + 60
        while client.settlement().height <= first.last_height:  # each round is a block
            assert time.monotonic() < deadline, "no block closed the window"
            assert client.wait_final(client.submit(bank.issue("HARBOR-GIFT", "harbor-bank", 1))).code == "ok"
        # liberty-hotels' bank adapter records the payout file it wrote for the closed window (its name and SHA-256).
        sha = hashlib.sha256(b"pain.001 for window %d" % first.window).hexdigest()
        recorded = signer(client, council, "liberty-hotels").record_bank_file(
            first.window,
            "pain.001",
            f"liberty-hotels-w{first.window:012d}-pain.001.xml",
            sha,
            transactions=1,
            total_minor=4_000,
        )
        assert client.wait_final(client.submit(recorded)).code == "ok"
    to(page, f"/settlement/{first.window}")
    expect(window.locator("[data-test=settle]")).to_be_visible()
    bank_file = window.locator("[data-test=files] tr[data-kind='pain.001'][data-member=liberty-hotels]")
    expect(bank_file).to_contain_text(f"liberty-hotels-w{first.window:012d}-pain.001.xml")
    expect(bank_file.locator("[data-test=sha256]")).to_have_text(sha)
    expect(bank_file.locator("[data-test=file-total]")).to_contain_text("4,000 (minor units)")
    expect(bank_file.locator("[data-test=file-total]")).to_contain_text("payments: 1")
    shoot(page, "console-settlement-closed")
    window.locator("[data-test=settle]").click()
    expect(window.locator(".error")).to_have_attribute("data-code", "insufficient_prefunding")
    expect(window.locator("[data-test=prefunding-short]")).to_be_visible()
    window.locator("[data-test=settle-bank]").click()
    expect(window).to_have_attribute("data-status", "bank")
    expect(window.locator("[data-test=status]")).to_have_text("at the banks")
    with TallyClient(council.url, reader=hotels) as client:
        sent = client.window(first.window).window
        [move] = sent.moves
        assert (move.debtor, move.creditor, sent.status) == ("skyway", "liberty-hotels", "bank")
    expect(window.locator("[data-test=moves] li[data-debtor=skyway]")).to_contain_text(usd(move.amount_minor))
    shoot(page, "console-settlement-bank")
    window.locator("[data-test=ack-settlement]").click()
    expect(window).to_have_attribute("data-status", "settled")
    expect(page.locator(f"tr[data-window='{first.window}'] [data-test=window-status]")).to_have_text("settled")

    # The window's report, downloaded with the member's token, is the node's CSV.
    with page.expect_download() as download:
        window.locator("[data-test=report]").click()
    with TallyClient(council.url, reader=hotels) as client:
        token = client.authenticate().token
        csv = httpx.get(f"{council.url}/v1/settlement/report", params={"window": first.window, "format": "csv"},
                        headers={"authorization": f"Bearer {token}"}).text  # fmt: skip
        settled = client.settlement()
    assert download.value.suggested_filename == f"settlement-window-{first.window}.csv"
    assert Path(download.value.path()).read_text("utf-8") == csv and ",liberty-hotels,settled," in csv
    mine = next((m.net_minor for m in settled.unsettled if m.member == "liberty-hotels"), 0)
    expect(page.locator("[data-test=my-net]")).to_contain_text(usd(mine, True))
    shoot(page, "console-settlement-settled")
    page.click("button:has-text('한국어')")
    expect(window.locator("[data-test=status]")).to_have_text("정산됨")
    shoot(page, "console-settlement-ko")
    page_context.close()


def test_the_console_is_served_with_the_other_apps(council: NodeProcess) -> None:
    root = Path(__file__).resolve().parent.parent
    script = (root / "src" / "tally" / "web" / "static" / "console" / "app.js").read_text("utf-8")
    assert "localStorage" not in script  # the member's key is kept in the page's memory only
    with TallyClient(council.url, reader=harbor_key(council)) as client:
        assert client.http.get("/").json()["apps"]["console"] == "/console/"
        page = client.http.get("/console/")
        assert page.status_code == 200 and "/web/console/app.js" in page.text
