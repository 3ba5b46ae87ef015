"""The MXNet Python tutorial's NDArray section, through mxgrid, with asserted values."""
import numpy as np
import pytest


def _gpu_or_skip(mx):
    if mx.context.num_gpus() == 0:
        pytest.skip("the worker has no GPU")


def test_create_and_initialize(mxw):
    mx = mxw
    a = mx.nd.empty((2, 3))
    assert a.shape == (2, 3) and a.context == mx.cpu(0) and a.dtype == np.float32
    a = mx.nd.zeros((2, 3))
    b = mx.nd.ones((2, 3))
    np.testing.assert_array_equal(a.asnumpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(b.asnumpy(), np.ones((2, 3)))
    b[:] = 2
    np.testing.assert_array_equal(b.asnumpy(), np.full((2, 3), 2.0))
    f = mx.nd.full((3,), 7, dtype=np.int32)
    assert f.dtype == np.int32 and f.asnumpy().tolist() == [7, 7, 7]
    r = mx.nd.arange(0, 6, 2)
    assert r.asnumpy().tolist() == [0.0, 2.0, 4.0]
    assert str(mx.cpu(0)) == "cpu(0)" and str(mx.gpu(1)) == "gpu(1)"


def test_gpu_create(mxw):
    mx = mxw
    _gpu_or_skip(mx)
    b = mx.nd.empty((2, 3), mx.gpu())
    assert b.context == mx.gpu(0) and b.shape == (2, 3)


def test_context_scope(mxw):
    mx = mxw
    with mx.cpu(0):
        assert mx.current_context() == mx.cpu(0)
        a = mx.nd.ones((1,))
    assert a.context == mx.cpu(0)


def test_copy_and_numpy(mxw):
    mx = mxw
    a = mx.nd.ones((2, 3))
    b = mx.nd.zeros((2, 3))
    a.copyto(b)
    np.testing.assert_array_equal(b.asnumpy(), np.ones((2, 3)))
    c = a.copyto(mx.cpu())
    assert c.handle != a.handle
    b = a.asnumpy()
    assert isinstance(b, np.ndarray)
    np.testing.assert_array_equal(b, np.ones((2, 3)))
    a = mx.nd.empty((2, 3))
    src = np.random.uniform(-0.1, 0.1, a.shape)
    a[:] = src
    np.testing.assert_allclose(a.asnumpy(), src.astype(np.float32))


def test_copy_to_gpu(mxw):
    mx = mxw
    _gpu_or_skip(mx)
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3), mx.gpu()) * 3
    c = a.copyto(mx.gpu()) * b
    np.testing.assert_array_equal(c.asnumpy(), np.full((2, 3), 6.0))


def test_elementwise(mxw):
    mx = mxw
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3)) * 4
    np.testing.assert_array_equal(b.asnumpy(), np.full((2, 3), 4.0))
    np.testing.assert_array_equal((a + b).asnumpy(), np.full((2, 3), 6.0))
    np.testing.assert_array_equal((a * b).asnumpy(), np.full((2, 3), 8.0))
    np.testing.assert_array_equal((a - b).asnumpy(), np.full((2, 3), -2.0))
    np.testing.assert_array_equal((a / b).asnumpy(), np.full((2, 3), 0.5))
    np.testing.assert_array_equal((1 + a).asnumpy(), np.full((2, 3), 3.0))
    np.testing.assert_array_equal((10 - a).asnumpy(), np.full((2, 3), 8.0))
    np.testing.assert_array_equal((3 * a).asnumpy(), np.full((2, 3), 6.0))
    np.testing.assert_array_equal((1 / b).asnumpy(), np.full((2, 3), 0.25))
    np.testing.assert_array_equal((-a).asnumpy(), np.full((2, 3), -2.0))


def test_inplace_and_automatic_parallelization(mxw):
    mx = mxw
    a = mx.nd.ones((2, 3))
    b = a
    c = a.copyto(mx.cpu())
    a += 1
    b *= 3
    c *= 3
    np.testing.assert_array_equal(a.asnumpy(), np.full((2, 3), 6.0))
    np.testing.assert_array_equal(b.asnumpy(), np.full((2, 3), 6.0))
    np.testing.assert_array_equal(c.asnumpy(), np.full((2, 3), 3.0))
    h = a.handle
    a -= 2
    a /= 2
    assert a.handle == h
    np.testing.assert_array_equal(a.asnumpy(), np.full((2, 3), 2.0))
    mx.nd.waitall()


def test_indexing_views_and_reshape(mxw):
    mx = mxw
    src = np.arange(12, dtype=np.float32).reshape(4, 3)
    a = mx.nd.array(src)
    np.testing.assert_array_equal(a[1].asnumpy(), src[1])
    np.testing.assert_array_equal(a[1:3].asnumpy(), src[1:3])
    np.testing.assert_array_equal(a[-1].asnumpy(), src[-1])
    np.testing.assert_array_equal(a.reshape((3, 4)).asnumpy(), src.reshape(3, 4))
    np.testing.assert_array_equal(a.reshape((-1, 6)).asnumpy(), src.reshape(2, 6))
    a[1:3] = 0
    src[1:3] = 0
    np.testing.assert_array_equal(a.asnumpy(), src)
    a[0] = np.array([7, 8, 9])
    src[0] = [7, 8, 9]
    np.testing.assert_array_equal(a.asnumpy(), src)
    v = a.reshape((12,))
    v[:] = 1  # a view shares memory
    np.testing.assert_array_equal(a.asnumpy(), np.ones((4, 3)))
    assert len(a) == 4 and a.size == 12 and a.ndim == 2
    np.testing.assert_array_equal(a.T.asnumpy(), np.ones((3, 4)))


def test_repr_scalar_and_copy(mxw):
    mx = mxw
    a = mx.nd.ones((1, 2))
    assert repr(a) == "\n[[1. 1.]]\n<NDArray 1x2 @cpu(0)>"
    assert mx.nd.ones((1,)).asscalar() == 1.0
    b = a.copy()
    b[:] = 5
    np.testing.assert_array_equal(a.asnumpy(), np.ones((1, 2)))
    assert a.as_in_context(mx.cpu(0)) is a


def test_large_array_uses_streams(mxw):
    mx = mxw
    src = np.random.RandomState(3).rand(1100, 1000).astype(np.float32)  # 4.4 MB
    a = mx.nd.array(src)
    np.testing.assert_array_equal(a.asnumpy(), src)
    a[:] = src * 2
    np.testing.assert_array_equal(a.asnumpy(), src * 2)


def test_dtypes_round_trip(mxw):
    mx = mxw
    for dt in (np.float32, np.float64, np.float16, np.uint8, np.int32, np.int8, np.int64):
        src = (np.arange(6) - 2).astype(dt)
        a = mx.nd.array(src, dtype=dt)
        assert a.dtype == dt
        np.testing.assert_array_equal(a.asnumpy(), src)


def test_creation_like_and_astype(mxw):
    mx = mxw
    a = mx.nd.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(mx.nd.zeros_like(a).asnumpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(mx.nd.ones_like(a).asnumpy(), np.ones((2, 2)))
    b = a.astype(np.int32)
    assert b.dtype == np.int32 and b.asnumpy().tolist() == [[1, 2], [3, 4]]


def test_num_gpus_and_devices(mxw):
    mx = mxw
    assert mx.context.num_gpus() >= 0
    devices = mx.connection.get().list_devices()
    assert any(d.context.type == 1 for d in devices)


def test_dropped_arrays_are_freed_on_the_worker(mxw):
    mx = mxw
    conn = mx.connection.get()

    def count():
        conn.flush_frees()
        resp = conn.call(conn.worker.Describe,
                         mx.connection.pb.worker.DescribeArraysRequest(session=conn.session))
        return len(resp.arrays)
    base = count()
    keep = mx.nd.ones((3,))
    for _ in range(200):
        keep = keep + 1  # each step drops the previous array
    assert count() <= base + 1
    np.testing.assert_array_equal(keep.asnumpy(), np.full((3,), 201.0))
