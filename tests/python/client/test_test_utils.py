"""mxgrid.test_utils (MXNet's test helpers over mxgrid arrays) against real MXNet 1.9.1's
mxnet.test_utils on the same inputs, plus mxgrid's runtime/util/base additions that MXNet's
unit tests import."""
import os

import mxnet.test_utils as ref
import numpy as np
import pytest

from mxgrid import test_utils as tu


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "uint8"])
def test_tolerances_match_mxnets(dtype):
    x = np.zeros(3, dtype=dtype)
    y = np.zeros(3, dtype="float64")
    assert tu.get_tols(x, y, None, None) == ref.get_tols(x, y, None, None)
    assert tu.get_tols(x, x, 1e-3, None) == ref.get_tols(x, x, 1e-3, None)


def test_almost_equal_and_its_assertion_match_mxnets():
    rng = np.random.RandomState(0)
    a = rng.randn(4, 5).astype(np.float32)
    for b in (a + 1e-5, a + 1e-2, a * 1.001):
        assert tu.almost_equal(a, b) == ref.almost_equal(a, b)
        ours = theirs = None
        try:
            tu.assert_almost_equal(a, b, names=("x", "y"))
        except AssertionError as err:
            ours = err
        try:
            ref.assert_almost_equal(a, b, names=("x", "y"))
        except AssertionError as err:
            theirs = err
        assert (ours is None) == (theirs is None)
    with pytest.raises(AssertionError, match="x and y differ"):
        tu.assert_almost_equal(a, a + 1, names=("x", "y"))
    tu.assert_almost_equal(np.array([np.nan]), np.array([np.nan]), equal_nan=True)


def test_np_reduce_matches_mxnets():
    x = np.arange(24.0).reshape(2, 3, 4)
    for axis in (None, 0, (0, 2), [1, 2], -1):
        for keepdims in (False, True):
            np.testing.assert_array_equal(tu.np_reduce(x, axis, keepdims, np.sum),
                                          ref.np_reduce(x, axis if axis != -1 else 2,
                                                        keepdims, np.sum))


def test_random_shapes_and_arrays():
    np.random.seed(3)
    for _ in range(50):
        s = tu.rand_shape_nd(4, dim=5)
        assert len(s) == 4 and all(1 <= d <= 5 for d in s)
        assert all(0 <= d <= 5 for d in tu.rand_shape_nd(3, 5, allow_zero_size=True))
    a, b = tu.random_arrays((2, 3), ())
    assert a.shape == (2, 3) and a.dtype == np.float32 and b.shape == ()
    assert sorted(tu.random_sample(range(10), 10)) == list(range(10))


def test_arrays_on_the_worker(mxw):
    a = tu.rand_ndarray((3, 4))
    assert a.shape == (3, 4) and a.context == tu.default_context()
    b = a.reshape((3, 4))  # a view of the same storage (compared value by value)
    assert tu.same_array(a, b)
    assert not tu.same_array(a, a.copy())
    tu.assert_almost_equal(a, a.asnumpy())
    csr = tu.rand_ndarray((30, 40), stype="csr", density=0.25)
    assert csr.stype == "csr" and csr.shape == (30, 40)
    assert 0.1 < np.count_nonzero(csr.asnumpy()) / 1200 < 0.4
    rsp, (values, rows) = tu.rand_sparse_ndarray((6, 2), "row_sparse", rsp_indices=[4, 1])
    np.testing.assert_array_equal(rsp.indices.asnumpy(), [1, 4])
    np.testing.assert_array_equal(rsp.asnumpy()[[1, 4]], values)
    with pytest.raises(ValueError, match="storage type"):
        tu.rand_ndarray((3, 4), stype="coo")


def test_environment_sets_and_restores():
    os.environ.pop("MXGRID_TU_A", None)
    os.environ["MXGRID_TU_B"] = "1"
    with tu.environment({"MXGRID_TU_A": "x", "MXGRID_TU_B": None}):
        assert os.environ["MXGRID_TU_A"] == "x" and "MXGRID_TU_B" not in os.environ
    assert "MXGRID_TU_A" not in os.environ and os.environ["MXGRID_TU_B"] == "1"
    with tu.environment("MXGRID_TU_B", "2"):
        assert tu.getenv("MXGRID_TU_B") == "2"
    assert os.environ["MXGRID_TU_B"] == "1"
    tu.assert_exception(int, ValueError, "x")
    with pytest.raises(AssertionError):
        tu.assert_exception(int, ValueError, "3")


def test_runtime_util_and_base_names(mxw):
    features = mxw.runtime.Features()
    assert features.is_enabled("MKLDNN") and features.is_enabled("int64_tensor_size")
    with pytest.raises(RuntimeError, match="unknown"):
        features.is_enabled("NO_SUCH_FEATURE")
    assert not mxw.util.is_np_shape()
    with mxw.util.np_shape(False):
        assert not mxw.util.is_np_shape()
    with mxw.util.np_shape(True):
        assert mxw.util.is_np_shape()
        with mxw.util.np_shape(False):
            assert not mxw.util.is_np_shape()
        assert mxw.util.is_np_shape()
    assert not mxw.util.is_np_shape()
    assert mxw.util.set_np_shape(True) is False
    assert mxw.util.set_np_shape(False) is True
    from mxgrid.base import NotImplementedForSymbol, py_str
    assert py_str(b"abc") == "abc"
    with pytest.raises(NotImplementedForSymbol):
        bool(mxw.sym.Variable("x"))
