"""The state a chain starts from, and what the genesis fixes for later heights."""

from __future__ import annotations

from .state import MemoryState
from .tables import ACCOUNTS
from .types import Account, Genesis, StateValue, Validator


def genesis_state(genesis: Genesis) -> dict[str, StateValue]:
    """The member institutions' accounts."""
    return {
        ACCOUNTS.key(m.id): Account(id=m.id, role="member", public_key=m.public_key, member=m.id, seq=0)
        for m in genesis.members
    }


def genesis_memory_state(genesis: Genesis) -> MemoryState:
    return MemoryState(genesis_state(genesis))


def validators_at(genesis: Genesis, height: int) -> list[Validator]:
    """The validator set that certifies the block at `height`: the one place that says.

    Today the genesis's set at every height; governance (a later issue) makes
    it ledger state changed by the council at a stated height.
    """
    assert height >= 1
    return genesis.validators
