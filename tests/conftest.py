from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import NodeProcess, free_port
from tally.dev.process import end_session, start_session
from tally.node.config import DataDir, init_dev_node

_session = pytest.StashKey[str]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Mark every process the tests start, however deep: each inherits the mark in its environment."""
    session.config.stash[_session] = start_session()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite fails when a process it started outlives it (after a bounded wait); those are killed."""
    token = session.config.stash.get(_session, None)
    if token is None:
        return
    left = end_session(token)
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["processes started by the tests outlived them (killed now):", *(f"  {p}" for p in left)]
        if reporter is not None:
            reporter.write("\n")
        for line in lines:
            if reporter is not None:
                reporter.write_line(line, red=True)
            else:
                print(line, file=sys.stderr)


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
