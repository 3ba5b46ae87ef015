"""Real MXNet 1.9.1 loads the files mxgrid's NDArray format writer produces.

Runs the write_golden binary (env MXGRID_WRITE_GOLDEN, else bazel-bin/tests/golden/write_golden
under the repository root) into a temporary directory, loads every file with mx.nd.load and
checks values, shapes, dtypes and names against the formula in golden_values.h. Dense files
must also equal, byte for byte, the ones MXNet itself wrote into tests/golden/data/.

    bazel build //tests/golden:write_golden && .venv/bin/python -m pytest tests/golden -q
"""
import os
import subprocess

import mxnet as mx
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLDEN = os.path.join(HERE, "data")

BFLOAT16 = np.dtype([("bfloat16", np.uint16)])
DTYPES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool",
          "bfloat16"]
SHAPES = [(5,), (2, 3, 4), (2, 0)]


def formula(shape, dtype):
    """golden_values.h: i*3-7 for integers (uint8 wraps), (i*3-7)/2 for floats, i%3==0 bool."""
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    if dtype == "bool":
        v = i % 3 == 0
    elif dtype == "bfloat16" or np.dtype(dtype).kind == "f":
        v = (i * 3 - 7) / 2.0
    else:
        v = i * 3 - 7
    return v.astype("float32" if dtype == "bfloat16" else dtype).reshape(shape)


def as_numpy(array):
    """Values of a loaded NDArray; bfloat16 is widened to float32 by MXNet's own cast."""
    if array.dtype == BFLOAT16:
        if array.size == 0:
            return np.zeros(array.shape, dtype="float32")
        return mx.nd.amp_cast(array, dtype="float32").asnumpy()
    return array.asnumpy()


def dtype_name(array):
    return "bfloat16" if array.dtype == BFLOAT16 else np.dtype(array.dtype).name


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    binary = os.environ.get("MXGRID_WRITE_GOLDEN") or os.path.join(
        ROOT, "bazel-bin", "tests", "golden", "write_golden")
    assert os.path.exists(binary), (
        "%s not found; run `bazel build //tests/golden:write_golden` or set "
        "MXGRID_WRITE_GOLDEN" % binary)
    out = tmp_path_factory.mktemp("mxgrid_written")
    subprocess.run([binary, str(out)], check=True)
    return out


def check(array, shape, dtype):
    assert array.shape == shape
    assert dtype_name(array) == dtype
    np.testing.assert_array_equal(as_numpy(array), formula(shape, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype(written, dtype):
    name = "dtype_%s.params" % dtype
    loaded = mx.nd.load(str(written / name))
    assert isinstance(loaded, list) and len(loaded) == len(SHAPES)
    for array, shape in zip(loaded, SHAPES):
        check(array, shape, dtype)
    with open(os.path.join(GOLDEN, name), "rb") as f:
        assert (written / name).read_bytes() == f.read()


def test_list(written):
    loaded = mx.nd.load(str(written / "list.params"))
    assert isinstance(loaded, list) and len(loaded) == 3
    check(loaded[0], (3,), "float32")
    check(loaded[1], (2, 2), "int64")
    check(loaded[2], (1,), "uint8")


def test_checkpoint_dict(written):
    loaded = mx.nd.load(str(written / "dict.params"))
    assert list(loaded) == ["arg:fc1_weight", "arg:fc1_bias", "aux:bn_moving_mean",
                            "aux:bn_moving_var"]
    check(loaded["arg:fc1_weight"], (4, 3), "float32")
    check(loaded["arg:fc1_bias"], (4,), "float32")
    check(loaded["aux:bn_moving_mean"], (3,), "float32")
    check(loaded["aux:bn_moving_var"], (3,), "float64")
    with open(os.path.join(GOLDEN, "dict.params"), "rb") as f:
        assert (written / "dict.params").read_bytes() == f.read()


def test_checkpoint_loads_with_model_api(written, tmp_path):
    # mx.model.load_checkpoint splits the arg:/aux: keys back into two dicts.
    prefix = str(tmp_path / "model")
    mx.sym.Variable("data").save(prefix + "-symbol.json")
    os.symlink(str(written / "dict.params"), prefix + "-0003.params")
    _, arg_params, aux_params = mx.model.load_checkpoint(prefix, 3)
    assert sorted(arg_params) == ["fc1_bias", "fc1_weight"]
    assert sorted(aux_params) == ["bn_moving_mean", "bn_moving_var"]


def test_saved_contexts(written):
    loaded = mx.nd.load(str(written / "contexts.params"))
    check(loaded["pinned"], (2,), "float32")
    check(loaded["gpu"], (3,), "int32")


def test_pickled_record(written):
    data = bytearray((written / "pickle_float32_2x3.bin").read_bytes())
    array = mx.nd.NDArray(handle=None)
    array.__setstate__({"handle": data})
    check(array, (2, 3), "float32")
