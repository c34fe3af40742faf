"""Read a .safetensors header without loading weights, and check it against the file: the format
is an 8-byte little-endian header length, a JSON header, then the tensors' bytes back to back."""

import json
import math
import struct
from collections.abc import Callable

from . import InspectionError

# Bytes per element of each dtype the format defines (safetensors spec, `Dtype` enum).
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "F8_E8M0": 1,
    "F4": 0.5,
    "F6_E2M3": 0.75,
    "F6_E3M2": 0.75,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
MAX_HEADER = 100 * 1024 * 1024  # the reference implementation refuses headers over 100 MB


def read_safetensors_header(name: str, size: int, read: Callable[[int, int], bytes]) -> dict:
    """`read(start, length)` reads the file. Returns {"parameters", "dtypes", "tensors"}."""
    if size < 8:
        raise InspectionError(f"{name} is too short to be a safetensors file ({size} bytes).")
    (header_len,) = struct.unpack("<Q", read(0, 8))
    if header_len > MAX_HEADER or 8 + header_len > size:
        raise InspectionError(f"{name}: the header claims {header_len:,} bytes but the file has {size:,}.")
    try:
        header = json.loads(read(8, header_len))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InspectionError(f"{name}: the header is not valid JSON ({exc}).") from exc
    if not isinstance(header, dict):
        raise InspectionError(f"{name}: the header is not a JSON object.")
    header.pop("__metadata__", None)
    data_size = size - 8 - header_len
    spans, parameters, dtypes = [], 0, {}
    for tensor, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            width = DTYPE_BYTES[dtype]
        except (KeyError, TypeError, ValueError) as exc:
            raise InspectionError(f"{name}: tensor {tensor!r} has a malformed header entry.") from exc
        count = math.prod(shape)
        if end - begin != math.ceil(count * width):
            raise InspectionError(
                f"{name}: tensor {tensor!r} claims {end - begin:,} bytes but its shape {shape} of {dtype} "
                f"needs {math.ceil(count * width):,}."
            )
        spans.append((begin, end, tensor))
        parameters += count
        dtypes[dtype] = dtypes.get(dtype, 0) + count
    position = 0
    for begin, end, tensor in sorted(spans):
        if begin != position:
            raise InspectionError(
                f"{name}: tensor {tensor!r} starts at byte {begin:,}, expected {position:,}."
            )
        position = end
    if position != data_size:
        raise InspectionError(
            f"{name}: the header describes {position:,} bytes of tensors but the file holds {data_size:,}."
        )
    return {"parameters": parameters, "dtypes": dtypes, "tensors": len(spans)}
