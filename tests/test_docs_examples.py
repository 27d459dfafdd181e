"""Worked examples in docs/examples run and print exactly the output checked in beside them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "docs" / "examples").glob("*.py"))


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_output_is_the_checked_in_one(script: Path) -> None:
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    expected = script.with_suffix(".out").read_text("utf-8")
    assert ran.stdout == expected, f"regenerate: python {script.name} > {script.with_suffix('.out').name}"


def test_docs_quote_example_output_as_it_is() -> None:
    """A fenced block right after a link to an example's .out quotes lines of that output ("..." skips)."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    quoted = 0
    for page in sorted(docs.glob("*.md")):
        text = page.read_text("utf-8")
        for name, block in re.findall(r"\(examples/([\w.]+\.out)\).*?\n```\n(.*?)```", text, re.S):
            output = (docs / "examples" / name).read_text("utf-8").splitlines()
            for line in block.splitlines():
                assert line == "..." or line in [o.rstrip() for o in output], (page.name, line)
                quoted += 1
    assert quoted > 0
