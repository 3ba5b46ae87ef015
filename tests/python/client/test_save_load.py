"""mx.nd.save / mx.nd.load: byte-compatible with MXNet 1.9.1 in both directions, and pickling."""
import pickle

import numpy as np
import pytest

from mxgrid import _ndarray_io as io

DTYPES = [np.float32, np.float64, np.float16, np.uint8, np.int32, np.int8, np.int64]


def _arrays():
    rng = np.random.RandomState(0)
    out = [(rng.uniform(-1, 1, (2, 3)) * 10).astype(dt) for dt in DTYPES]
    out.append(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    out.append(np.ones((5,), dtype=np.float32))
    return out


def test_format_bytes_equal_mxnet_list_and_dict(real_mx, tmp_path):
    arrays = _arrays()
    ref_list = str(tmp_path / "ref_list.params")
    real_mx.nd.save(ref_list, [real_mx.nd.array(a, dtype=a.dtype) for a in arrays])
    assert io.dumps_list(arrays) == open(ref_list, "rb").read()
    names = ["arg:w%d" % i for i in range(len(arrays))]
    ref_dict = str(tmp_path / "ref_dict.params")
    real_mx.nd.save(ref_dict, {n: real_mx.nd.array(a, dtype=a.dtype)
                               for n, a in zip(names, arrays)})
    assert io.dumps_list(arrays, names) == open(ref_dict, "rb").read()
    records, got_names = io.loads_list(open(ref_dict, "rb").read())
    assert got_names == names
    for (arr, dev_type, dev_id), want in zip(records, arrays):
        assert arr.dtype == want.dtype and (dev_type, dev_id) == (1, 0)
        np.testing.assert_array_equal(arr, want)


def test_truncated_and_bad_magic_rejected():
    blob = io.dumps_list([np.ones((2, 2), np.float32)])
    with pytest.raises(ValueError):
        io.loads_list(blob[:-3])
    with pytest.raises(ValueError):
        io.loads_list(b"\x00" * 8 + blob[8:])


def test_save_in_mxgrid_load_in_mxnet(mxw, real_mx, tmp_path):
    mx = mxw
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.array(np.arange(6, dtype=np.int32).reshape(3, 2), dtype=np.int32)
    fname = str(tmp_path / "ours.params")
    mx.nd.save(fname, [a, b])
    c = real_mx.nd.load(fname)
    np.testing.assert_array_equal(c[0].asnumpy(), np.full((2, 3), 2, np.float32))
    assert c[1].dtype == np.int32
    np.testing.assert_array_equal(c[1].asnumpy(), np.arange(6).reshape(3, 2))
    mx.nd.save(fname, {"a": a, "b": b})
    d = real_mx.nd.load(fname)
    assert sorted(d) == ["a", "b"]
    np.testing.assert_array_equal(d["a"].asnumpy(), a.asnumpy())
    # Byte-identical to MXNet's own file for the same arrays.
    ref = str(tmp_path / "ref.params")
    real_mx.nd.save(ref, {"a": real_mx.nd.ones((2, 3)) * 2,
                          "b": real_mx.nd.array(np.arange(6).reshape(3, 2), dtype=np.int32)})
    assert open(fname, "rb").read() == open(ref, "rb").read()


def test_save_in_mxnet_load_in_mxgrid(mxw, real_mx, tmp_path):
    mx = mxw
    fname = str(tmp_path / "theirs.params")
    w = np.random.RandomState(1).randn(4, 5).astype(np.float32)
    real_mx.nd.save(fname, [real_mx.nd.array(w), real_mx.nd.ones((3,), dtype=np.float64)])
    got = mx.nd.load(fname)
    assert isinstance(got, list) and len(got) == 2
    np.testing.assert_array_equal(got[0].asnumpy(), w)
    assert got[1].dtype == np.float64 and got[1].context == mx.cpu(0)
    real_mx.nd.save(fname, {"arg:w": real_mx.nd.array(w)})
    got = mx.nd.load(fname)
    assert list(got) == ["arg:w"]
    np.testing.assert_array_equal(got["arg:w"].asnumpy(), w)


def test_tutorial_save_load(mxw, tmp_path):
    mx = mxw
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3)) * 3
    fname = str(tmp_path / "mydata.bin")
    mx.nd.save(fname, [a, b])
    c = mx.nd.load(fname)
    np.testing.assert_array_equal(c[0].asnumpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(c[1].asnumpy(), np.full((2, 3), 3.0))
    mx.nd.save(fname, {"a": a, "b": b})
    c = mx.nd.load(fname)
    np.testing.assert_array_equal(c["a"].asnumpy(), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(c["b"].asnumpy(), np.full((2, 3), 3.0))


def test_pickle_round_trip(mxw):
    mx = mxw
    a = mx.nd.ones((2, 3)) * 2
    data = pickle.dumps(a)
    b = pickle.loads(data)
    assert b.handle != a.handle
    np.testing.assert_array_equal(b.asnumpy(), np.full((2, 3), 2.0))
    c = pickle.loads(pickle.dumps([mx.nd.array(np.arange(4, dtype=np.int64), dtype=np.int64)]))
    assert c[0].dtype == np.int64
    np.testing.assert_array_equal(c[0].asnumpy(), np.arange(4))
