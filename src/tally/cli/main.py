"""`tally`: keys, node, demo, transactions, balances, history, audit, bench.

`main` is the entry point: every error is one line (what, and what to do),
`--debug` shows the traceback, Ctrl-C ends a command quietly (a foreground
node stops cleanly and exits 0).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec

from .. import __version__
from ..client.keys import new_keyfile, write_keyfile
from ..node.config import DEFAULT_PORT, DataDir
from .common import debug_wanted, describe

DEFAULT_DATA = ".tally/node"
# What the `node` extra installs (pyproject.toml): node, network and bench commands import them.
NODE_MODULES = {
    "uvicorn", "starlette", "sse_starlette", "uvloop", "httptools", "prometheus_client", "pyetcd", "grpc",
    "cryptography", "pythonjsonlogger", "swagger_ui_bundle",
}  # fmt: skip


@click.group()
@click.version_option(__version__, prog_name="tally")
@click.option("--debug", is_flag=True, help="Show tracebacks (also TALLY_DEBUG=1).")
def cli(debug: bool) -> None:
    """Tally: a shared ledger for points, vouchers, local currencies and e-money.

    Commands that talk to a node take --url (or TALLY_URL); those that print
    data take --json.
    """


def main() -> None:
    """The `tally` command: click's own handling, plus one line for any other error."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C at a prompt or while a command ran
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:
        if debug_wanted() or (exc.name or "").split(".")[0] not in NODE_MODULES:
            raise
        click.echo(f"Error: this command runs a node: pip install 'tally[node]' (missing {exc.name})", err=True)
        sys.exit(1)
    except Exception as exc:
        if debug_wanted():
            raise
        click.echo(f"Error: {describe(exc)} (run with --debug for the traceback)", err=True)
        sys.exit(1)


# --- keys --------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """Ed25519 keys."""


@keys.command("new")
@click.option("--id", "key_id", required=True, help="Account id the key belongs to.")
@click.option("--out", type=click.Path(path_type=Path), help="Write here (mode 0600); default prints it.")
def keys_new(key_id: str, out: Path | None) -> None:
    """Make a new key. The seed is secret: keep the file private."""
    key = new_keyfile(key_id)
    if out:
        write_keyfile(out, key)
        click.echo(f"wrote {out} (public key {key.public_key})")
    else:
        click.echo(msgspec.json.format(msgspec.json.encode(key)).decode())


# --- node --------------------------------------------------------------------


@cli.group()
def node() -> None:
    """Run a node."""


@node.command("init")
@click.option("--data-dir", default=DEFAULT_DATA, show_default=True, type=click.Path(path_type=Path))
@click.option("--member", "members", multiple=True, help="ID=NAME of a member institution (repeatable).")
@click.option("--chain", default="tally-dev", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True)
@click.option(
    "--utc-offset-min",
    default=0,
    show_default=True,
    type=click.IntRange(-14 * 60, 14 * 60),
    help="The chain's time zone, minutes east of UTC (540: Asia/Seoul); daily and monthly limits reset at midnight.",
)
def node_init(data_dir: Path, members: tuple[str, ...], chain: str, port: int, utc_offset_min: int) -> None:
    """Create a single-node data directory: genesis, member keys, validator key."""
    from ..dev.demo import MEMBERS
    from ..node.config import init_dev_node

    parsed = [tuple(m.split("=", 1)) for m in members] if members else MEMBERS
    if any(len(p) != 2 for p in parsed):
        raise click.BadParameter("use --member ID=NAME", param_hint="--member")
    try:
        init_dev_node(data_dir, [(a, b) for a, b in parsed], chain=chain, port=port, utc_offset_min=utc_offset_min)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"initialised {data_dir} (chain {chain}, members {', '.join(p[0] for p in parsed)})")


@node.command("start")
@click.option("--data-dir", default=DEFAULT_DATA, show_default=True, type=click.Path(path_type=Path))
@click.option("--host", default=None, help="Listen address (default from node.json: 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Listen port (default from node.json).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or JSON.",
)
def node_start(data_dir: Path, host: str | None, port: int | None, log_format: str) -> None:
    """Serve the node's API until SIGTERM or Ctrl-C.

    The data directory is checked first (node/startup.py): what would keep the
    node from running is said in one line, and it exits 1.
    """
    from ..api.server import run
    from ..node.config import DataDirBusy
    from ..node.startup import StartupError

    try:
        run(DataDir(data_dir), host, port, log_format=log_format)
    except (StartupError, DataDirBusy) as exc:
        raise click.ClickException(str(exc)) from None


@node.command("repair")
@click.option("--data-dir", default=DEFAULT_DATA, show_default=True, type=click.Path(path_type=Path))
@click.option("--peer", "peers", multiple=True, help="A majority node's API URL (default: the genesis validators').")
def node_repair(data_dir: Path, peers: tuple[str, ...]) -> None:
    """Rebuild a stopped node's ledger from a majority node's certified blocks."""
    from ..node.repair import repair

    data = DataDir(data_dir)
    if not data.exists():
        raise click.ClickException(f"{data_dir} holds no node")
    settings = data.settings()
    urls = list(peers) or [v.api_url for v in data.genesis().validators if v.id != settings.validator_id and v.api_url]
    if not urls:
        raise click.ClickException("no peer to repair from: pass --peer URL")
    from ..node.config import DataDirBusy

    try:
        with click.progressbar(length=0, label="repairing", file=sys.stderr) as bar:
            height = repair(data, urls, bar.update)
    except DataDirBusy as exc:
        raise click.ClickException(f"{exc}: stop the node first") from None
    click.echo(f"repaired {data_dir}: {height} blocks re-executed and checked against their certificates")


# --- network -------------------------------------------------------------------


@cli.group()
def network() -> None:
    """A local network: etcd members and nodes on this machine."""


@network.command("init")
@click.option("--dir", "root", default=".tally/network", show_default=True, type=click.Path(path_type=Path))
@click.option("--members", default=4, show_default=True, help="Member institutions, each running a validator node.")
@click.option("--chain", default="tally-net", show_default=True)
@click.option("--base-port", default=8750, show_default=True, help="API port of the first node; the others follow.")
@click.option("--etcd-base-port", default=23790, show_default=True)
@click.option("--tls", is_flag=True, help="Make a private CA and certificates: nodes and etcd speak TLS (https://).")
def network_init(root: Path, members: int, chain: str, base_port: int, etcd_base_port: int, tls: bool) -> None:
    """Write the genesis, every member's key and every node's data directory.

    With --tls, also a private CA and a certificate for every node and etcd
    member: the APIs serve https://, etcd requires client certificates, and
    clients check the nodes' certificates against DIR/tls/ca.pem.
    """
    from ..dev.network import init_network

    if not 1 <= members <= 64:
        raise click.BadParameter("from 1 to 64", param_hint="--members")
    try:
        layout = init_network(
            root,
            members,
            chain=chain,
            node_ports=[base_port + i for i in range(members)],
            etcd_ports=[(etcd_base_port + 2 * i, etcd_base_port + 2 * i + 1) for i in range(3)],
            tls=tls,
        )
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"network {chain} in {root}: {len(layout.nodes)} nodes, {len(layout.etcd)} etcd members")
    if tls:
        click.echo(f"TLS: clients check the nodes' certificates against {root / 'tls' / 'ca.pem'}")


@network.command("up")
@click.option("--dir", "root", default=".tally/network", show_default=True, type=click.Path(path_type=Path))
def network_up(root: Path) -> None:
    """Start the etcd members and the nodes (in the background) and say where they listen.

    Every node's data directory is checked first. A network that never ran moves
    to free ports when one of its ports is taken; when a start fails, what was
    started is stopped and the reason is one line.
    """
    from ..dev.network import Network, NetworkError

    if not (root / "network.json").exists():
        raise click.ClickException(f"{root} holds no network: run 'tally network init --dir {root}' first")
    net = Network.open(root)
    try:
        notes = net.up()
    except NetworkError as exc:
        raise click.ClickException(str(exc)) from None
    for note in notes:
        click.echo(note)
    for member in net.etcd.members:
        click.echo(f"etcd {member.name}: {member.client_url}")
    for node_id, node in net.nodes.items():
        click.echo(f"node {node_id}: {node.url} (log {node.data_dir / 'node.log'})")
    click.echo(f"stop them with: tally network down --dir {root}")


@network.command("add-node")
@click.option("--dir", "root", default=".tally/network", show_default=True, type=click.Path(path_type=Path))
@click.option("--port", type=int, default=None, help="Its API port (default: a free one).")
def network_add_node(root: Path, port: int | None) -> None:
    """Write one more node and, when the network is up, start it.

    It follows the etcd log and executes every block; it becomes a validator
    once the council passes an add_validator proposal for it (printed below).
    """
    from ..dev.network import Network, NetworkError, add_node

    if not (root / "network.json").exists():
        raise click.ClickException(f"{root} holds no network: run 'tally network init --dir {root}' first")
    running = (root / "pids.json").exists()
    try:
        added = Network.open(root).join(port) if running else add_node(root, port)
    except (FileExistsError, NetworkError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"node {added.node_id}: {added.api_url} (data {root / 'nodes' / added.node_id})")
    if running:
        click.echo(f"started {added.node_id}; it follows the log and executes every block")
    click.echo("make it a validator (from a height at least 16 blocks after the proposal passes):")
    click.echo(
        f"  tally council propose add-validator --validator {added.node_id} --public-key {added.public_key}"
        f" --api-url {added.api_url} --from-height HEIGHT --key MEMBER_KEY"
    )


@network.command("down")
@click.option("--dir", "root", default=".tally/network", show_default=True, type=click.Path(path_type=Path))
def network_down(root: Path) -> None:
    """Stop what 'network up' started."""
    from ..dev.network import down

    stopped = down(root)
    click.echo(f"stopped {', '.join(stopped) if stopped else 'nothing'}")


def _stored_height(data: DataDir) -> int:
    from ..store import open_store

    store = open_store(data.ledger_path)
    try:
        head = store.head()
    finally:
        store.close()
    return head.height if head else 0


# --- demo --------------------------------------------------------------------


@cli.command()
@click.option("--data-dir", default=DEFAULT_DATA, show_default=True, type=click.Path(path_type=Path))
def demo(data_dir: Path) -> None:
    """Initialise a node (if needed) and load the demo data into it, once."""
    from ..dev.demo import DEMO_UTC_OFFSET_MIN, MEMBERS, run_demo
    from ..node.config import init_dev_node

    data = DataDir(data_dir)
    if not data.exists():
        init_dev_node(data_dir, MEMBERS, utc_offset_min=DEMO_UTC_OFFSET_MIN)
    if data.ledger_path.exists() and _stored_height(data) > 0:
        click.echo(f"{data_dir} already holds a ledger; demo data not loaded again")
        return
    from ..node.config import DataDirBusy

    try:
        with click.progressbar(length=len_demo(), label="loading demo") as bar:
            count = run_demo(data, bar.update)
    except DataDirBusy as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"demo loaded: {count} transactions, final")


def len_demo() -> int:
    from ..dev.demo import HOLDERS, MERCHANTS, PAYMENTS, SEOUL_TXS
    from ..dev.demo_roaming import ROAMING_TXS

    holders = sum(len(v) for v in HOLDERS.values())
    merchants = sum(len(v) for v in MERCHANTS.values())
    registry = merchants  # one entry each
    return 2 + holders + merchants + 2 * holders + PAYMENTS + 6 + 10 + 1 + registry + SEOUL_TXS + ROAMING_TXS


# --- audit and bench -----------------------------------------------------------


@cli.command()
@click.option("--data-dir", default=DEFAULT_DATA, show_default=True, type=click.Path(path_type=Path))
def audit(data_dir: Path) -> None:
    """Re-verify every block, digest, certificate and the money rules. Exits 1 on any fault."""
    from ..node.audit import audit_ledger

    data = DataDir(data_dir)
    if not data.ledger_path.exists():
        raise click.ClickException(f"no ledger at {data.ledger_path}")
    with click.progressbar(length=_stored_height(data), label="auditing blocks", file=sys.stderr) as bar:
        report = audit_ledger(str(data.ledger_path), bar.update)
    for fault in report.faults:
        click.echo(f"FAULT {fault}")
    click.echo(f"audit: {report.blocks} blocks, {report.txs} transactions, {len(report.faults)} faults")
    sys.exit(0 if report.ok else 1)


@cli.command()
@click.option("--accounts", default=100_000, show_default=True)
@click.option("--payments", default=1_000_000, show_default=True)
@click.option("--hot-payments", default=300_000, show_default=True, help="Payments in the hot-merchant run.")
@click.option("--batch", default=2000, show_default=True)
@click.option("--latency-payments", default=100_000, show_default=True, help="Payments in the half-load run.")
@click.option("--latency-batch", default=200, show_default=True)
@click.option("--port", default=8790, show_default=True)
def bench(
    accounts: int, payments: int, hot_payments: int, batch: int, latency_payments: int, latency_batch: int, port: int
) -> None:
    """End-to-end benchmark of one node through the batch API (prints figures)."""
    from ..dev.benchmark import run_bench

    run_bench(accounts, payments, hot_payments, batch, port, latency_payments, latency_batch)


@cli.command("bench-network")
@click.option("--nodes", default=4, show_default=True)
@click.option("--accounts", default=16_000, show_default=True, help="A multiple of batch x nodes.")
@click.option("--payments", default=200_000, show_default=True)
@click.option("--batch", default=1000, show_default=True)
@click.option("--latency-payments", default=40_000, show_default=True, help="Payments in the half-load run.")
def bench_network(nodes: int, accounts: int, payments: int, batch: int, latency_payments: int) -> None:
    """End-to-end benchmark of a network: nodes and 3 etcd members on this machine."""
    from ..dev.benchmark import run_network_bench

    run_network_bench(nodes, accounts, payments, batch, latency_payments)


from .coupons import coupons  # noqa: E402
from .governance import account, council, validators  # noqa: E402
from .merchants import merchants  # noqa: E402
from .policies import lots, policy  # noqa: E402
from .qr import code, qr  # noqa: E402
from .queries import COMMANDS  # noqa: E402
from .settlement import quote, rates, settlement  # noqa: E402
from .tx import tx  # noqa: E402

cli.add_command(tx)
cli.add_command(qr)
cli.add_command(code)
cli.add_command(council)
cli.add_command(rates)
cli.add_command(quote)
cli.add_command(settlement)
cli.add_command(account)
cli.add_command(validators)
cli.add_command(merchants)
cli.add_command(policy)
cli.add_command(lots)
cli.add_command(coupons)
for _command in COMMANDS:
    cli.add_command(_command)
