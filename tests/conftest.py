from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import NodeProcess, free_port
from tally.node.config import DataDir, init_dev_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A real single node with two members, shared by a test module."""
    data_dir = tmp_path_factory.mktemp("node") / "data"
    init_dev_node(data_dir, [("bank-a", "Bank A"), ("bank-b", "Bank B")], chain="tally-it")
    proc = NodeProcess(data_dir, free_port()).start()
    yield proc
    proc.stop()


@pytest.fixture
def data(node: NodeProcess) -> DataDir:
    return DataDir(node.data_dir)
