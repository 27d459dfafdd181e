"""Protocol versions: the rules a block executes under.

Every block executes under one version, fixed by its height: the genesis
names the version from height 1 (absent: version 1), and the council will
be able to schedule a later one at a height. Audit and repair replay each
block under its own version, so changing a rule never breaks an old ledger:
a change adds a version here with the switch it flips, and the rules read
the switch from the `Rules` they are given.

Version 1 is the first ledger's: a rejected transaction changes nothing, not
even its signer's sequence number, and a validator's vote signs the block
and the state digest only.

Version 2 makes results part of what validators sign: its vote (kind
`tally-block-vote-v2`) and certificate carry the Merkle root over every
transaction's index, id, result code and the key its signature was checked
against, so a receipt proves the outcome, not only the inclusion.
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import Genesis


@dataclass(frozen=True, slots=True)
class Rules:
    version: int
    certify_results: bool  # votes and certificates carry the results root (version 2 on)
    # Versions to come add their switches here (e.g. a rejected transaction consuming its seq).


PROTOCOLS: dict[int, Rules] = {
    1: Rules(version=1, certify_results=False),
    2: Rules(version=2, certify_results=True),
}
LATEST = max(PROTOCOLS)


class UnknownProtocol(Exception):
    """A block or genesis names a protocol version this build does not have."""


def version_at(genesis: Genesis, height: int) -> int:
    """The protocol version of the block at `height` (the one place that says)."""
    assert height >= 1
    return genesis.protocol if isinstance(genesis.protocol, int) else 1


def rules_for(version: int) -> Rules:
    rules = PROTOCOLS.get(version)
    if rules is None:
        raise UnknownProtocol(f"protocol version {version} is not known to this build (latest {LATEST})")
    return rules
