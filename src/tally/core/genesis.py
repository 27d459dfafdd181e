"""The state a chain starts from: its member institutions' accounts."""

from __future__ import annotations

from .state import MemoryState, account_key
from .types import Account, Genesis, StateValue


def genesis_state(genesis: Genesis) -> dict[str, StateValue]:
    return {
        account_key(m.id): Account(id=m.id, role="member", public_key=m.public_key, member=m.id, seq=0)
        for m in genesis.members
    }


def genesis_memory_state(genesis: Genesis) -> MemoryState:
    return MemoryState(genesis_state(genesis))
