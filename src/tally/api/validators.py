"""GET /v1/validators: who certifies which heights, and the certified changes a light client follows."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..core.block import ValidatorsBody
from ..core.validators import VALIDATOR_NOTICE_BLOCKS, genesis_schedule, schedule_after
from ..node.node import Node
from .responses import Handler
from .responses import json_response as _json


def validators_endpoint(node: Node) -> Handler:
    async def validators(request: Request) -> Response:
        final = node.final_height
        schedule = node.ledger.validator_schedule()
        sets = schedule_after(schedule, final).sets if schedule is not None else genesis_schedule(node.genesis).sets
        changes = node.ledger.validator_changes(final)
        return _json(ValidatorsBody(final, VALIDATOR_NOTICE_BLOCKS, sets, changes))

    return validators
