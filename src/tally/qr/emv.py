"""EMV QR data objects: ID (2 digits), length (2 digits), value; CRC-16 last.

The framing of EMVCo's QR Code Specification for Payment Systems (the
merchant-presented mode and its templates): a payload is a run of data
objects, each `IIllvvvv...` with a two-digit ID and a two-digit length
counting the value's characters, and it ends with object 63 holding the
CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF) of everything
before the CRC's value, "6304" included, as four upper-case hex digits.
Templates (such as merchant account information) hold data objects in their
value. Pure: no I/O.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

CRC_ID = "63"
CRC_PREFIX = CRC_ID + "04"  # the CRC object's ID and length, covered by the CRC
MAX_VALUE_CHARS = 99  # a length is two digits
MAX_PAYLOAD_CHARS = 512  # the specification's bound on a whole payload


class QrError(ValueError):
    """A payload refused; `reason` is a stable code, the message says what exactly."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def ensure_qr(condition: bool, reason: str, message: str) -> None:
    if not condition:
        raise QrError(reason, message)


@dataclass(frozen=True, slots=True)
class DataObject:
    id: str
    value: str


def crc16(text: str) -> str:
    """CRC-16/CCITT-FALSE of the text's UTF-8 bytes, as EMV QR writes it (4 upper-case hex digits)."""
    return format(binascii.crc_hqx(text.encode("utf-8"), 0xFFFF), "04X")


def encode_object(object_id: str, value: str) -> str:
    assert len(object_id) == 2 and object_id.isdigit(), object_id
    assert 0 < len(value) <= MAX_VALUE_CHARS, (object_id, value)
    return f"{object_id}{len(value):02d}{value}"


def encode_objects(objects: list[DataObject]) -> str:
    return "".join(encode_object(o.id, o.value) for o in objects)


def with_crc(body: str) -> str:
    """A payload: the data objects, then the CRC object over them."""
    return body + CRC_PREFIX + crc16(body + CRC_PREFIX)


def parse_objects(text: str, where: str = "payload") -> list[DataObject]:
    """Split data objects strictly: digits for ID and length, no value past the end, no ID twice."""
    objects: list[DataObject] = []
    seen: set[str] = set()
    at = 0
    while at < len(text):
        head = text[at : at + 4]
        ensure_qr(
            len(head) == 4 and head.isascii() and head.isdigit(),
            "malformed",
            f"{where}: expected a 2-digit ID and a 2-digit length at character {at}, found {head!r}",
        )
        object_id, length = head[:2], int(head[2:])
        ensure_qr(length > 0, "malformed", f"{where}: object {object_id} has length 0")
        end = at + 4 + length
        ensure_qr(
            end <= len(text),
            "length_overrun",
            f"{where}: object {object_id} says {length} characters, only {len(text) - at - 4} remain",
        )
        ensure_qr(object_id not in seen, "duplicate_object", f"{where}: object {object_id} appears twice")
        seen.add(object_id)
        objects.append(DataObject(object_id, text[at + 4 : end]))
        at = end
    return objects


def parse_payload(payload: str) -> dict[str, str]:
    """A whole payload's top-level objects by ID, after checking its framing and CRC."""
    ensure_qr(0 < len(payload) <= MAX_PAYLOAD_CHARS, "malformed", f"a payload has 1 to {MAX_PAYLOAD_CHARS} characters")
    ensure_qr(payload.startswith("0002"), "malformed", "a payload starts with the payload format indicator (00)")
    objects = parse_objects(payload)
    ensure_qr(
        objects[-1].id == CRC_ID and payload[-8:-4] == CRC_PREFIX,
        "missing_object",
        "the payload must end with the CRC object 63 (4 hex digits)",
    )
    expected = crc16(payload[:-4])
    ensure_qr(
        objects[-1].value.upper() == expected,
        "bad_crc",
        f"CRC {objects[-1].value} does not match the payload (computed {expected}): a damaged or altered code",
    )
    return {o.id: o.value for o in objects}
