"""The state a chain starts from, and what the genesis fixes for later heights."""

from __future__ import annotations

from .protocol import rules_for, version_at
from .state import MemoryState
from .tables import ACCOUNTS, COUNCIL_PARAMS, PARAMS, SCHEDULE, VALIDATOR_SETS
from .types import Account, Genesis, Params, StateValue
from .validators import genesis_schedule

DEFAULT_PROPOSAL_TTL_MS = 7 * 24 * 3600 * 1000
DEFAULT_RECOVERY_DELAY_MS = 24 * 3600 * 1000


def genesis_params(genesis: Genesis) -> Params:
    """The council as the genesis forms it: every member, M from the genesis (absent: 1)."""
    threshold = genesis.council_threshold if isinstance(genesis.council_threshold, int) else 1
    return Params(
        council=[m.id for m in genesis.members],
        threshold=threshold,
        proposal_ttl_ms=DEFAULT_PROPOSAL_TTL_MS,
        recovery_delay_ms=DEFAULT_RECOVERY_DELAY_MS,
        utc_offset_min=genesis.utc_offset_min if isinstance(genesis.utc_offset_min, int) else 0,
    )


def genesis_state(genesis: Genesis) -> dict[str, StateValue]:
    """The member institutions' accounts (from protocol 5 the council's parameters, from 6 the validator schedule)."""
    state: dict[str, StateValue] = {
        ACCOUNTS.key(m.id): Account(id=m.id, role="member", public_key=m.public_key, member=m.id, seq=0)
        for m in genesis.members
    }
    if rules_for(version_at(genesis, 1)).governance:
        state[PARAMS.key(COUNCIL_PARAMS)] = genesis_params(genesis)
    if rules_for(version_at(genesis, 1)).validator_changes:
        state[VALIDATOR_SETS.key(SCHEDULE)] = genesis_schedule(genesis)
    return state


def genesis_memory_state(genesis: Genesis) -> MemoryState:
    return MemoryState(genesis_state(genesis))
