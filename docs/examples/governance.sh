#!/usr/bin/env bash
# The council at work, from the command line, against `make run` (docs/governance.md).
# Run it from the repository root while `make run` serves the demo: bash docs/examples/governance.sh
# Its output is checked in beside it (governance.out, with transaction ids, keys and block heights
# shown as <hex> and <n>), and tests/test_governance_example.py reruns it against a fresh demo node.
set -euo pipefail
. "$(dirname "$0")/run.sh"  # KEYS, TALLY and run

# The demo's council: its two members, a proposal passes with 1 vote (the genesis default).
run council list
# harbor-bank alone raises the threshold to 2 of 2: it passes with its own vote.
run council propose set-param --id threshold-2 --name threshold --value 2 --key "$KEYS/harbor-bank.json"
# From now on a proposal needs both members. harbor-bank proposes a quota for its voucher ...
run council propose set-quota --id gift-quota --asset HARBOR-GIFT --quota-minor 1000000 --key "$KEYS/harbor-bank.json"
run council list
# ... and skyway's vote passes it, in the block that holds the vote.
run council vote gift-quota --key "$KEYS/skyway.json"
run council vote gift-quota --key "$KEYS/skyway.json"
# Issuing beyond the quota is refused: 599,000 outstanding + 500,000 > 1,000,000.
run tx issue --asset HARBOR-GIFT --to alice --amount-minor 500000 --ref over-quota-1 --key "$KEYS/harbor-bank.json"
# The council admits a regulator (both members vote) ...
"$TALLY" keys new --id fsc --out "$KEYS/fsc.json" >/dev/null
FSC_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public_key"])' "$KEYS/fsc.json")
run council propose admit-member --id admit-fsc --account fsc --name "Financial regulator" \
    --public-key "$FSC_KEY" --role regulator --key "$KEYS/harbor-bank.json"
run council vote admit-fsc --key "$KEYS/skyway.json"
# ... which freezes alice's account: she can no longer pay, and sees why.
run account freeze alice --reason court_order --key "$KEYS/fsc.json"
run tx pay --asset HARBOR-GIFT --merchant cafe-lumen --amount 1.00 --payment-id frozen-1 --key "$KEYS/alice.json"
run account controls alice --key "$KEYS/alice.json"   # alice reads her own controls
run account unfreeze alice --key "$KEYS/fsc.json"
# bob's member limits his voucher payments to 50.00 at a time: exactly the limit passes, a cent more does not.
run account limits bob --asset HARBOR-GIFT --max-payment-minor 5000 --key "$KEYS/harbor-bank.json"
run tx pay --asset HARBOR-GIFT --merchant cafe-lumen --amount 50.01 --payment-id limit-1 --key "$KEYS/bob.json"
run tx pay --asset HARBOR-GIFT --merchant cafe-lumen --amount 50.00 --payment-id limit-2 --key "$KEYS/bob.json"
run account controls bob --key "$KEYS/harbor-bank.json"   # bob's member reads his
# dana lost her phone: skyway, her member, starts moving her account to a new key. Until the council's
# recovery delay has passed (24 hours by default) her old key can cancel it; after it, skyway completes it.
"$TALLY" keys new --id dana --out "$KEYS/dana-new.json" >/dev/null
run account recover start dana --new-key "$KEYS/dana-new.json" --key "$KEYS/skyway.json"
run account recover complete dana --key "$KEYS/skyway.json"
run account recover cancel dana --key "$KEYS/dana.json"
# chen replaces his key himself; from the next block only the new key signs for him (the CLI refuses the
# old key file before signing; the node would refuse its signature, bad_signature).
"$TALLY" keys new --id chen --out "$KEYS/chen-new.json" >/dev/null
run account rotate-key --new-key "$KEYS/chen-new.json" --key "$KEYS/chen.json"
run tx transfer --asset SKYMILES --to bob --amount 1 --ref after-rotation --key "$KEYS/chen.json"
run tx transfer --asset SKYMILES --to bob --amount 1 --ref after-rotation --key "$KEYS/chen-new.json"
run council list
