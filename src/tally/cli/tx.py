"""`tally tx TYPE`: sign one transaction with a key file and submit it.

One command per declared transaction type (`core/ops`), made from its
fields: `--field-name VALUE` for each, `--x/--not-x` for a flag, a choice for
a fixed set of values. An amount is given in the asset's own unit
(`--amount 12.50` of a 2-decimal voucher) or in minor units
(`--amount-minor 1250`). A value-moving type takes `--ref`; without it the
command makes one and prints it first, so a retry after a timeout can reuse
it and move value once. Before signing, the command checks that the key
file's key is the account's key on the node.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import click
import msgspec

from ..client import Signer, TallyClient, TallyError
from ..client.amounts import to_minor
from ..client.keys import KeyFile, read_keyfile
from ..client.models import TxStatusBody
from ..client.signer import DEFAULT_TTL_MS
from ..core.operation import Operation
from ..core.ops import OPERATIONS, SignedTx
from ..core.types import Ratio
from .common import emit_json, talking_to, url_option


def structured(info: msgspec.inspect.Type) -> bool:
    """A struct, a union of structs (a proposal's action) or a list of structs (FX rates): given as JSON."""
    if isinstance(info, msgspec.inspect.UnionType):
        return all(isinstance(t, msgspec.inspect.StructType) for t in info.types)
    if isinstance(info, msgspec.inspect.ListType):
        return isinstance(info.item_type, msgspec.inspect.StructType)
    return isinstance(info, msgspec.inspect.StructType)


def json_field(name: str, text: str) -> Any:
    """A structured option's value: JSON, or @PATH for a file of JSON."""
    hint = f"--{name.replace('_', '-')}"
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text("utf-8")
        except OSError as error:
            raise click.BadParameter(f"cannot read {text[1:]}: {error.strerror}", param_hint=hint) from None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint=hint) from None


def new_ref() -> str:
    """A fresh client reference for a command run without --ref."""
    return "cli-" + secrets.token_hex(8)


def check_key(client: TallyClient, key_path: Path, keyfile: KeyFile) -> None:
    """The key file's key must be its account's key on the node: say so before a bad_signature would.

    The client reads as the key file (`talking_to(url, key_path)`): the node gives it a read token only
    for the account's key in force."""
    try:
        client.authenticate()
    except TallyError as error:
        if error.code != "signature_invalid":
            raise
        raise click.ClickException(
            f"{key_path} holds key {keyfile.public_key[:16]}..., but account {keyfile.id!r} on this node has another"
            " key (or there is no such account): use that account's own key file"
        ) from None


def _decimals(client: TallyClient, op: Operation[Any], signer: str, fields: dict[str, Any]) -> int:
    """The decimals of the asset the transaction moves (a refund's: its payment's)."""
    if "asset" in fields:
        return client.asset(fields["asset"]).decimals
    if "from_asset" in fields:  # an exchange: of the asset given
        return client.asset(fields["from_asset"]).decimals
    if op.type == "refund":
        return client.asset(client.payment(signer, fields["payment_id"]).asset).decimals
    if op.type == "charge":
        return client.asset(client.pay_code(fields["code"]).asset).decimals
    raise click.UsageError(f"{op.type} takes --amount-minor")


def _amount(client: TallyClient, op: Operation[Any], signer: str, fields: dict[str, Any]) -> None:
    """Turn --amount (the asset's unit) or --amount-minor into the field amount_minor, exactly one given."""
    text, minor = fields.pop("amount", None), fields.pop("amount_minor", None)
    if (text is None) == (minor is None):
        raise click.UsageError("give the amount once: --amount in the asset's unit, or --amount-minor")
    fields["amount_minor"] = minor if minor is not None else to_minor(text, _decimals(client, op, signer, fields))


def send(
    op: Operation[Any],
    key_path: Path,
    url: str,
    seq: int | None,
    wait: bool,
    as_json: bool,
    fields: dict[str, Any],
    made_ref: bool,
    ttl_ms: int = DEFAULT_TTL_MS,
) -> None:
    with talking_to(url, key_path) as client:
        keyfile = read_keyfile(key_path)
        check_key(client, key_path, keyfile)
        if "amount_minor" in op.fields:
            _amount(client, op, keyfile.id, fields)
        chain = client.genesis().chain
        next_seq = client.next_seq(keyfile.id) if seq is None else seq
        signed: SignedTx = Signer(keyfile.id, keyfile.keypair(), chain, next_seq, ttl_ms).build(op.type, **fields)
        if made_ref:  # said before sending: if the answer never comes, the ref is what makes a retry safe
            click.echo(f"ref {fields['ref']} (to retry safely, run again with --ref {fields['ref']})", err=True)
        txid = client.submit(signed)
        status = client.wait_final(txid) if wait else None
    if status is None:
        if as_json:
            emit_json({"txid": txid, "status": "accepted"})
        else:
            click.echo(f"accepted: {txid} (tally tx status is not waited for; see GET /v1/transactions/{txid})")
        return
    _report(status, as_json)
    if status.code != "ok":
        raise SystemExit(1)


def _report(status: TxStatusBody, as_json: bool) -> None:
    if as_json:
        emit_json(status)
        return
    outcome = status.code if status.code == "ok" else f"rejected {status.code}: {status.message}"
    click.echo(f"{status.status} at block {status.height}: {outcome} (txid {status.txid})")


class RatioParam(click.ParamType[dict[str, int]]):
    """An exact rate on the command line: N/D (48/5 is 9.6), or a whole number."""

    name = "N/D"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dict):
            return value
        num, _, den = str(value).partition("/")
        if not (num.isdigit() and (den.isdigit() or not den)):
            self.fail(f"{value!r} is not a rate N/D, e.g. 48/5", param, ctx)
        terms = (int(num), int(den or 1))
        if not all(1 <= t <= MAX_RATIO_TERM for t in terms):
            self.fail(f"{value!r}: N and D are whole numbers from 1 to {MAX_RATIO_TERM:,}", param, ctx)
        return {"num": terms[0], "den": terms[1]}


RATIO = RatioParam()
MAX_RATIO_TERM = 10**12  # core/types.py RatioTerm


def is_ratio(info: msgspec.inspect.Type) -> bool:
    return isinstance(info, msgspec.inspect.StructType) and info.cls is Ratio


def field_options(field: msgspec.inspect.Field, defaults: dict[str, Any]) -> list[click.Option]:
    """The options of one field: its type's kind, required unless it has a CLI default or a default of its own."""
    name = field.name.replace("_", "-")
    info = field.type
    default = defaults.get(field.name)
    required = field.name not in defaults and field.required
    if field.name == "ref":
        help_ref = "Client reference, unique per signer (default: a new one, printed). Reuse it to retry safely."
        return [click.Option(["--ref", "ref"], default=None, help=help_ref)]
    if field.name == "amount_minor":
        return [
            click.Option(["--amount", "amount"], default=None, help="Amount in the asset's unit, e.g. 12.50."),
            click.Option(["--amount-minor", "amount_minor"], type=int, default=None, help="Amount in minor units."),
        ]
    if isinstance(info, msgspec.inspect.BoolType):
        if required:  # a yes/no the signer must say (a bank's answer): no default
            return [click.Option([f"--{name}/--not-{name}", field.name], default=None, required=True)]
        return [click.Option([f"--{name}/--not-{name}", field.name], default=bool(default), show_default=True)]
    kind: Any = str
    if is_ratio(info):
        return [click.Option([f"--{name}", field.name], type=RATIO, required=required, help="A rate N/D, e.g. 48/5.")]
    if structured(info):
        return [click.Option([f"--{name}", field.name], required=required, help="JSON, or @FILE of JSON.")]
    if isinstance(info, msgspec.inspect.IntType):
        kind = int
    elif isinstance(info, msgspec.inspect.LiteralType):
        kind = click.Choice([str(v) for v in info.values])
    return [
        click.Option(
            [f"--{name}", field.name], type=kind, required=required, default=default, show_default=not required
        )
    ]


def _command(op: Operation[Any]) -> click.Command:
    info = msgspec.inspect.type_info(op.tx)
    assert isinstance(info, msgspec.inspect.StructType)
    own = [f for f in info.fields if f.name in op.fields]

    def callback(key_path: Path, url: str, seq: int | None, wait: bool, as_json: bool, **fields: Any) -> None:
        made_ref = op.client_ref and fields.get("ref") is None
        for f in own:  # a yes/no without a default must be said (click lets a flag pair go unset)
            if f.required and isinstance(f.type, msgspec.inspect.BoolType) and fields.get(f.name) is None:
                flag = f.name.replace("_", "-")
                raise click.UsageError(f"say --{flag} or --not-{flag}")
        for f in own:  # a field of structured type (a proposal's action) is given as JSON
            if isinstance(fields.get(f.name), str) and structured(f.type):
                fields[f.name] = json_field(f.name, fields[f.name])
            if not f.required and f.name != "ref" and fields.get(f.name) is None:
                fields.pop(f.name, None)  # an optional field not given: left out (its default holds)
        if made_ref:
            fields["ref"] = new_ref()
        send(op, key_path, url, seq, wait, as_json, fields, made_ref)

    params: list[click.Parameter] = [option for f in own for option in field_options(f, op.cli_defaults)]
    command = click.Command(
        op.type.replace("_", "-"), callback=callback, params=params + signing_options(), help=op.summary
    )
    return url_option(command)


def signing_options() -> list[click.Parameter]:
    """What every signing command takes: the key file, an optional seq, whether to wait, --json."""
    return [
        click.Option(["--key", "key_path"], required=True, type=click.Path(path_type=Path), help="Signer's key file."),
        click.Option(["--seq"], type=int, default=None, help="Sequence number (default: ask the node)."),
        click.Option(["--wait/--no-wait"], default=True, show_default=True, help="Wait until final."),
        click.Option(["--json", "as_json"], is_flag=True, help="Print the status as JSON."),
    ]


@click.group()
def tx() -> None:
    """Sign and submit transactions (one command per transaction type)."""


for _op in OPERATIONS:
    tx.add_command(_command(_op))
