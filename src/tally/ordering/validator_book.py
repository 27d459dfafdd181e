"""The validator history as this node's executed state knows it (ordering and the pipeline share it).

The pipeline advances it after executing each block (`executed`); the etcd
orderer, the vote board and the peer fetcher read it from their threads.
Each read is an immutable `ValidatorHistory` snapshot. A reader that needs
a height beyond what execution has fixed (`VALIDATOR_NOTICE_BLOCKS` past the
newest executed block) waits for execution to reach it (`wait_known`): the
bound that keeps ordering from running ahead of the set it must check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from ..core.limits import STOP_POLL_S
from ..core.tables import SCHEDULE, VALIDATOR_SETS
from ..core.types import Genesis, StateValue, ValidatorSchedule
from ..core.validators import ValidatorHistory, history_from_schedule, history_from_state

_SCHEDULE_KEY = VALIDATOR_SETS.key(SCHEDULE)


class ValidatorBook:
    def __init__(self, genesis: Genesis, get: Callable[[str], StateValue | None], executed_height: int) -> None:
        self._history = history_from_state(genesis, get, executed_height)
        self._changes = self._history.known_through < 2**53 - 1  # the genesis's protocol changes sets
        self._cond = threading.Condition()

    def history(self) -> ValidatorHistory:
        return self._history

    def executed(self, height: int, writes: Mapping[str, StateValue | None]) -> None:
        """Block `height` executed with these writes: heights up to `height + notice` are now fixed."""
        if not self._changes:
            return
        current = self._history
        schedule = writes.get(_SCHEDULE_KEY)
        sets = ValidatorSchedule(list(schedule.sets if isinstance(schedule, ValidatorSchedule) else current.sets))
        with self._cond:
            self._history = history_from_schedule(current.genesis, sets, height)
            self._cond.notify_all()

    def wait_known(self, height: int, stop: threading.Event) -> ValidatorHistory | None:
        """The history once it knows `height`'s set; None if `stop` is set first."""
        with self._cond:
            while not self._history.knows(height):
                if stop.is_set():
                    return None
                self._cond.wait(STOP_POLL_S)
            return self._history
