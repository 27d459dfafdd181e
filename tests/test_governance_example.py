"""docs/examples/governance.sh runs against a fresh demo node and prints the output checked in beside it.

Transaction ids, keys, block heights and times differ from run to run: both sides show them as <hex>, <n>, <ms>.
To regenerate after a deliberate change: TALLY_REGENERATE=1 pytest tests/test_governance_example.py
"""

from __future__ import annotations

from pathlib import Path

from helpers import ROOT, run_example

SCRIPT = ROOT / "docs" / "examples" / "governance.sh"


def test_the_governance_example_prints_its_checked_in_output(tmp_path: Path) -> None:
    ran = run_example(SCRIPT, tmp_path)
    assert "rejected over_quota" in ran and "rejected account_frozen" in ran
    assert ran.count("(exit 1)") == 6, "six commands are refused, each saying why"
