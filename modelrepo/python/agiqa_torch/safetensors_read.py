"""Reading a ``.safetensors`` file (PickScore's ``model.safetensors``) with the standard library and numpy.

The format (huggingface/safetensors): an unsigned 64-bit little-endian header length N, N bytes of JSON
mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to
the byte buffer after the header; an optional ``"__metadata__"`` entry holds strings), then the buffer.
Tensors are little-endian and C-contiguous. The file is memory-mapped, so a 4 GB checkpoint is not read
twice; each tensor is copied out once.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Dict

import numpy as np
import torch

# safetensors dtype -> (numpy dtype to read the bytes as, torch dtype of the result). BF16 has no numpy
# type: its bytes are read as uint16 and widened to float32 (bf16 is the top half of an fp32).
_DTYPES = {
    "F64": (np.float64, torch.float64), "F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16),
    "BF16": (np.uint16, torch.float32), "I64": (np.int64, torch.int64), "I32": (np.int32, torch.int32),
    "I16": (np.int16, torch.int16), "I8": (np.int8, torch.int8), "U8": (np.uint8, torch.uint8),
    "BOOL": (np.bool_, torch.bool),
}
MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit


def is_safetensors(path: str) -> bool:
    """Whether ``path`` starts like a safetensors file (a sane header length, then a JSON object)."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= MAX_HEADER and head[8:9] == b"{"


def _header(path: str, size: int) -> tuple:
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ValueError(f"{path}: {size} bytes is too short for a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > MAX_HEADER or 8 + n > size:
            raise ValueError(f"{path}: safetensors header length {n} does not fit the file ({size} bytes)")
        text = f.read(n)
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: safetensors header is not JSON: {err}") from err
    if not isinstance(header, dict):
        raise ValueError(f"{path}: safetensors header is a {type(header).__name__}, not an object")
    return header, 8 + n


def _tensor(path: str, name: str, info, buf: np.ndarray) -> torch.Tensor:
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise ValueError(f"{path}: tensor {name!r}: entry needs dtype, shape and data_offsets, got {info!r}")
    dtype, shape, (begin, end) = info["dtype"], list(info["shape"]), info["data_offsets"]
    if dtype not in _DTYPES:
        raise ValueError(f"{path}: tensor {name!r}: dtype {dtype!r} is not supported ({', '.join(_DTYPES)})")
    np_type, torch_type = _DTYPES[dtype]
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    want = count * np.dtype(np_type).itemsize
    if not (0 <= begin <= end <= buf.size) or end - begin != want:
        raise ValueError(f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] do not hold {dtype} {shape} "
                         f"({want} bytes) inside the {buf.size}-byte buffer")
    arr = np.frombuffer(buf[begin:end], dtype=np.dtype(np_type).newbyteorder("<"), count=count).reshape(shape)
    if dtype == "BF16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    out = torch.from_numpy(np.array(arr, dtype=arr.dtype.newbyteorder("="), copy=True))
    return out.to(torch_type)


def read_safetensors(path: str) -> Dict[str, torch.Tensor]:
    """All tensors of ``path`` by name (BF16 widened to float32; other dtypes kept)."""
    size = os.path.getsize(path)
    header, start = _header(path, size)
    buf = np.memmap(path, dtype=np.uint8, mode="r", offset=start, shape=(size - start,)) if size > start \
        else np.zeros(0, dtype=np.uint8)
    return {name: _tensor(path, name, info, buf) for name, info in header.items() if name != "__metadata__"}
