"""Compact binary encoding of state records for storage (msgpack).

The record type follows from the key's prefix, so values carry no tag.
"""

from __future__ import annotations

import msgspec

from .types import Account, Asset, Payment, Payout, StateValue

_encoder = msgspec.msgpack.Encoder()
_decoders: dict[str, msgspec.msgpack.Decoder[StateValue]] = {
    "acct": msgspec.msgpack.Decoder(Account),
    "asset": msgspec.msgpack.Decoder(Asset),
    "bal": msgspec.msgpack.Decoder(int),
    "pay": msgspec.msgpack.Decoder(Payment),
    "payout": msgspec.msgpack.Decoder(Payout),
}


def encode_value(value: StateValue) -> bytes:
    return _encoder.encode(value)


def decode_value(key: str, data: bytes) -> StateValue:
    return _decoders[key.split("/", 1)[0]].decode(data)
