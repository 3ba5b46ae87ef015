#!/usr/bin/env python3
"""Writes the golden NDArray files of tests/golden/data/ with real MXNet 1.9.1.

Run from the repository root with the project venv:
    .venv/bin/python tests/golden/make_golden.py

Every array holds deterministic values that golden_load_test.cc recomputes. For the element
at flat C-order index i:
    integer dtypes     i*3 - 7  (uint8 wraps modulo 256, as numpy's cast does)
    floating dtypes    (i*3 - 7) / 2   (exact in float16 and bfloat16 for i < 24)
    bool               i % 3 == 0

The script also refreshes the fuzzer's seed corpus (tests/fuzz/corpus/ndarray_load/) with
copies of these files plus a few hand-made broken inputs.
"""
import os
import shutil
import struct
import tempfile

import mxnet as mx
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "golden", "data")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "ndarray_load")

# MXNet 1.x spells bfloat16 as this structured numpy dtype (python/mxnet/ndarray/ndarray.py).
BFLOAT16 = np.dtype([("bfloat16", np.uint16)])
DTYPES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool"]
SHAPES = [(5,), (2, 3, 4), (2, 0)]


def values(shape, dtype):
    """The formula above, as a numpy array."""
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    if dtype == "bool":
        v = i % 3 == 0
    elif np.dtype(dtype).kind == "f":
        v = (i * 3 - 7) / 2.0
    else:
        v = i * 3 - 7
    return v.astype(dtype).reshape(shape)


def nd(shape, dtype):
    if dtype == "bfloat16":
        if int(np.prod(shape)) == 0:  # amp_cast cannot infer zero-size shapes
            return mx.nd.empty(shape, dtype=BFLOAT16)
        return mx.nd.amp_cast(mx.nd.array(values(shape, "float32"), dtype="float32"),
                              dtype=BFLOAT16)
    return mx.nd.array(values(shape, dtype), dtype=dtype)


def path(name):
    return os.path.join(DATA, name)


def write_dtype_files():
    for dtype in DTYPES + ["bfloat16"]:
        mx.nd.save(path("dtype_%s.params" % dtype), [nd(s, dtype) for s in SHAPES])


def write_list_and_dict():
    mx.nd.save(path("list.params"), [nd((3,), "float32"), nd((2, 2), "int64"),
                                     nd((1,), "uint8")])
    # A real checkpoint: save_checkpoint writes 'arg:'/'aux:' keys, args first.
    arg_params = {"fc1_weight": nd((4, 3), "float32"), "fc1_bias": nd((4,), "float32")}
    aux_params = {"bn_moving_mean": nd((3,), "float32"), "bn_moving_var": nd((3,), "float64")}
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "model")
        mx.model.save_checkpoint(prefix, 7, mx.sym.Variable("data"), arg_params, aux_params)
        shutil.copyfile(prefix + "-0007.params", path("dict.params"))


def write_sparse():
    rsp = mx.nd.sparse.row_sparse_array((values((2, 2), "float32"), np.array([1, 3])),
                                        shape=(5, 2))
    rsp3 = mx.nd.sparse.row_sparse_array((values((2, 2, 3), "float64"), np.array([0, 3])),
                                         shape=(4, 2, 3))
    mx.nd.save(path("row_sparse.params"),
               [rsp, mx.nd.sparse.zeros("row_sparse", (3, 4)), rsp3])
    csr = mx.nd.sparse.csr_matrix(
        (values((3,), "float32"), np.array([0, 2, 1]), np.array([0, 2, 2, 3])), shape=(3, 4))
    csr64 = mx.nd.sparse.csr_matrix(
        (values((4,), "int64"), np.array([1, 0, 2, 1]), np.array([0, 1, 3, 3, 4])),
        shape=(4, 3))
    mx.nd.save(path("csr.params"), [csr, mx.nd.sparse.zeros("csr", (3, 4)), csr64])


def write_pickle():
    # NDArray.__getstate__ pickles the single-record form (MXNDArraySaveRawBytes).
    handle = nd((2, 3), "float32").__getstate__()["handle"]
    with open(path("pickle_float32_2x3.bin"), "wb") as f:
        f.write(bytes(handle))


def write_np_shape():
    # np-shape semantics write V3 records: a scalar (ndim 0) and zero-size dims are valid.
    mx.npx.set_np()
    try:
        mx.npx.save(path("np_v3.params"), {
            "scalar": mx.np.array(3.5, dtype="float32"),
            "empty": mx.np.zeros((2, 0), dtype="float32"),
            "matrix": mx.np.array(values((2, 3), "int32"), dtype="int32"),
        })
    finally:
        mx.npx.reset_np()


def write_corpus():
    os.makedirs(CORPUS, exist_ok=True)
    for name in sorted(os.listdir(DATA)):
        shutil.copyfile(path(name), os.path.join(CORPUS, name))
    v2 = struct.pack("<Ii", 0xF993FAC9, 0)
    bad = {
        "bad_list_magic.bin": struct.pack("<QQQ", 0x113, 0, 0),
        "bad_record_magic.bin": struct.pack("<QQQI", 0x112, 0, 1, 0xF993FACB),
        "huge_count.bin": struct.pack("<QQQ", 0x112, 0, 1 << 62),
        "huge_shape.bin": struct.pack("<QQQ", 0x112, 0, 1) + v2
        + struct.pack("<iqqiii", 2, 1 << 40, 1 << 40, 1, 0, 0),
        "bad_dtype.bin": struct.pack("<QQQ", 0x112, 0, 1) + v2
        + struct.pack("<iqiiif", 1, 1, 1, 0, 9, 1.0) + struct.pack("<Q", 0),
        "legacy_v1.bin": struct.pack("<QQQ", 0x112, 0, 2)
        + struct.pack("<Iiqiiiff", 0xF993FAC8, 1, 2, 1, 0, 0, 1.0, 2.0)
        + struct.pack("<IIiiid", 1, 1, 1, 0, 1, 2.5) + struct.pack("<Q", 0),
        "rsp_bad_index.bin": struct.pack("<QQQ", 0x112, 0, 1)
        + struct.pack("<Iiiqqiqqiiiiiqffq", 0xF993FAC9, 1, 2, 1, 2, 2, 3, 2, 1, 0, 0, 6, 1, 1,
                      1.0, 2.0, 7) + struct.pack("<Q", 0),
    }
    for name, data in bad.items():
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)


def main():
    assert mx.__version__ == "1.9.1", mx.__version__
    os.makedirs(DATA, exist_ok=True)
    write_dtype_files()
    write_list_and_dict()
    write_sparse()
    write_pickle()
    write_np_shape()
    write_corpus()
    for name in sorted(os.listdir(DATA)):
        print("%6d %s" % (os.path.getsize(path(name)), name))


if __name__ == "__main__":
    main()
