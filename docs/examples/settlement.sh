#!/usr/bin/env bash
# Financial roaming and settlement between members, from the command line, against `make run`
# (docs/settlement.md). Run it from the repository root while `make run` serves the demo:
# bash docs/examples/settlement.sh
# Its output is checked in beside it (settlement.out, with transaction ids, hashes and block heights shown as
# <hex> and <n>), and tests/test_settlement_example.py reruns it against a fresh demo node.
set -euo pipefail
. "$(dirname "$0")/run.sh"  # KEYS, TALLY and run
PYTHON="$(dirname "$TALLY")/python"
shell() { echo "\$ $*"; "$@"; echo; }  # a shell command, shown like `run`

# --- Rates: Skyway miles in won, Liberty Hotels points in dollars -----------------------------------
# Each issuer publishes its rate within the council's bounds; the council's FX rate turns won into dollars.
run rates
# --- Exchange: dana turns 2,000 miles into Liberty points ------------------------------------------
# The quote is exact: 2,000 x 9.6 won = 19,200 won = 1,371 3/7 cents; the obligation is 1,371 cents,
# which buys 1,713 points (1,713.75, rounded down); the remainder stays with the issuer that pays out.
run quote exchange SKYMILES LIBERTY 2000
run tx exchange --from-asset SKYMILES --to-asset LIBERTY --amount-minor 2000 --min-out-minor 1713 --ref x-dana-1 --key "$KEYS/dana.json"
# Skyway changes its rate in between: signed with the old quote's minimum, the exchange is refused, nothing moves.
run tx set-rate --asset SKYMILES --rate 9/1 --key "$KEYS/skyway.json"
run tx exchange --from-asset SKYMILES --to-asset LIBERTY --amount-minor 2000 --min-out-minor 1713 --ref x-dana-2 --key "$KEYS/dana.json"
run tx set-rate --asset SKYMILES --rate 48/5 --key "$KEYS/skyway.json"
# --- A roaming payment: farah pays a New York Liberty hotel $50 with her miles -------------------
# The hotel takes only Liberty points: it receives exactly 6,250 (= $50); farah pays the least number of
# miles whose value carries it.
run quote roaming LIBERTY 6250 SKYMILES
run tx pay-roaming --asset LIBERTY --merchant liberty-nyc --amount-minor 6250 --payment-id stay-farah-1 --pay-asset SKYMILES --max-pay-minor 7292 --key "$KEYS/farah.json"
# The hotel refunds $10: the miles come back at the payment's own rate.
run tx refund --payment-id stay-farah-1 --amount-minor 1250 --ref refund-farah-1 --key "$KEYS/liberty-nyc.json"
run balance farah --key "$KEYS/farah.json"
# --- Positions: what the members owe each other, live ---------------------------------------------
run settlement show --key "$KEYS/liberty-hotels.json"
# The hotel cashes out $30 of points to its bank account: a payout, paid by Liberty's bank.
CASH_OUT=$("$TALLY" tx cash-out --asset LIBERTY --amount-minor 3750 --payout-ref "US-CHASE-021000021-4410" --ref cash-out-2 --json --key "$KEYS/liberty-nyc.json" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["txid"])')
# --- Settlement: the council closes the window ----------------------------------------------------
# Windows are 20 blocks; the council shortens them to 5, which ends the open window with this block.
run council propose set-settlement --id settlement-5 --currency USD --window-blocks 5 --asset HARBOR-USD --fx '[{"currency": "KRW", "rate": {"num": 1, "den": 14}}]' --key "$KEYS/harbor-bank.json"
run tx issue --asset HARBOR-USD --to skyway --amount-minor 1 --key "$KEYS/harbor-bank.json"
# Liberty's bank adapter settles the closed window in Harbor Bank's dollar token (prefunded by every member),
# writes Liberty's payout file (ISO 20022 pain.001) once, and records its SHA-256 on the ledger.
cat > .tally/liberty-bank.json <<'JSON'
{"member": "liberty-hotels", "settle": "ledger", "currencies": {"USD": 2, "KRW": 0},
 "banks": {"liberty-hotels": {"name": "Liberty Hotels Rewards", "bic": "CHASUS33", "account": "US-021000021-9001"},
           "skyway": {"name": "Skyway Airlines Loyalty", "bic": "SKYWKRSE", "account": "KR-110-0042"},
           "harbor-bank": {"name": "Harbor Bank", "bic": "HRBRKRSE", "account": "KR-110-0001"}}}
JSON
run settlement run --key "$KEYS/liberty-hotels.json" --config .tally/liberty-bank.json --drop .tally/bank-drop
# A second pass (or one after a restart) writes and records nothing: one file per window.
run settlement run --key "$KEYS/liberty-hotels.json" --config .tally/liberty-bank.json --drop .tally/bank-drop
shell ls .tally/bank-drop
shell grep -c "<CdtTrfTxInf>" .tally/bank-drop/liberty-hotels-w000000000000-pain.001.xml
# The bank pays the hotel: Liberty records the acknowledgement, once.
run tx ack-payout --payout "$CASH_OUT" --accepted --key "$KEYS/liberty-hotels.json"
run tx ack-payout --payout "$CASH_OUT" --accepted --key "$KEYS/liberty-hotels.json"
# --- Reports for the finance teams ----------------------------------------------------------------
run settlement report --window 0 --key "$KEYS/liberty-hotels.json"
run settlement report --window 0 --csv --key "$KEYS/liberty-hotels.json"
run settlement show --key "$KEYS/skyway.json"
