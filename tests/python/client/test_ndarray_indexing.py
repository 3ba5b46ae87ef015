"""NDArray indexing, setitem, reshape codes, scalar arrays, the slice-assign operators and
save/load of scalar and zero-size arrays, compared with real MXNet 1.9.1."""
import numpy as np
import pytest

SHAPE = (4, 5, 3)
KEYS = [
    0, -1, slice(1, 3), slice(None, None, -1), slice(3, 0, -2), (1, 2), (1, 2, 0),
    (Ellipsis, 1), (None, 1, None, slice(1, 4)), (slice(None), slice(1, 4, 2), -1),
    (1, Ellipsis, None), [2, 0, 3], np.array([[1, 3], [0, 2]]), (1, [0, 4]),
    ([0, 2], slice(1, 3), [1, 2]), (slice(None), [1, 3], None, 0),
    ([1, 2], None, [3, 4]), ([[0], [3]], [1, 2]), (slice(1, 3), [4, 0], [2, 1]),
]


def _data():
    return np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_getitem_matches_mxnet(mxw, real_mx, key):
    x = _data()
    got = mxw.nd.array(x)[key]
    want = real_mx.nd.array(x)[key]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())


@pytest.mark.parametrize("key", KEYS, ids=[repr(k) for k in KEYS])
def test_setitem_matches_mxnet(mxw, real_mx, key):
    x = _data()
    shape = x[key].shape
    for value in (-7, np.full(shape, -3.0), np.arange(shape[-1] if shape else 1) - 9.0):
        a, b = mxw.nd.array(x), real_mx.nd.array(x)
        a[key] = value
        b[key] = value
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    a, b = mxw.nd.array(x), real_mx.nd.array(x)
    a[key] = mxw.nd.array(np.full(shape, 5.0))
    b[key] = real_mx.nd.array(np.full(shape, 5.0))
    np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_contiguous_basic_index_is_a_view(mxw):
    a = mxw.nd.array(_data())
    v = a[1, 1:3]
    v[:] = 0
    assert (a.asnumpy()[1, 1:3] == 0).all()
    c = a[:, 1]  # not contiguous: a copy
    c[:] = 100
    assert not (a.asnumpy()[:, 1] == 100).any()


def test_getitem_gradient_flows_to_the_indexed_array(mxw):
    x = mxw.nd.array(_data())
    x.attach_grad()
    with mxw.autograd.record():
        y = x[[1, 3], 1:4:2]
    y.backward()
    want = np.zeros(SHAPE, np.float32)
    want[[1, 3], 1:4:2] = 1
    np.testing.assert_array_equal(x.grad.asnumpy(), want)


def test_setitem_while_recording_refuses_graph_values(mxw):
    x = mxw.nd.zeros((3, 4))
    y = mxw.nd.ones((4,))
    y.attach_grad()
    with pytest.raises(mxw.MXNetError, match="Inplace operations"):
        with mxw.autograd.record():
            x[1] = y


def test_index_errors(mxw):
    a = mxw.nd.zeros((2, 3))
    with pytest.raises(IndexError):
        a[2, 0]
    with pytest.raises(IndexError):
        a[[0, 3], 1]
    with pytest.raises(IndexError):
        a[0, 0, 0]


RESHAPES = [((-2,), {}), ((-3, -1), {}), ((0, -4, 1, -1, 0), {}), ((-1, 0), {}),
            ((-1, 0), {"reverse": True}), ((6, 5), {}), ((0, -1), {})]


@pytest.mark.parametrize("spec,kw", RESHAPES, ids=[repr(r) for r in RESHAPES])
def test_reshape_codes_match_mxnet(mxw, real_mx, spec, kw):
    x = np.arange(30, dtype=np.float32).reshape(2, 3, 5)
    got = mxw.nd.array(x).reshape(*spec, **kw)
    want = real_mx.nd.array(x).reshape(*spec, **kw)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.asnumpy(), want.asnumpy())


def test_reshape_to_fewer_elements_is_a_value_error(mxw):
    with pytest.raises(ValueError):
        mxw.nd.zeros((2, 3, 5)).reshape((2, 3))


def test_scalar_arrays(mxw, real_mx):
    a = mxw.nd.array(np.float32(2.5) * np.ones([]))
    b = real_mx.nd.array(np.float32(2.5) * np.ones([]))
    assert a.shape == b.shape == ()
    np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    a[()] = 4
    assert a.asscalar() == 4


def test_slice_assign_operators(mxw, real_mx):
    for mx in (mxw, real_mx):
        x = mx.nd.ones((2, 3, 4))
        mx.nd._internal._crop_assign(x, mx.nd.zeros((2, 1, 3)), begin=(0, 0, 0),
                                     end=(2, 1, 3), out=x)
        mx.nd._internal._slice_assign_scalar(x, scalar=7, begin=(None, 2), end=(None, 0),
                                             step=(None, -1), out=x)
        if mx is mxw:
            got = x.asnumpy()
        else:
            want = x.asnumpy()
    np.testing.assert_array_equal(got, want)


def test_scatter_set_nd_keeps_other_elements(mxw):
    out = mxw.nd.ones((2, 2))
    mxw.nd._internal._scatter_set_nd(lhs=out, rhs=mxw.nd.array([2, 3, 0]),
                                     indices=mxw.nd.array([[1, 1, 0], [0, 1, 0]], dtype="int32"),
                                     shape=(2, 2), out=out)
    np.testing.assert_array_equal(out.asnumpy(), [[0, 1], [2, 3]])


def test_save_load_np_shape_semantics(mxw, real_mx, tmp_path):
    fname = str(tmp_path / "arrays")
    with mxw.np_shape(True):
        mxw.nd.save(fname, [mxw.nd.array(np.ones([])), mxw.nd.zeros((2, 0, 1))])
        loaded = mxw.nd.load(fname)
        assert [a.shape for a in loaded] == [(), (2, 0, 1)]
    with pytest.raises(mxw.MXNetError):
        mxw.nd.load(fname)
    with real_mx.np_shape(True):
        theirs = real_mx.nd.load(fname)
    assert [a.shape for a in theirs] == [(), (2, 0, 1)]
    blob = open(fname, "rb").read()
    with pytest.raises(mxw.MXNetError):
        with mxw.np_shape(True):
            mxw.nd.load_frombuffer(blob[:-10])


def test_dlpack_round_trip(mxw):
    a = mxw.nd.array(np.arange(6, dtype=np.int32).reshape(2, 3), dtype=np.int32)
    pack = a.to_dlpack_for_read()
    b = mxw.nd.from_dlpack(pack)
    assert b.dtype == np.int32
    np.testing.assert_array_equal(b.asnumpy(), a.asnumpy())
    with pytest.raises(mxw.MXNetError):
        mxw.nd.from_dlpack(pack)  # consumed


def test_cpu_shared_context(mxw):
    ctx = mxw.Context("cpu_shared", 0)
    a = mxw.nd.ones((2, 3), ctx=ctx)
    assert a.context == ctx
    np.testing.assert_array_equal((a + 1).asnumpy(), np.full((2, 3), 2))
