#!/usr/bin/env bash
# Issuers' policies at work, from the command line, against `make run` (docs/issuers.md).
# Run it from the repository root while `make run` serves the demo: bash docs/examples/issuers.sh
# Its output is checked in beside it (issuers.out, with transaction ids and block heights shown as <hex>
# and <n>), and tests/test_issuers_example.py reruns it against a fresh demo node.
set -euo pipefail
. "$(dirname "$0")/run.sh"  # KEYS, TALLY and run

# --- A voucher: Seoul's culture voucher -------------------------------------------------------------
# Harbor Bank issues it for the city: spent only at Seoul's cafés (MCC 5814) and bookshops (5942).
run policy show SEOUL-CULTURE
# Where the merchants are: two in Seoul (KR-11), one bookshop in Busan (KR-26).
run merchants near --lat 37.5665 --lon 126.978 --asset SEOUL-CULTURE
# bob spends his voucher at a Seoul bookshop ...
run tx pay --asset SEOUL-CULTURE --merchant book-nook --amount 29000 --payment-id culture-bob-1 --key "$KEYS/bob.json"
# ... but not at the Busan one, nor at a shop of another category (the duty-free shop, MCC 5309).
run tx pay --asset SEOUL-CULTURE --merchant haeundae-books --amount 1000 --payment-id culture-bob-2 --key "$KEYS/bob.json"
run tx pay --asset SEOUL-CULTURE --merchant duty-free-7 --amount 1000 --payment-id culture-bob-3 --key "$KEYS/bob.json"
# A merchant cannot pass vouchers on to another merchant (the voucher-cashing channel): only holders pay.
run tx pay --asset SEOUL-CULTURE --merchant cafe-lumen --amount 1000 --payment-id culture-shop-1 --key "$KEYS/book-nook.json"
# He has spent 29,000 of 50,000 (58%): the remainder comes back only from 60%.
run tx redeem-remainder --asset SEOUL-CULTURE --payout-ref "HARBOR-BANK/ACC-2002" --ref remainder-bob-1 --key "$KEYS/bob.json"
run tx pay --asset SEOUL-CULTURE --merchant cafe-lumen --amount 1000 --payment-id culture-bob-4 --key "$KEYS/bob.json"
run tx redeem-remainder --asset SEOUL-CULTURE --payout-ref "HARBOR-BANK/ACC-2002" --ref remainder-bob-2 --key "$KEYS/bob.json"
run balance bob --key "$KEYS/bob.json"
# The council widens the voucher to Busan (a proposal: with the demo's threshold of 1, harbor-bank's vote passes
# it). A policy is replaced whole; its lot lifetime (a year) stays what it was when the asset was created.
cat > .tally/culture-busan.json <<'JSON'
{"categories": ["5814", "5942"], "regions": ["KR-11", "KR-26"], "holder_cap_minor": 500000,
 "refund_pct": 60, "small_refund_pct": 80, "small_face_minor": 10000, "lot_lifetime_ms": 31536000000}
JSON
run council propose set-policy --id culture-busan --asset SEOUL-CULTURE --not-transferable --cash-out merchants \
    --policy @.tally/culture-busan.json --key "$KEYS/harbor-bank.json"
run policy show SEOUL-CULTURE
run tx pay --asset SEOUL-CULTURE --merchant haeundae-books --amount 1000 --payment-id culture-chen-1 --key "$KEYS/chen.json"

# --- A local currency: Seoul Love, 10% off ------------------------------------------------------------
run policy show SEOUL-LOVE
# A resident pays 90,000 won at her bank and receives 100,000; the 10,000 comes out of the city's budget.
run tx sell --asset SEOUL-LOVE --buyer alice --face-minor 100000 --paid-minor 90000 --bank-ref "KB-000451" --ref love-sale-451 --key "$KEYS/harbor-bank.json"
# The price must be the face value less the discount.
run tx sell --asset SEOUL-LOVE --buyer alice --face-minor 100000 --paid-minor 95000 --bank-ref "KB-000452" --ref love-sale-452 --key "$KEYS/harbor-bank.json"
# alice bought 100,000 at the demo's start and 100,000 now: 500,000 more passes her 700,000 a month.
run tx sell --asset SEOUL-LOVE --buyer alice --face-minor 500000 --paid-minor 450000 --bank-ref "KB-000453" --ref love-sale-453 --key "$KEYS/harbor-bank.json"
run tx sell --asset SEOUL-LOVE --buyer alice --face-minor 500001 --paid-minor 450001 --bank-ref "KB-000454" --ref love-sale-454 --key "$KEYS/harbor-bank.json"
run balance seoul-budget --key "$KEYS/harbor-bank.json"
# Seoul Love is good for five years from each purchase: alice holds it as lots, the first to expire spent first.
run lots alice --key "$KEYS/alice.json"
# The issuer caps what cafe-lumen may cash out (redeem) a month and states its usual redemptions, from its
# registered size; a month's redemptions past three times that flag it for the issuer and the regulator
# (freezing stays the regulator's).
run tx set-merchant-limit --merchant cafe-lumen --asset SEOUL-LOVE --cash-out-monthly-minor 300000 --usual-monthly-minor 90000 --key "$KEYS/harbor-bank.json"
run tx pay --asset SEOUL-LOVE --merchant cafe-lumen --amount 310000 --payment-id love-alice-1 --key "$KEYS/alice.json"
# That payment earned alice Seoul Love's cashback at Seoul's cafés: 5%, capped at 5,000 a holder, out of the
# city's budget. She held 700,000: 700,000 - 310,000 + 5,000.
run policy incentives SEOUL-LOVE
run balance alice --key "$KEYS/alice.json"
# cafe-lumen cashes the 310,000 out at once: over its cap, refused; 300,000 passes, past 3 x 90,000: flagged.
run tx cash-out --asset SEOUL-LOVE --amount 310000 --payout-ref "HARBOR-BANK/ACC-1001" --ref love-cash-1 --key "$KEYS/cafe-lumen.json"
run tx cash-out --asset SEOUL-LOVE --amount 300000 --payout-ref "HARBOR-BANK/ACC-1001" --ref love-cash-2 --key "$KEYS/cafe-lumen.json"
run policy flags SEOUL-LOVE --key "$KEYS/harbor-bank.json"

# --- Rewards: Skyway's coupon mall ---------------------------------------------------------------------
run coupons list
run tx buy-coupon --coupon americano --ref coupon-emeka-1 --key "$KEYS/emeka.json"
