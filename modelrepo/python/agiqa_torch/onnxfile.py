"""Writing an exported ONNX file into place, with its weights in an external data file when large.

A protobuf message cannot exceed 2 GiB, so an ONNX file with more weights than that keeps them
outside the graph: ONNX's external data (each tensor's ``data_location`` EXTERNAL, with ``location``,
``offset`` and ``length`` entries, the location relative to the model's folder). The export writes
every version as ``model.onnx`` and, when the weights exceed ``EXTERNAL_DATA_ABOVE`` bytes, one
``model.onnx.data`` beside it. ONNX Runtime, Triton's onnxruntime backend and ``agiqa repo check``
resolve the data file relative to the model file, so nothing in config.pbtxt changes.

Memory: torch 1.13 writes a model over 2 GiB with one file per tensor next to the path it exports to
(and keeps only the small graph in memory); ``consolidate`` then copies those files into one data file
in chunks, so the weights are never held twice. Below 2 GiB torch serialises the whole model in memory,
so a model exported with external data under that size (only with a lowered threshold) briefly holds
the bytes once more while they move out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable, Dict, Iterator, Optional

# 2 GB: under protobuf's 2 GiB limit with ~140 MiB to spare for the graph and folded constants.
EXTERNAL_DATA_ABOVE = 2_000_000_000
# Tensors smaller than this stay inline (ONNX's own default size_threshold).
INLINE_BELOW = 1024
# Offsets in the data file are page aligned, so ONNX Runtime can map tensors straight from the file.
ALIGN = 4096
_CHUNK = 1 << 24


def data_file_name(model_file: str) -> str:
    """The external data file beside ``model_file`` ("model.onnx" -> "model.onnx.data")."""
    return os.path.basename(model_file) + ".data"


def parameter_bytes(module) -> int:
    """Bytes of a torch module's parameters and buffers (what the ONNX initializers will hold)."""
    seen, total = set(), 0
    for t in list(module.parameters()) + list(module.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


def _tensors_of_graph(graph) -> Iterator:
    for t in graph.initializer:
        yield t
    for s in graph.sparse_initializer:
        yield s.values
        yield s.indices
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            if a.HasField("g"):
                yield from _tensors_of_graph(a.g)
            for g in a.graphs:
                yield from _tensors_of_graph(g)


def all_tensors(model) -> Iterator:
    """Every TensorProto of an ONNX ModelProto that can hold weights: initializers (sparse ones too),
    node attribute tensors, and those of subgraphs."""
    yield from _tensors_of_graph(model.graph)
    for f in model.functions:
        for node in f.node:
            for a in node.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors


def _external_info(t) -> Dict[str, str]:
    return {e.key: e.value for e in t.external_data}


def has_external_data(path: str) -> bool:
    """Whether the ONNX file at ``path`` keeps any tensor in another file."""
    import onnx

    m = onnx.load(path, load_external_data=False)
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in all_tensors(m))


def _copy_range(src: str, offset: int, length: Optional[int], out, tensor: str) -> int:
    """Append ``length`` bytes of ``src`` from ``offset`` (all to the end when None) to ``out``."""
    size = os.path.getsize(src)
    if length is None:
        length = size - offset
    if offset < 0 or offset + length > size:
        raise ValueError(f"tensor {tensor!r}: {src} holds {size} bytes, the tensor needs bytes "
                         f"{offset}..{offset + length}")
    with open(src, "rb") as f:
        f.seek(offset)
        left = length
        while left:
            buf = f.read(min(_CHUNK, left))
            if not buf:
                raise ValueError(f"tensor {tensor!r}: {src} ended early")
            out.write(buf)
            left -= len(buf)
    return length


def consolidate(path: str) -> str:
    """Rewrite the ONNX file at ``path`` so that every tensor of INLINE_BELOW bytes or more lives in one
    data file beside it (``data_file_name(path)``), whether it was inline or in torch's per-tensor
    files (which are removed). Returns the data file's path."""
    import onnx

    m = onnx.load(path, load_external_data=False)
    base = os.path.dirname(os.path.abspath(path))
    data_name = data_file_name(path)
    data_path = os.path.join(base, data_name)
    sources = set()
    with open(data_path, "wb") as out:
        for t in all_tensors(m):
            if t.data_location == onnx.TensorProto.EXTERNAL:
                info = _external_info(t)
                if "location" not in info:
                    raise ValueError(f"{path}: tensor {t.name!r} is external but names no location")
                src = os.path.join(base, info["location"])
                if os.path.abspath(src) == os.path.abspath(data_path):
                    raise ValueError(f"{path}: tensor {t.name!r} already points into {data_name}")
                sources.add(os.path.abspath(src))
                start = _align(out)
                length = _copy_range(src, int(info.get("offset", 0)),
                                     int(info["length"]) if "length" in info else None, out, t.name)
            elif t.HasField("raw_data") and len(t.raw_data) >= INLINE_BELOW:
                start = _align(out)
                out.write(t.raw_data)
                length = len(t.raw_data)
                t.ClearField("raw_data")
            else:
                continue
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            for k, v in (("location", data_name), ("offset", str(start)), ("length", str(length))):
                e = t.external_data.add()
                e.key, e.value = k, v
    onnx.save(m, path)
    for src in sources:
        os.remove(src)
    return data_path


def _align(out) -> int:
    pos = out.tell()
    pad = (-pos) % ALIGN
    if pad:
        out.write(b"\0" * pad)
    return pos + pad


def add_metadata(path: str, meta: Dict[str, str]) -> None:
    """Add metadata_props to the ONNX file at ``path`` without loading its external data."""
    import onnx

    m = onnx.load(path, load_external_data=False)
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, path)


def install(path: str, write: Callable[[str], None], external: Callable[[], bool],
            verify: Optional[Callable[[str], None]] = None) -> bool:
    """Write a model file with ``write(tmp_path)`` in a fresh temporary folder beside ``path``, move its
    weights into a data file when ``external()`` says so (or torch already wrote them outside), run
    ``verify(tmp_path)``, then move the file (and its data file) into place. A file that fails its
    checks never replaces the version being served, and no temporary is left behind. Returns whether
    the installed model has external data. The data file is moved first: for the moment between the
    two moves a reader sees the old graph with the new data (Triton and the harness load a version
    once it is complete; do not export over a version that is being loaded)."""
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix=".export-", dir=d)
    tmp = os.path.join(tmpdir, os.path.basename(path))
    data = os.path.join(d, data_file_name(path))
    try:
        write(tmp)
        leftovers = set(os.listdir(tmpdir)) - {os.path.basename(tmp)}
        ext = bool(leftovers) or has_external_data(tmp) or external()
        if ext:
            consolidate(tmp)
        if verify is not None:
            verify(tmp)
        if ext:
            os.replace(os.path.join(tmpdir, data_file_name(tmp)), data)
        os.replace(tmp, path)
        if not ext and os.path.exists(data):
            os.remove(data)  # the previous export's weights; the new file holds its own
        return ext
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
