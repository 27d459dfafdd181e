# What the worked examples share (sourced by governance.sh and issuers.sh): where the keys and the CLI are,
# and `run`, which shows a command, then runs it; a rejected transaction exits 1, which the examples expect.
KEYS=${KEYS:-.tally/node/keys}
TALLY=${TALLY:-.venv/bin/tally}

run() {
    local shown
    shown=$(printf '%q ' "$@")
    echo "\$ tally ${shown% }"
    "$TALLY" "$@" 2>&1 || echo "(exit $?)"
    echo
}
