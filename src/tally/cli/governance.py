"""`tally council` and `tally account`: governance from the command line (protocol 5 ledgers).

- `tally council propose KIND --id ID ... --key member.json`: one command per
  kind of action (set-quota, admit-member, set-param, freeze, ...); the
  proposer's vote counts first.
- `tally council vote ID --key member.json`, `tally council list`,
  `tally council show ID`.
- `tally account show ACCOUNT` (or `tally account ACCOUNT`), `tally account
  controls ACCOUNT`: its freeze and reason, limits, today's total, recovery.
- `tally account freeze | unfreeze ACCOUNT --key regulator.json`,
  `tally account limits ACCOUNT --asset A ... --key member.json`.
- `tally account rotate-key --key old.json --new-key new.json`, and
  `tally account recover start | cancel | complete ACCOUNT --key ...`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, get_args

import click
import msgspec

from ..client.keys import read_keyfile
from ..client.models import ProposalBody
from ..core.block import ChangeRefused, follow_changes
from ..core.encoding import MAX_SAFE_INTEGER
from ..core.ops import BY_TYPE
from ..core.types import Action, DefaultLimits, FxRate, Ratio
from .common import emit_json, json_option, reader_option, table, talking_to, url_option
from .queries import account as show_account
from .tx import field_options, is_ratio, json_field, send, signing_options, structured

ACTION_TYPES: tuple[type, ...] = get_args(Action)


def sign_and_send(op_type: str, fields: dict[str, Any], signing: dict[str, Any]) -> None:
    """Sign and submit one transaction with the signing options a command took (--key, --seq, --wait, --json)."""
    s = signing
    send(BY_TYPE[op_type], s["key_path"], s["url"], s["seq"], s["wait"], s["as_json"], fields, made_ref=False)


SIGNING_NAMES = ("key_path", "url", "seq", "wait", "as_json")  # what signing_options() and --url give


def with_signing(command: click.Command) -> click.Command:
    command.params.extend(signing_options())
    return url_option(command)


# --- tally council --------------------------------------------------------------


@click.group()
def council() -> None:
    """The council: propose, vote, list proposals (M of N members pass a proposal)."""


@click.group()
def propose() -> None:
    """Propose an action to the council (your vote counts first)."""


council.add_command(propose)


def _flat(info: msgspec.inspect.Type) -> bool:
    """A nested struct of plain fields (default limits): its fields become options of their own. One with
    lists (an asset policy) is given whole, as JSON."""
    return (
        isinstance(info, msgspec.inspect.StructType)
        and not is_ratio(info)
        and not any(isinstance(f.type, msgspec.inspect.ListType) for f in info.fields)
    )


def _action_fields(action_type: type) -> list[msgspec.inspect.Field]:
    """The action's fields, a flat nested struct's (default limits) flattened into them."""
    info = msgspec.inspect.type_info(action_type)
    assert isinstance(info, msgspec.inspect.StructType)
    fields: list[msgspec.inspect.Field] = []
    for f in info.fields:
        if isinstance(f.type, msgspec.inspect.StructType) and _flat(f.type):
            fields.extend(f.type.fields)
        else:
            fields.append(f)
    return fields


def _propose_command(action_type: type) -> click.Command:
    kind = str(action_type.__struct_config__.tag)  # type: ignore[attr-defined]
    fields = msgspec.inspect.type_info(action_type).fields  # type: ignore[attr-defined]
    nested = {f.name: f.type.cls for f in fields if _flat(f.type)}
    as_json = [f.name for f in fields if structured(f.type) and not _flat(f.type)]

    def callback(proposal_id: str | None, **given: Any) -> None:
        signing = {name: given.pop(name) for name in SIGNING_NAMES}
        body: dict[str, Any] = {"kind": kind}
        for name, struct in nested.items():
            own = set(struct.__struct_fields__)
            body[name] = {k: given.pop(k) for k in list(given) if k in own}
        for name in as_json:
            value = given.pop(name)
            if value is not None:  # not given: the field's default
                body[name] = json_field(name, value) if isinstance(value, str) else value  # a rate: parsed already
        body.update(given)
        action = msgspec.convert(body, Action)
        if proposal_id is None:
            proposal_id = f"{kind}-{secrets.token_hex(4)}"
            click.echo(f"proposal {proposal_id}", err=True)
        sign_and_send("propose", {"proposal": proposal_id, "action": action}, signing)

    params: list[click.Parameter] = [
        click.Option(["--id", "proposal_id"], default=None, help="The proposal's id (default: a new one, printed)."),
    ]
    params += [o for f in _action_fields(action_type) for o in field_options(f, {})]
    return with_signing(
        click.Command(kind.replace("_", "-"), callback=callback, params=params, help=action_type.__doc__)
    )


for _action in ACTION_TYPES:
    propose.add_command(_propose_command(_action))


@council.command("vote")
@click.argument("proposal_id")
def vote(proposal_id: str, **signing: Any) -> None:
    """Approve an open proposal."""
    sign_and_send("vote", {"proposal": proposal_id}, signing)


with_signing(vote)


def _value(value: Any) -> str:
    if value == MAX_SAFE_INTEGER:
        return "none"  # a quota of the largest amount: no quota
    text = str(value)
    if len(text) == 64:
        return text[:16] + "..."  # a public key
    return repr(text) if " " in text else text


def _describe(action: Any) -> str:
    fields = msgspec.structs.asdict(action)
    parts: list[str] = []
    for name, value in fields.items():
        if isinstance(value, Ratio):
            parts.append(f"{name}={value.num}/{value.den}")
        elif isinstance(value, list) and all(isinstance(v, FxRate) for v in value):
            parts.append(f"{name}=" + (",".join(f"{v.currency}:{v.rate.num}/{v.rate.den}" for v in value) or "none"))
        elif isinstance(value, DefaultLimits):
            parts.extend(f"{k}={_value(v)}" for k, v in msgspec.structs.asdict(value).items())
        elif isinstance(value, msgspec.Struct):  # an asset policy: the rules it sets, as JSON
            parts.append(f"{name}={msgspec.json.encode(value).decode()}")
        else:
            parts.append(f"{name}={_value(value)}")
    return f"{action.__struct_config__.tag} " + " ".join(parts)


def _votes(p: ProposalBody) -> str:
    """An open proposal's votes against what it needs; a closed one's count."""
    return f"{p.votes_counted}/{p.threshold}" if p.state == "open" else str(len(p.votes))


@council.command("list")
@url_option
@json_option
def list_proposals(url: str, as_json: bool) -> None:
    """The council and its proposals (the first 500, by id)."""
    with talking_to(url) as client:
        params = client.council()
        page = client.proposals(limit=500)
    if as_json:
        emit_json({"council": params, "proposals": page.items})
        return
    click.echo(
        f"council: {', '.join(params.council)} (a proposal passes with {params.threshold} of {len(params.council)})"
    )
    rows = [(p.id, _describe(p.action), _votes(p), p.state, p.result_code or "-") for p in page.items]
    table(["PROPOSAL", "ACTION", "VOTES", "STATE", "RESULT"], rows)


@council.command("show")
@click.argument("proposal_id")
@url_option
def show_proposal(proposal_id: str, url: str) -> None:
    """One proposal, as JSON."""
    with talking_to(url) as client:
        emit_json(client.proposal(proposal_id))


@click.command("validators")
@url_option
@json_option
def validators(url: str, as_json: bool) -> None:
    """The validator sets (from which height each certifies) and the blocks that changed them."""
    with talking_to(url) as client:
        body = client.validators()
        try:
            history = follow_changes(client.genesis(), body.changes)  # each change certified by the set before it
        except ChangeRefused as refused:
            raise click.ClickException(f"the node's validator changes do not check: {refused}") from None
    if as_json:
        emit_json(body)
        return
    rows = [
        (str(s.from_height), str(s.scheduled_height or "genesis"), ", ".join(v.id for v in s.validators))
        for s in history.sets
    ]
    table(["FROM HEIGHT", "DECIDED AT", "VALIDATORS"], rows)
    click.echo(f"final height {body.final_height}; a change takes effect at least {body.notice_blocks} blocks ahead")


# --- tally account --------------------------------------------------------------


class AccountGroup(click.Group):
    """`tally account ACCOUNT` still shows an account (as `tally account show ACCOUNT`)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@click.group(cls=AccountGroup)
def account() -> None:
    """Accounts: show one, its controls; freeze, set limits, rotate or recover its key."""


show_account.name = "show"
account.add_command(show_account)


@account.command("controls")
@click.argument("account_id")
@url_option
@reader_option
@json_option
def controls(account_id: str, url: str, key_path: Path | None, as_json: bool) -> None:
    """What limits an account: a freeze and its reason, limits, today's outgoing total, a pending recovery
    (--key: who reads)."""
    with talking_to(url, key_path) as client:
        found = client.controls(account_id)
    if as_json:
        emit_json(found)
        return
    frozen = found.frozen
    click.echo(f"frozen: {f'yes ({frozen.reason}, by {frozen.by} at block {frozen.height})' if frozen else 'no'}")
    rows = [
        (
            i.asset,
            i.source,
            str(i.max_payment_minor or "-"),
            str(i.daily_out_minor or "-"),
            str(i.sent_today_minor),
            str(i.balance_cap_minor or "-"),
        )
        for i in found.limits
    ]
    if rows:
        table(["ASSET", "LIMITS", "MAX PAYMENT", "DAILY OUT", "SENT TODAY", "BALANCE CAP"], rows, right={2, 3, 4, 5})
    else:
        click.echo("limits: none")
    recovery = found.recovery
    if recovery is not None:
        click.echo(
            f"recovery pending: to key {recovery.new_public_key[:16]}..., by {recovery.member}, "
            f"completes from block time {recovery.completes_ms}"
        )


@account.command("freeze")
@click.argument("account_id")
@click.option("--reason", required=True, help="A reason code, e.g. court_order (a-z, 0-9, _).")
def freeze(account_id: str, reason: str, **signing: Any) -> None:
    """A regulator freezes an account: value cannot leave it."""
    fields = {"subject_kind": "account", "subject": account_id, "reason": reason}
    sign_and_send("freeze", fields, signing)


@account.command("unfreeze")
@click.argument("account_id")
def unfreeze(account_id: str, **signing: Any) -> None:
    """A regulator lifts an account's freeze."""
    sign_and_send("unfreeze", {"subject_kind": "account", "subject": account_id}, signing)


@account.command("limits")
@click.argument("account_id")
@click.option("--asset", required=True, help="The asset the limits are in.")
@click.option("--max-payment-minor", type=int, default=0, show_default=True, help="Largest single payment (0: none).")
@click.option("--daily-out-minor", type=int, default=0, show_default=True, help="Daily outgoing total (0: none).")
@click.option("--balance-cap-minor", type=int, default=0, show_default=True, help="Largest balance (0: none).")
def limits(
    account_id: str, asset: str, max_payment_minor: int, daily_out_minor: int, balance_cap_minor: int, **signing: Any
) -> None:
    """The account's member (or a regulator) sets its limits in an asset; all 0: its role's default."""
    fields = {
        "account": account_id,
        "asset": asset,
        "max_payment_minor": max_payment_minor,
        "daily_out_minor": daily_out_minor,
        "balance_cap_minor": balance_cap_minor,
    }
    sign_and_send("set_limits", fields, signing)


def _public_key(new_key: Path | None, public_key: str | None) -> str:
    if (new_key is None) == (public_key is None):
        raise click.UsageError("give the new key once: --new-key FILE, or --public-key HEX")
    return read_keyfile(new_key).public_key if new_key is not None else str(public_key)


NEW_KEY_OPTIONS = [
    click.Option(["--new-key", "new_key"], type=click.Path(path_type=Path), default=None, help="The new key file."),
    click.Option(["--public-key", "public_key"], default=None, help="Or the new public key (hex)."),
]


@account.command("rotate-key")
def rotate_key(new_key: Path | None, public_key: str | None, **signing: Any) -> None:
    """Replace the account's key (signed with the current one, --key); sign with the new one from the next block."""
    sign_and_send("rotate_key", {"new_public_key": _public_key(new_key, public_key)}, signing)


rotate_key.params[:0] = NEW_KEY_OPTIONS


@account.group("recover")
def recover() -> None:
    """Recover an account to a new key: the member starts, the old key may cancel, the member completes."""


@recover.command("start")
@click.argument("account_id")
def recover_start(account_id: str, new_key: Path | None, public_key: str | None, **signing: Any) -> None:
    """The account's member starts a recovery to a new key."""
    fields = {"account": account_id, "new_public_key": _public_key(new_key, public_key)}
    sign_and_send("start_recovery", fields, signing)


recover_start.params[1:1] = NEW_KEY_OPTIONS


@recover.command("cancel")
@click.argument("account_id")
def recover_cancel(account_id: str, **signing: Any) -> None:
    """The account's old key (or its member) cancels a pending recovery."""
    sign_and_send("cancel_recovery", {"account": account_id}, signing)


@recover.command("complete")
@click.argument("account_id")
def recover_complete(account_id: str, **signing: Any) -> None:
    """After the delay, the member completes the recovery."""
    sign_and_send("complete_recovery", {"account": account_id}, signing)


for _command in (freeze, unfreeze, limits, rotate_key, recover_start, recover_cancel, recover_complete):
    with_signing(_command)
