"""docs/examples/governance.sh runs against a fresh demo node and prints the output checked in beside it.

Transaction ids, keys, block heights and times differ from run to run: both sides show them as <hex>, <n>, <ms>.
To regenerate after a deliberate change: TALLY_REGENERATE=1 pytest tests/test_governance_example.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import NodeProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "examples" / "governance.sh"
OUTPUT = SCRIPT.with_suffix(".out")


def masked(text: str) -> str:
    """Hex of 12 characters or more (with a letter: not an amount) as <hex>; block heights as <n>, block
    times (milliseconds since 1970) as <ms>."""
    text = re.sub(r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b", "<hex>", text)
    text = re.sub(r"\bblock time [0-9]+", "block time <ms>", text)
    return re.sub(r"\bblock [0-9]+", "block <n>", text)


def test_the_governance_example_prints_its_checked_in_output(tmp_path: Path) -> None:
    tally = [sys.executable, "-m", "tally.cli"]
    data_dir = tmp_path / ".tally" / "node"  # where `make run` keeps its node, relative to the script's directory
    subprocess.run([*tally, "demo", "--data-dir", str(data_dir)], check=True, capture_output=True, timeout=300)
    node = NodeProcess(data_dir, free_port()).start()
    try:
        env = {**os.environ, "TALLY": str(Path(sys.executable).parent / "tally"), "TALLY_URL": node.url}
        ran = subprocess.run(
            ["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=True
        )
    finally:
        node.stop()
    if os.environ.get("TALLY_REGENERATE") == "1":
        OUTPUT.write_text(masked(ran.stdout), "utf-8")
    assert masked(ran.stdout) == OUTPUT.read_text("utf-8"), "regenerate: see this module's docstring"
    assert "rejected over_quota" in ran.stdout and "rejected account_frozen" in ran.stdout
    assert ran.stdout.count("(exit 1)") == 6, "six commands are refused, each saying why"
