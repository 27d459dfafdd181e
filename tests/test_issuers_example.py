"""docs/examples/issuers.sh (docs/issuers.md) runs against a fresh demo node and prints the output checked in beside it.

Transaction ids and block heights differ from run to run: both sides show them as <hex> and <n>.
To regenerate after a deliberate change: TALLY_REGENERATE=1 pytest tests/test_issuers_example.py
"""

from __future__ import annotations

from pathlib import Path

from helpers import ROOT, quoted_blocks_in_output, run_example

SCRIPT = ROOT / "docs" / "examples" / "issuers.sh"
PAGE = ROOT / "docs" / "issuers.md"


def test_the_issuers_example_prints_its_checked_in_output(tmp_path: Path) -> None:
    ran = run_example(SCRIPT, tmp_path)
    for code in (
        "wrong_region",
        "wrong_category",
        "payer_not_allowed",
        "refund_threshold_not_reached",
        "wrong_price",
        "over_monthly_cap",
        "over_cash_out_cap",
    ):
        assert f"rejected {code}" in ran, code
    assert ran.count("(exit 1)") == 7, "seven commands are refused, each naming its rule"
    assert "cafe-lumen" in ran.split("$ tally policy flags")[1], "the shop that took far more than usual is flagged"


def test_the_page_quotes_the_example_as_it_runs() -> None:
    """The refusal docs/issuers.md quotes is in the checked-in output, word for word."""
    assert quoted_blocks_in_output(PAGE, SCRIPT) > 0
