"""What every `tally` command shares: the node's URL, --json, one-line errors, amounts and tables.

Every error reaches the user as one line that says what went wrong and what
to do; `tally --debug ...` (or TALLY_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
import msgspec

from ..client.amounts import AmountError
from ..client.http import TallyClient, TallyError
from ..client.keys import KeyFileError, read_keyfile

DEFAULT_URL = "http://127.0.0.1:8750"

F = TypeVar("F", bound=Callable[..., Any])

# Errors a user can act on: said in one line (tracebacks are for --debug).
USER_ERRORS = (httpx.HTTPError, TallyError, KeyFileError, AmountError, msgspec.DecodeError, msgspec.ValidationError)


def url_option(command: F) -> F:
    """--url, or TALLY_URL, for the node a command talks to."""
    return click.option(
        "--url", envvar="TALLY_URL", default=DEFAULT_URL, show_default=True, help="The node's API (env TALLY_URL)."
    )(command)


def reader_option(command: F) -> F:
    """--key, or TALLY_KEY: the key file of who reads (an account's own, its member's, an auditor's or a
    regulator's); the node answers an account's reads only to those (docs/access.md)."""
    return click.option(
        "--key",
        "key_path",
        envvar="TALLY_KEY",
        default=None,
        type=click.Path(path_type=Path),
        help="Key file of who reads: the account's own, its member's, an auditor's or a regulator's (env TALLY_KEY).",
    )(command)


def json_option(command: F) -> F:
    """--json: print the data as JSON (one document), for scripts."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(command)


def debug_wanted() -> bool:
    return "--debug" in sys.argv[1:] or os.environ.get("TALLY_DEBUG", "") not in ("", "0")


def describe(exc: BaseException, url: str | None = None) -> str:
    """One line for an error a user can act on."""
    if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return f"the node's TLS certificate is not trusted ({exc}): point SSL_CERT_FILE at the network's tls/ca.pem"
    if isinstance(exc, httpx.RemoteProtocolError) and url is not None and url.startswith("http://"):
        return f"the node at {url} closed the connection ({exc}): does it serve https://?"
    if isinstance(exc, httpx.ConnectError):
        where = url or (str(exc.request.url.copy_with(path="/", query=None)) if _has_request(exc) else "the node")
        return f"cannot reach the node at {where} ({exc}): is it running? Start one with 'make run', or pass --url"
    if isinstance(exc, httpx.TimeoutException):
        return f"the node did not answer in time ({type(exc).__name__}); retry, or check the node's log"
    if isinstance(exc, httpx.HTTPError):
        return f"talking to the node failed: {exc}"
    if isinstance(exc, TallyError) and exc.code == "auth_required":
        return f"{exc.code}: this read needs a key: pass --key KEYFILE (the account's, its member's, an auditor's)"
    if isinstance(exc, TallyError):
        first = exc.details[0] if exc.details else None
        detail = f" (transaction {first['index']}: {first['code']}: {first['message']})" if first else ""
        return f"{exc.code}: {exc.message}{detail}"
    if isinstance(exc, KeyFileError | AmountError):
        return str(exc)
    if isinstance(exc, msgspec.DecodeError | msgspec.ValidationError):
        return f"unexpected answer from the node: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018  (raises RuntimeError when the error carries no request)
    except RuntimeError:
        return False
    return True


@contextmanager
def talking_to(url: str, key_path: Path | None = None) -> Iterator[TallyClient]:
    """A client for the node at `url`, reading as the key file at `key_path` when given (its id and key);
    what fails inside becomes one line (ClickException)."""
    try:
        reader = read_keyfile(key_path) if key_path is not None else None
        with TallyClient(url, reader=reader) as client:
            yield client
    except click.ClickException:
        raise
    except (
        httpx.HTTPError,
        TallyError,
        KeyFileError,
        AmountError,
        msgspec.DecodeError,
        msgspec.ValidationError,
    ) as exc:
        if debug_wanted():
            raise
        raise click.ClickException(describe(exc, url)) from None


def emit_json(value: Any) -> None:
    click.echo(json.dumps(msgspec.to_builtins(value), ensure_ascii=False, indent=2))


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] | None = None) -> None:
    """Print aligned columns with a header; `right`: indexes of right-aligned (numeric) columns."""
    right = right or set()
    widths = [max([len(header[i]), *(len(r[i]) for r in rows)]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(parts).rstrip()

    click.echo(line(header))
    for row in rows:
        click.echo(line(row))
