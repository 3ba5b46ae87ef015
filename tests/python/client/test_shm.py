"""Same-host transfers through shared memory (clients/python/mxgrid/_shm.py, worker.proto
RegisterShm / UploadShm / DownloadShm) against the embedded cluster's real worker: values of
every dtype, in-place writes, copyto, NDArrayIter, the pool, and the worker's refusals
(bounds, other sessions, bad names, truncated objects), fallback and MXGRID_SHM=0."""
import gc
import mmap
import os
import time

import grpc
import numpy as np
import pytest

from mxgrid import _shm
from mxgrid import _wire
from mxgrid import connection
from mxgrid._proto import pb

# Every dtype of MXNet 1.x's NDArray (the worker's; int16 and the wider unsigned ones are not).
DTYPES = ["float32", "float64", "float16", "uint8", "int8", "int32", "int64", "bool"]


def _values(dtype, count, seed=0):
    rng = np.random.RandomState(seed)
    if dtype == "bool":
        return rng.rand(count) > 0.5
    if np.dtype(dtype).kind == "f":
        return (rng.randn(count) * 100).astype(dtype)
    info = np.iinfo(dtype)
    return rng.randint(max(info.min, -2**31), min(info.max, 2**31 - 1), size=count).astype(dtype)


def _pool():
    return _shm.pool_of(connection.get())


def _counts():
    pool = _pool()
    return (pool.uploads, pool.downloads) if pool is not None else (0, 0)


class _ClientObject:
    """A shared-memory object made by the test, as a client would."""

    def __init__(self, size):
        self.name = "/mxgrid-pytest-%d-%d" % (os.getpid(), id(self))
        self.fd = os.open("/dev/shm" + self.name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.ftruncate(self.fd, size)
        self.mm = mmap.mmap(self.fd, size)

    def close(self):
        self.mm.close()
        os.close(self.fd)
        os.unlink("/dev/shm" + self.name)


@pytest.fixture
def obj():
    o = _ClientObject(1 << 20)
    yield o
    o.close()


def _worker_maps(local_cluster, name):
    pid = dict(local_cluster.processes)["worker0"].pid
    with open("/proc/%d/maps" % pid) as f:
        return sum(("/dev/shm" + name) in line for line in f)


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_of_every_dtype_goes_through_shared_memory(mxw, dtype):
    x = _values(dtype, (1 << 20) // np.dtype(dtype).itemsize + 7).reshape(-1, 1)
    before = _counts()
    y = mxw.nd.array(x, dtype=dtype).asnumpy()
    after = _counts()
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    assert y.dtype == np.dtype(dtype) and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    y[0, 0] = x[1, 0]  # writable, as MXNet's asnumpy


def test_setitem_copyto_and_views_through_shared_memory(mxw):
    x = _values("float32", 300000).reshape(3000, 100)
    a = mxw.nd.zeros((3000, 100))
    before = _counts()
    a[:] = x
    assert _counts()[0] == before[0] + 1
    np.testing.assert_array_equal(a.asnumpy(), x)
    a[1000:2000] = x[:1000] * 2  # a view of the array, written in place
    expect = x.copy()
    expect[1000:2000] = x[:1000] * 2
    np.testing.assert_array_equal(a.asnumpy(), expect)
    b = mxw.nd.empty((3000, 100))
    a.copyto(b)
    np.testing.assert_array_equal(b.asnumpy(), expect)
    np.testing.assert_array_equal(a.copyto(mxw.cpu()).asnumpy(), expect)
    np.testing.assert_array_equal((a + 1).asnumpy(), expect + 1)
    c = mxw.nd.array(x, ctx=mxw.cpu(1))  # adopted, on the context asked for
    assert c.context == mxw.cpu(1)
    np.testing.assert_array_equal(c.asnumpy(), x)


def test_ndarray_iter_batches_go_through_shared_memory(mxw):
    data = _values("float32", 40 * 8192).reshape(40, 8192)
    label = np.arange(40, dtype=np.float32)
    it = mxw.io.NDArrayIter(data, label, batch_size=10, shuffle=True)
    for epoch in range(2):
        before = _counts()
        got = [(b.data[0].asnumpy(), b.label[0].asnumpy()) for b in it]
        # The dataset goes up once per epoch (new arrays, then in place after the shuffle);
        # batches are views of it on the worker.
        assert _counts()[0] == before[0] + 1, epoch
        rows = np.concatenate([d for d, _ in got])
        labels = np.concatenate([lab for _, lab in got]).astype(np.int64)
        np.testing.assert_array_equal(rows, data[labels])
        assert sorted(labels) == list(range(40))
        it.reset()


def _slot_bytes(nbytes):
    return _shm._size_class(nbytes + _shm.DATA_OFFSET)


def test_a_downloaded_array_holds_its_slot_until_collected(mxw):
    a = mxw.nd.array(_values("float32", 1 << 20))
    slot = _slot_bytes(4 << 20)
    y = a.asnumpy()
    lent = _pool().stats()["lent_bytes"]
    assert lent >= slot
    view = y[10:20]
    del y
    gc.collect()
    assert _pool().stats()["lent_bytes"] == lent  # the view keeps the slot
    del view
    gc.collect()
    assert _pool().stats()["lent_bytes"] == lent - slot
    # The slot is reused: no new region for the same size.
    free = _pool().stats()["free_bytes"]
    z = a.asnumpy()
    assert _pool().stats()["free_bytes"] == free - slot
    del z


def test_values_sit_half_a_page_from_numpys_arrays(mxw):
    # Copies between a result and NumPy's own large arrays (16 bytes past a page) run at
    # full speed only when the two are not a few bytes apart modulo 4 KiB (see _shm.py).
    a = mxw.nd.array(_values("float32", 1 << 20))
    y = a.asnumpy()
    assert y.ctypes.data % 4096 == _shm.DATA_OFFSET


def test_a_temporary_hands_its_uploaded_slot_over(mxw):
    x = _values("float32", 1 << 20)
    pool_before = _pool()
    handovers = pool_before.handovers if pool_before is not None else 0
    y = mxw.nd.array(x).asnumpy()  # one copy: into the slot the worker adopts, then ours
    assert _pool().handovers == handovers + 1
    np.testing.assert_array_equal(y, x)
    y[0] = -1.0  # writable, and the worker no longer uses it
    # The slot stays lent to `y` (not reclaimed into the pool while y lives).
    assert _pool().stats()["lent_bytes"] >= _slot_bytes(x.nbytes)
    z = mxw.nd.array(x * 2).asnumpy()
    np.testing.assert_array_equal(y[1:], x[1:])  # untouched by the next upload
    np.testing.assert_array_equal(z, x * 2)


def test_a_named_array_or_one_with_views_is_copied_not_handed_over(mxw):
    x = _values("float32", 1 << 20)
    handovers = _pool().handovers if _pool() is not None else 0
    a = mxw.nd.array(x)
    y = a.asnumpy()  # `a` lives on: copied
    a += 1
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(a.asnumpy(), x + 1)
    kept = []

    def temporary_with_a_view():
        t = mxw.nd.array(x)
        kept.append(t.reshape((1024, 1024)))  # shares the storage on the worker
        return t

    z = temporary_with_a_view().asnumpy()  # a temporary, but its storage has a view
    np.testing.assert_array_equal(z, x)
    kept[0] += 1  # the worker still owns the storage: z must not change
    np.testing.assert_array_equal(z, x)
    np.testing.assert_array_equal(kept[0].asnumpy().ravel(), x + 1)
    assert _pool().handovers == handovers


def test_an_uploaded_array_adopts_its_slot_until_freed(mxw):
    x = _values("float32", 3 << 20)  # 12 MiB: a slot of 12 MiB
    before = _pool().stats()["adopted_bytes"]
    a = mxw.nd.array(x)
    assert _pool().stats()["adopted_bytes"] >= 12 << 20
    np.testing.assert_array_equal((a * 2).asnumpy(), x * 2)
    a += 1  # the worker writes the adopted slot in place; the client never looks
    np.testing.assert_array_equal(a.asnumpy(), x + 1)
    del a
    connection.get().flush_frees()
    deadline = time.time() + 10
    while _pool().stats()["adopted_bytes"] > before and time.time() < deadline:
        time.sleep(0.01)  # the worker releases it on an engine thread
    assert _pool().stats()["adopted_bytes"] <= before


def test_worker_refuses_bad_ranges_names_and_other_sessions_regions(mxw, obj):
    conn = connection.get()
    w = conn.require_worker()
    region = w.RegisterShm(pb.worker.RegisterShmRequest(
        session=conn.session, name=obj.name, byte_size=1 << 20)).region
    meta = pb.tensor.TensorMeta(dtype=pb.tensor.FLOAT32, shape=[1024])
    for offset in (-4, (1 << 20) - 100, 2**62):
        with pytest.raises(grpc.RpcError) as err:
            w.UploadShm(pb.worker.UploadShmRequest(session=conn.session, region=region,
                                                   offset=offset, meta=meta))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for name in ("/../etc/passwd", "/a/b", "/..", "dev/shm/x"):
        with pytest.raises(grpc.RpcError) as err:
            w.RegisterShm(pb.worker.RegisterShmRequest(session=conn.session, name=name,
                                                       byte_size=10))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
    other = w.OpenSession(pb.worker.OpenSessionRequest(client="shm test")).session
    try:
        with pytest.raises(grpc.RpcError) as err:
            w.UploadShm(pb.worker.UploadShmRequest(session=other, region=region, meta=meta))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        w.CloseSession(pb.worker.CloseSessionRequest(session=other))
    w.UnregisterShm(pb.worker.UnregisterShmRequest(session=conn.session, region=region))
    with pytest.raises(grpc.RpcError) as err:
        w.UploadShm(pb.worker.UploadShmRequest(session=conn.session, region=region, meta=meta))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_truncated_object_fails_the_copy_and_the_worker_lives(mxw, obj):
    conn = connection.get()
    w = conn.require_worker()
    region = w.RegisterShm(pb.worker.RegisterShmRequest(
        session=conn.session, name=obj.name, byte_size=1 << 20)).region
    os.ftruncate(obj.fd, 4096)
    meta = pb.tensor.TensorMeta(dtype=pb.tensor.FLOAT32, shape=[65536])
    with pytest.raises(grpc.RpcError) as err:
        w.UploadShm(pb.worker.UploadShmRequest(session=conn.session, region=region, meta=meta))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    np.testing.assert_array_equal(mxw.nd.array([1, 2, 3]).asnumpy(), [1, 2, 3])


def test_regions_are_unmapped_when_their_session_closes(mxw, local_cluster, obj):
    w = connection.get().require_worker()
    session = w.OpenSession(pb.worker.OpenSessionRequest(client="shm test")).session
    w.RegisterShm(pb.worker.RegisterShmRequest(session=session, name=obj.name,
                                               byte_size=1 << 20))
    assert _worker_maps(local_cluster, obj.name) == 1
    w.CloseSession(pb.worker.CloseSessionRequest(session=session))
    assert _worker_maps(local_cluster, obj.name) == 0


def test_falls_back_to_streams_when_the_worker_cannot_open_the_object(mxw, monkeypatch,
                                                                     tmp_path):
    # Objects made elsewhere than the worker's /dev/shm look like another host's.
    monkeypatch.setattr(_shm, "_SHM_DIR", str(tmp_path))
    monkeypatch.setattr(_shm, "_pools", _shm.weakref.WeakKeyDictionary())
    x = _values("int32", 1 << 20)
    np.testing.assert_array_equal(mxw.nd.array(x, dtype="int32").asnumpy(), x)
    assert _pool() is not None and not _pool().usable
    assert _pool().uploads == 0 and _pool().downloads == 0
    assert os.listdir(str(tmp_path)) == []  # the probe object is removed


def test_mxgrid_shm_0_uses_the_streams(mxw, monkeypatch):
    monkeypatch.setenv("MXGRID_SHM", "0")
    before = _counts()
    x = _values("float64", 1 << 19)
    np.testing.assert_array_equal(mxw.nd.array(x, dtype="float64").asnumpy(), x)
    assert _counts() == before


@pytest.mark.parametrize("dtype", DTYPES)
def test_raw_chunk_streams_round_trip_every_dtype(mxw, monkeypatch, dtype):
    # MXGRID_SHM=0: the streams, with chunks encoded by hand (_wire.py); a size that is no
    # multiple of the chunk size, and several chunks each way.
    monkeypatch.setenv("MXGRID_SHM", "0")
    monkeypatch.setattr(_wire, "UPLOAD_CHUNK_BYTES", 1 << 20)
    monkeypatch.setattr(_wire, "DOWNLOAD_CHUNK_BYTES", 1 << 20)
    x = _values(dtype, (3 << 20) // np.dtype(dtype).itemsize + 5).reshape(-1, 1)
    a = mxw.nd.array(x, dtype=dtype)
    y = a.asnumpy()
    assert y.dtype == np.dtype(dtype) and y.shape == x.shape
    np.testing.assert_array_equal(y, x)
    a[:] = x[::-1]
    np.testing.assert_array_equal(a.asnumpy(), x[::-1])
