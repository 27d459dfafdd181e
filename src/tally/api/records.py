"""Reads the routes share: an account that must exist, and the records under a key prefix, bounded."""

from __future__ import annotations

from itertools import islice
from typing import TypeVar

from ..core.types import Account
from ..node.node import Node
from .errors import ApiError

R = TypeVar("R")


def known_account(node: Node, account_id: str) -> Account:
    """The account, or 404 `unknown_account`."""
    account = node.ledger.account(account_id)
    if account is None:
        raise ApiError(404, "unknown_account", f"no account {account_id!r}")
    return account


def records_under(node: Node, prefix: str, kind: type[R], most: int) -> tuple[list[tuple[str, R]], bool]:
    """The first `most` records of `kind` under a state key prefix, in key order, and whether there are more."""
    found: list[tuple[str, R]] = []
    for key, value in islice(node.store.state_items(prefix), most + 1):
        assert isinstance(value, kind), (key, value)
        found.append((key, value))
    return found[:most], len(found) > most
