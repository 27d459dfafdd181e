"""Merkle tree over transaction ids, RFC 6962 style.

Leaves are hashed as SHA-256(0x00 || leaf) and inner nodes as
SHA-256(0x01 || left || right), so a leaf can never pass for a node. An odd
node at the end of a level is promoted unchanged. The empty tree's root is
SHA-256 of the empty string.
"""

from __future__ import annotations

from hashlib import sha256

EMPTY_ROOT = sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def _next_level(level: list[bytes]) -> list[bytes]:
    # node_hash inlined: a block's trees are built on the executor thread, once per transaction
    paired = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def merkle_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    level = [sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def merkle_proof(leaves: list[bytes], index: int) -> list[tuple[str, bytes]]:
    """Sibling hashes from leaf `index` up to the root, each with its side."""
    if not 0 <= index < len(leaves):
        raise IndexError("leaf index out of range")
    level = [leaf_hash(leaf) for leaf in leaves]
    path: list[tuple[str, bytes]] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(("L" if sibling < index else "R", level[sibling]))
        level = _next_level(level)
        index //= 2
    return path


def proof_sides(index: int, size: int) -> list[str]:
    """The sides a proof for leaf `index` of a `size`-leaf tree has, bottom up.

    A proof's sides spell its leaf's position, so checking them against the
    claimed index binds the index (a path for another leaf has other sides).
    """
    if not 0 <= index < size:
        raise IndexError("leaf index out of range")
    sides: list[str] = []
    while size > 1:
        sibling = index ^ 1
        if sibling < size:
            sides.append("L" if sibling < index else "R")
        size = (size + 1) // 2
        index //= 2
    return sides


def verify_proof(leaf: bytes, path: list[tuple[str, bytes]], root: bytes) -> bool:
    current = leaf_hash(leaf)
    for side, sibling in path:
        if side == "L":
            current = node_hash(sibling, current)
        elif side == "R":
            current = node_hash(current, sibling)
        else:
            return False
    return current == root
