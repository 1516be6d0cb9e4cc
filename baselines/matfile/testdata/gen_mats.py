"""Writes MAT v5 test files with scipy.io.savemat and, as the reference, what scipy.io.loadmat reads
back (mat_dtype=True: values as MATLAB holds them) as JSON: {file: {var: {class, dims, data (column-
major), fields / cells}}}. Also dumps the given extra MAT files (the shared NIQE and CEIQ files).
Usage: gen_mats.py OUTDIR [EXTRA.mat ...]"""
import json
import os
import sys

import numpy as np
import scipy.io
import scipy.sparse

out = sys.argv[1]
rng = np.random.default_rng(7)
variables = {
    "d": rng.standard_normal((3, 4)),
    "s": rng.standard_normal((2, 5)).astype(np.float32),
    "i8": np.array([[-128, 5, 127]], dtype=np.int8),
    "u8": np.array([[0, 200, 255]], dtype=np.uint8),
    "i16": np.array([[-32768], [32767]], dtype=np.int16),
    "u16": np.array([[65535, 1]], dtype=np.uint16),
    "i32": np.array([[-2**31, 2**31 - 1]], dtype=np.int32),
    "u32": np.array([[2**32 - 1]], dtype=np.uint32),
    "i64": np.array([[-2**53, 2**53]], dtype=np.int64),
    "u64": np.array([[2**60]], dtype=np.uint64),
    "b": np.array([[True, False, True]]),
    "txt": "hello MAT",
    "sp": scipy.sparse.csc_matrix(np.array([[0, 1.5, 0], [2.25, 0, 0], [0, 0, -3.0], [0, 4.0, 0]])),
    "st": {"a": np.arange(6.0).reshape(2, 3), "name": "abc", "inner": {"z": np.array([[9.0]])}},
    "c": np.array([np.array([[1.0, 2.0]]), "x"], dtype=object),
    "empty": np.zeros((0, 0)),
    "nd": rng.standard_normal((2, 3, 4)),
}


def describe(v):
    if isinstance(v, np.ndarray) and v.dtype.names:
        e = v[0, 0]
        return {"class": "struct", "dims": list(v.shape), "fields": {n: describe(e[n]) for n in v.dtype.names}}
    if scipy.sparse.issparse(v):
        a = v.toarray()
        return {"class": "sparse", "dims": list(a.shape), "data": a.ravel(order="F").tolist()}
    if isinstance(v, np.ndarray) and v.dtype == object:
        return {"class": "cell", "dims": list(v.shape), "cells": [describe(x) for x in v.ravel(order="F")]}
    if isinstance(v, np.ndarray) and v.dtype.kind == "U":
        s = "".join(v.ravel(order="F").tolist())
        return {"class": "char", "dims": list(v.shape), "text": s}
    a = np.asarray(v)
    return {"class": str(a.dtype), "dims": list(a.shape), "data": a.astype(np.float64).ravel(order="F").tolist()}


ref = {}
for name, comp in (("plain.mat", False), ("compressed.mat", True)):
    path = os.path.join(out, name)
    scipy.io.savemat(path, variables, do_compression=comp, oned_as="row")
    got = scipy.io.loadmat(path, mat_dtype=True, chars_as_strings=False)
    ref[name] = {k: describe(v) for k, v in got.items() if not k.startswith("__")}
for path in sys.argv[2:]:
    got = scipy.io.loadmat(path, mat_dtype=True, chars_as_strings=False)
    ref[path] = {k: describe(v) for k, v in got.items() if not k.startswith("__")}
with open(os.path.join(out, "ref.json"), "w") as f:
    json.dump(ref, f)
