"""`tally tx TYPE`: sign one transaction with a key file and submit it.

One command per declared transaction type (`core/ops`), made from its
fields: `--field-name VALUE` for each, `--amount` for `amount_minor` (always
in minor units), `--x/--not-x` for a flag, a choice for a fixed set of values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import msgspec

from ..client import Signer, TallyClient, TallyError
from ..core.operation import Operation
from ..core.ops import OPERATIONS, SignedTx
from ..node.config import read_keyfile

DEFAULT_URL = "http://127.0.0.1:8750"
RENAMED = {"amount_minor": "amount"}  # field -> option name, where the field's name would read oddly


def _send(key_path: Path, url: str, seq: int | None, wait: bool, build: Callable[[Signer], SignedTx]) -> None:
    keyfile = read_keyfile(key_path)
    try:
        with TallyClient(url) as client:
            chain = client.genesis().chain
            next_seq = client.next_seq(keyfile.id) if seq is None else seq
            signed = build(Signer(keyfile.id, keyfile.keypair(), chain, next_seq))
            txid = client.submit(signed)
            if not wait:
                click.echo(json.dumps({"txid": txid, "status": "accepted"}))
                return
            status = client.wait_final(txid)
    except TallyError as exc:
        detail = f" {json.dumps(exc.details)}" if exc.details else ""
        raise click.ClickException(f"{exc.code}: {exc.message}{detail}") from None
    except Exception as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(status))
    if status["code"] != "ok":
        raise SystemExit(1)


def _field_option(op: Operation[Any], field: msgspec.inspect.Field) -> click.Option:
    name = RENAMED.get(field.name, field.name).replace("_", "-")
    info = field.type
    default = op.cli_defaults.get(field.name)
    required = field.name not in op.cli_defaults
    help_text = "Minor units (integer)." if field.name == "amount_minor" else None
    if isinstance(info, msgspec.inspect.BoolType):
        return click.Option(
            [f"--{name}/--not-{name}", field.name], default=bool(default), show_default=True, help=help_text
        )
    kind: Any = str
    if isinstance(info, msgspec.inspect.IntType):
        kind = int
    elif isinstance(info, msgspec.inspect.LiteralType):
        kind = click.Choice([str(v) for v in info.values])
    return click.Option(
        [f"--{name}", field.name],
        type=kind,
        required=required,
        default=default,
        show_default=not required,
        help=help_text,
    )


def _command(op: Operation[Any]) -> click.Command:
    info = msgspec.inspect.type_info(op.tx)
    assert isinstance(info, msgspec.inspect.StructType)
    own = [f for f in info.fields if f.name in op.fields]

    def callback(key_path: Path, url: str, seq: int | None, wait: bool, **fields: Any) -> None:
        _send(key_path, url, seq, wait, lambda s: s.build(op.type, **fields))

    params: list[click.Parameter] = [_field_option(op, f) for f in own]
    params += [
        click.Option(
            ["--key", "key_path"],
            required=True,
            type=click.Path(exists=True, path_type=Path),
            help="Signer's key file.",
        ),
        click.Option(["--url"], default=DEFAULT_URL, show_default=True, help="The node's API."),
        click.Option(["--seq"], type=int, default=None, help="Sequence number (default: ask the node)."),
        click.Option(["--wait/--no-wait"], default=True, show_default=True, help="Wait until final."),
    ]
    return click.Command(op.type.replace("_", "-"), callback=callback, params=params, help=op.summary)


@click.group()
def tx() -> None:
    """Sign and submit transactions (one command per transaction type)."""


for _op in OPERATIONS:
    tx.add_command(_command(_op))
