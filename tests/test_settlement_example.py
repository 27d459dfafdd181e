"""docs/examples/settlement.sh (docs/settlement.md) runs against a fresh demo node and prints the output checked in
beside it.

Transaction ids, file hashes and block heights differ from run to run: both sides show them as <hex> and <n>.
To regenerate after a deliberate change: TALLY_REGENERATE=1 pytest tests/test_settlement_example.py
"""

from __future__ import annotations

from pathlib import Path

from helpers import ROOT, quoted_blocks_in_output, run_example

SCRIPT = ROOT / "docs" / "examples" / "settlement.sh"
PAGE = ROOT / "docs" / "settlement.md"


def test_the_settlement_example_prints_its_checked_in_output(tmp_path: Path) -> None:
    ran = run_example(SCRIPT, tmp_path)
    assert "1713 LIBERTY" in ran and "remainder 36/35" in ran, "the exact quote"
    assert ran.count("(exit 1)") == 2, "the moved rate and the second acknowledgement are refused"
    assert "rejected below_minimum" in ran and "rejected payout_acknowledged" in ran
    assert "settled window 0 in the settlement asset" in ran
    assert ran.count("wrote .tally/bank-drop/") == 1, "one file per window"
    assert "no open positions" in ran.split("$ tally settlement show --key")[-1], "every position is zero"
    pain = tmp_path / ".tally" / "bank-drop" / "liberty-hotels-w000000000000-pain.001.xml"
    from tally.settlement.iso20022 import sha256_hex, validate

    validate(pain.read_bytes())
    assert f"pain.001 {sha256_hex(pain.read_bytes())}" in ran, "the report names the file's SHA-256 on the ledger"


def test_the_page_quotes_the_example_as_it_runs() -> None:
    """The commands and answers docs/settlement.md quotes are in the checked-in output, word for word."""
    assert quoted_blocks_in_output(PAGE, SCRIPT) > 0
