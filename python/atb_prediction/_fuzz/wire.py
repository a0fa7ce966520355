"""The protobuf wire format, just enough to edit fields of an ONNX model without ``onnx``.

A message is a list of :class:`Field` in file order. A length-delimited field keeps its payload
as bytes (a sub-message, a string or packed numbers look alike on the wire), and
:func:`parse` of those bytes opens a sub-message. ``serialize(parse(data)) == data`` for what
protobuf itself writes, so an edit changes only the fields it touches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "I32",
    "I64",
    "LEN",
    "VARINT",
    "Field",
    "WireError",
    "encode_varint",
    "packed_varints",
    "parse",
    "serialize",
]

VARINT, I64, LEN, I32 = 0, 1, 2, 5
_FIXED_SIZES = {I64: 8, I32: 4}
_UINT64 = 1 << 64


class WireError(ValueError):
    """The bytes are not a protobuf message (a truncated field, a group, an overlong varint)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field as it is on the wire: a varint as an unsigned 64-bit int, anything else as its
    payload bytes."""

    number: int
    wire: int
    value: int | bytes


def encode_varint(value: int) -> bytes:
    """``value`` as a varint; a negative one as its 64-bit two's complement (ten bytes), which is
    how protobuf writes a negative ``int64``."""
    value %= _UINT64
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 70, 7):
        if at >= len(data):
            raise WireError(f"a varint runs past the end at byte {at}")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value % _UINT64, at
    raise WireError(f"a varint longer than ten bytes ends at byte {at}")


def parse(data: bytes) -> list[Field]:
    """The fields of one message, in order.

    Raises:
        WireError: the bytes are not a well-formed message.
    """
    fields: list[Field] = []
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {at}")
        if wire == VARINT:
            value, at = _read_varint(data, at)
            fields.append(Field(number, wire, value))
            continue
        if wire == LEN:
            size, at = _read_varint(data, at)
        elif wire in _FIXED_SIZES:
            size = _FIXED_SIZES[wire]
        else:
            raise WireError(f"wire type {wire} (field {number}) at byte {at}")
        if at + size > len(data):
            raise WireError(f"field {number} of {size} bytes runs past the end at byte {at}")
        fields.append(Field(number, wire, data[at : at + size]))
        at += size
    return fields


def packed_varints(data: bytes) -> list[int]:
    """The numbers of a packed repeated varint field's payload.

    Raises:
        WireError: the payload ends inside a varint.
    """
    values: list[int] = []
    at = 0
    while at < len(data):
        value, at = _read_varint(data, at)
        values.append(value)
    return values


def serialize(fields: Iterable[Field]) -> bytes:
    """The bytes of a message made of ``fields``."""
    out = bytearray()
    for field in fields:
        out += encode_varint(field.number << 3 | field.wire)
        if isinstance(field.value, int):
            out += encode_varint(field.value)
        else:
            if field.wire == LEN:
                out += encode_varint(len(field.value))
            out += field.value
    return bytes(out)
