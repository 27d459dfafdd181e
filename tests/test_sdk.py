"""The SDK on its own: installed without the node extra, it imports and runs the README's wallet example."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import NodeProcess, free_port
from tally.client import AsyncTallyClient, Signer, read_keyfile, to_minor

ROOT = Path(__file__).resolve().parent.parent
NODE_ONLY = ("uvicorn", "starlette", "sse_starlette", "uvloop", "grpc", "pyetcd", "prometheus_client")


def wallet_example() -> str:
    """The README's wallet example, as a reader would copy it."""
    blocks = re.findall(r"```python\n(# wallet example\n.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, "the README has one wallet example"
    return str(blocks[0])


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory: pytest.TempPathFactory) -> NodeProcess:
    data_dir = tmp_path_factory.mktemp("demo") / "node"
    done = subprocess.run(
        [sys.executable, "-m", "tally.cli", "demo", "--data-dir", str(data_dir)], capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    node = NodeProcess(data_dir, free_port()).start()
    yield node  # type: ignore[misc]
    node.stop()


def test_the_sdk_installs_without_the_node_and_runs_the_wallet_example(tmp_path: Path, demo_node: NodeProcess) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    probe = (
        "import sys, tally.client, tally.cli\n"
        f"loaded = [m for m in {NODE_ONLY!r} if m in sys.modules]\n"
        "import importlib.util\n"
        f"installed = [m for m in {NODE_ONLY!r} if importlib.util.find_spec(m)]\n"
        "print(loaded, installed)\n"
    )
    probed = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60)
    assert probed.returncode == 0 and probed.stdout.strip() == "[] []", (probed.stdout, probed.stderr)

    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "TALLY_URL": demo_node.url,
        "WALLET_KEY": str(demo_node.data_dir / "keys" / "alice.json"),
    }
    ran = subprocess.run([python, "-c", wallet_example()], capture_output=True, text=True, timeout=120, env=env)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "paid 4.50 Harbor gift voucher: final ok"
    assert lines[1] == "receipt verifies offline: (True, 'ok')"
    assert lines[2].split() == ["pay", "-4.50", "HARBOR-GIFT", "cafe-lumen"]
    assert lines[-1].startswith("balance: ") and lines[-1].endswith(" Harbor gift voucher")

    # The CLI's client commands work there too; a node command says what to install.
    cli = str(venv / "bin" / "tally")
    alice_key = env["WALLET_KEY"]
    balance = subprocess.run(
        [cli, "balance", "alice", "--key", alice_key, "--url", demo_node.url], capture_output=True, text=True, env=env
    )
    assert balance.returncode == 0 and "HARBOR-GIFT" in balance.stdout, balance.stderr
    start = subprocess.run([cli, "node", "start", "--data-dir", str(tmp_path / "x")], capture_output=True, text=True)
    assert start.returncode == 1 and "pip install 'tally[node]'" in start.stderr and "Traceback" not in start.stderr


def test_the_async_client_submits_waits_and_follows_events(demo_node: NodeProcess) -> None:
    key = read_keyfile(demo_node.data_dir / "keys" / "bob.json")
    member = read_keyfile(demo_node.data_dir / "keys" / "harbor-bank.json")  # registered bob and book-nook

    async def scenario() -> tuple[str, str, list[str]]:
        async with AsyncTallyClient(demo_node.url, reader=member) as node:
            genesis = await node.genesis()
            bob = Signer(key.id, key.keypair(), genesis.chain, next_seq=await node.next_seq(key.id))
            txid = await node.submit(bob.pay("HARBOR-GIFT", "book-nook", to_minor("1.25", 2), f"async-{os.getpid()}"))
            status = await node.wait_final(txid)
            seen: list[str] = []
            async for event in node.events(after="0:0:0", merchant="book-nook", types=("tx",)):
                seen.append(event.data.txid)  # type: ignore[union-attr]
                if seen[-1] == txid:
                    break
            page = await node.history("bob", limit=1)
            return status.code, page.items[0].txid, seen

    code, newest, seen = asyncio.run(scenario())
    assert code == "ok" and newest == seen[-1] and len(seen) == len(set(seen))
