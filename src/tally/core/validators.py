"""The validator set at every height: the one place that says.

Up to protocol 5 it is the genesis's set at every height. From protocol 6 it
is ledger state: a schedule of sets (`validators/schedule`), each certifying
the blocks from its `from_height` until the next set's. The council changes
it (`add_validator`, `remove_validator`), always at least
`VALIDATOR_NOTICE_BLOCKS` after the block that decides the change, so every
node knows the set of any height up to that many blocks past the newest block
it executed: the etcd follower, which checks a batch's proposer before the
block before it has executed, never runs further ahead than that.

Every protocol 6 block's results tree ends with one more leaf, the schedule
as the block leaves it (`schedule_leaf`). A certificate therefore proves the
schedule, and a light client that holds only the genesis follows the chain
of changes (core/block.py `follow_changes`): each change's certificate is
checked against the set before it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from .encoding import MAX_SAFE_INTEGER, canonical
from .protocol import rules_for, version_at
from .tables import SCHEDULE, VALIDATOR_SETS
from .types import Genesis, StateValue, Validator, ValidatorSchedule, ValidatorSet

VALIDATOR_NOTICE_BLOCKS = 16  # a change takes effect this many blocks after the block that decides it, or later
MAX_VALIDATORS = 64  # in one set
MAX_VALIDATOR_SETS = 256  # in the schedule: every set is kept, so old certificates stay checkable
SCHEDULE_LEAF_DOMAIN = b"tally-validator-schedule-v1\x00"


def genesis_schedule(genesis: Genesis) -> ValidatorSchedule:
    """The genesis's validators from height 1 (their API URLs are not ledger state: nodes move)."""
    validators = [Validator(id=v.id, public_key=v.public_key) for v in genesis.validators]
    return ValidatorSchedule(sets=[ValidatorSet(from_height=1, validators=validators)])


def schedule_leaf(schedule: ValidatorSchedule) -> bytes:
    """The last leaf of a protocol 6 block's results tree: the schedule the block leaves."""
    return SCHEDULE_LEAF_DOMAIN + canonical(schedule)


def schedule_after(schedule: ValidatorSchedule, height: int) -> ValidatorSchedule:
    """The schedule as block `height` left it (sets are only ever appended, each naming its block)."""
    return ValidatorSchedule(sets=[s for s in schedule.sets if s.scheduled_height <= height])


def change_heights(schedule: ValidatorSchedule) -> list[int]:
    """The blocks that changed the schedule, ascending."""
    return sorted({s.scheduled_height for s in schedule.sets if s.scheduled_height > 0})


@dataclass(frozen=True, slots=True)
class ValidatorHistory:
    """Which validators certify each height, up to `known_through`."""

    genesis: Genesis
    sets: tuple[ValidatorSet, ...]  # from_height ascending, the first from height 1
    known_through: int  # the highest height whose set no later block can change

    def __post_init__(self) -> None:
        assert self.sets and self.sets[0].from_height == 1
        assert all(a.from_height < b.from_height for a, b in zip(self.sets, self.sets[1:], strict=False))

    def at(self, height: int) -> list[Validator]:
        """The set that certifies the block at `height`."""
        assert 1 <= height <= self.known_through, f"the set of height {height} is not fixed yet"
        index = bisect.bisect_right([s.from_height for s in self.sets], height) - 1
        return self.sets[index].validators

    def knows(self, height: int) -> bool:
        return height <= self.known_through

    def ids_at(self, height: int) -> set[str]:
        return {v.id for v in self.at(height)}

    def everyone(self) -> list[Validator]:
        """Every validator the genesis or any set names, each once: its latest key, and the API URL the
        council gave it, else the genesis's (the genesis's sets hold none: nodes move)."""
        urls = {v.id: v.api_url for v in self.genesis.validators}
        latest = {v.id: v for s in self.sets for v in s.validators}
        return [
            v if v.api_url or not urls.get(v.id) else Validator(id=v.id, public_key=v.public_key, api_url=urls[v.id])
            for v in latest.values()
        ]


def genesis_history(genesis: Genesis) -> ValidatorHistory:
    """The genesis's set at every height: a ledger before protocol 6, or one that has changed nothing yet."""
    return ValidatorHistory(genesis, tuple(genesis_schedule(genesis).sets), MAX_SAFE_INTEGER)


def history_from_schedule(genesis: Genesis, schedule: ValidatorSchedule, executed_height: int) -> ValidatorHistory:
    return ValidatorHistory(genesis, tuple(schedule.sets), executed_height + VALIDATOR_NOTICE_BLOCKS)


def history_from_state(
    genesis: Genesis, get: Callable[[str], StateValue | None], executed_height: int
) -> ValidatorHistory:
    """The history as a state that has executed `executed_height` blocks knows it."""
    if not rules_for(version_at(genesis, 1)).validator_changes:
        return genesis_history(genesis)
    schedule = VALIDATOR_SETS.read(get, SCHEDULE)
    assert schedule is not None, "a protocol 6 ledger's genesis holds the validator schedule"
    return history_from_schedule(genesis, schedule, executed_height)
