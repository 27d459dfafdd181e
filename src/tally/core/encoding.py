"""Canonical bytes: RFC 8785 JSON restricted to strings, integers, booleans,
null, lists and objects.

`canonical` encodes msgspec structs and plain values with sorted keys and no
whitespace. For the value domain Tally allows (integers within +-(2**53 - 1),
no floats, UTF-8 strings, object keys in the Basic Multilingual Plane) its
output equals the `rfc8785` reference library, which `canonical_reference`
wraps; tests and the checked-in vectors hold the two to each other. Keys
beyond U+FFFF sort differently (RFC 8785 by UTF-16 units, msgspec by code
point), which is why canonical bytes are only taken of Tally's structs, whose
keys are their ASCII field names.
"""

from __future__ import annotations

from typing import Any

import msgspec
import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1

_encoder = msgspec.json.Encoder(order="sorted")


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes of a struct or plain JSON value (fast path)."""
    return _encoder.encode(value)


def canonical_reference(value: Any) -> bytes:
    """Canonical JSON bytes by the RFC 8785 reference implementation."""
    return rfc8785.dumps(msgspec.to_builtins(value))


def to_plain(value: Any) -> Any:
    """A struct as plain dicts and lists, as a JSON client would hold it."""
    return msgspec.to_builtins(value)
