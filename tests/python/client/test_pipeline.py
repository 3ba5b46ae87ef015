"""Pipelined imperative operator calls (the default; mx.connect(..., pipeline=False) /
MXGRID_PIPELINE=0 for synchronous calls): the same results as the synchronous mode, deferred
errors, frees riding with the next call and ordering against every other RPC."""
import contextlib
import gc
import threading

import numpy as np
import pytest

from mxgrid import connection
from mxgrid._proto import pb


@pytest.fixture(scope="module")
def conns(mxw, local_cluster):
    """(synchronous connection, pipelined connection) on the same cluster."""
    args = (local_cluster.workers[0], local_cluster.compiler, local_cluster.kvstore)
    sync = connection.Connection(*args, pipeline=False)
    pipe = connection.Connection(*args, pipeline=True)
    assert pipe.pipeline is not None and sync.pipeline is None
    yield sync, pipe
    pipe.close()
    sync.close()


@contextlib.contextmanager
def using(conn):
    old = connection._current
    connection._current = conn
    try:
        yield conn
    finally:
        connection._current = old


@pytest.fixture
def pmx(mxw, conns):
    """mxgrid with the pipelined connection current."""
    with using(conns[1]):
        yield mxw


def array_count(conn):
    resp = conn.call(conn.worker.Describe, pb.worker.DescribeArraysRequest(
        session=conn.session))
    return len(resp.arrays)


def op_mix(mx):
    rng = np.random.RandomState(0)
    a = mx.nd.array(rng.rand(4, 3))
    b = mx.nd.array(rng.rand(4, 3))
    x = mx.nd.array(rng.rand(3, 5))
    c = a * b + 1
    c += a
    c *= 2
    c -= 0.5
    d = mx.nd.dot(c, x)
    e = mx.nd.relu(d - 3)
    mx.nd.elemwise_add(a, b, out=c)             # out= into an existing array
    f = e.sum(axis=1)
    g = mx.nd.split(d, num_outputs=5, axis=1)   # output count from params: synchronous
    h = (e.T + 1).reshape((-1,))                # a View of a pending result
    s = c[1:3] * 3                              # a slice of an array written in place
    t = mx.nd.Activation(d, act_type="sigmoid")
    u = -t / (f.reshape((4, 1)) + 1)
    w = mx.nd.concat(c, a, dim=1)
    v = mx.nd.zeros((4, 3))
    v[:] = 5
    v += c
    cast = v.astype("float64") + 1
    return {"a": a, "c": c, "d": d, "e": e, "f": f, "g0": g[0], "g4": g[4], "h": h, "s": s,
            "t": t, "u": u, "w": w, "v": v, "cast": cast}


def test_matches_synchronous_mode(mxw, conns):
    results = {}
    for conn in conns:
        with using(conn):
            out = op_mix(mxw)
            results[conn.pipeline is not None] = {
                k: (v.asnumpy(), v.shape, np.dtype(v.dtype), v.context) for k, v in out.items()}
    sync, pipe = results[False], results[True]
    assert sync.keys() == pipe.keys()
    for k in sync:
        np.testing.assert_allclose(pipe[k][0], sync[k][0], rtol=1e-6, err_msg=k)
        assert pipe[k][1:] == sync[k][1:], k


def test_pending_attributes(pmx):
    a = pmx.nd.ones((2, 3))
    b = a + 1
    assert "_shape" not in b.__dict__  # pending: the response has not been asked for
    assert b.shape == (2, 3) and b.dtype == np.float32 and b.context == pmx.cpu()
    assert b.size == 6 and b.ndim == 2 and len(b) == 2
    assert "_pending" not in b.__dict__


def test_loop_of_inplace_adds(pmx):
    a = pmx.nd.zeros((1,))
    for _ in range(2000):
        a += 1
    assert a.asnumpy()[0] == 2000.0
    b = pmx.nd.ones((3,))
    for i in range(500):
        b = b * 1 + i
    np.testing.assert_allclose(b.asnumpy(), np.full(3, 1 + sum(range(500))))


def test_error_surfaces_at_next_sync(pmx, conns):
    x, y = pmx.nd.ones((2, 3)), pmx.nd.ones((3, 2))
    z = x + y  # a shape mismatch: not raised here
    with pytest.raises(pmx.MXNetError, match="could not be broadcast") as info:
        z.asnumpy()
    assert info.value.code.name == "INVALID_ARGUMENT"
    with pytest.raises(pmx.MXNetError, match="could not be broadcast"):
        _ = z.shape  # a failed array stays failed
    pmx.nd.waitall()  # already reported
    np.testing.assert_allclose((x * 2 + 1).asnumpy(), np.full((2, 3), 3.0))

    z = x + y
    _ = x + 5  # queued after the failing call
    with pytest.raises(pmx.MXNetError, match="could not be broadcast"):
        pmx.nd.waitall()
    pmx.nd.waitall()  # raised once
    w = x + 2
    np.testing.assert_allclose(w.asnumpy(), np.full((2, 3), 3.0))
    del z


def test_calls_after_a_failure_fail_until_reported(pmx):
    a = pmx.nd.ones((2,))
    bad = pmx.nd.reshape(a, shape=(5,))  # invalid: raised later
    later = [a + i for i in range(50)]
    with pytest.raises(pmx.MXNetError):
        pmx.nd.waitall()
    for arr in later:
        with pytest.raises(pmx.MXNetError):
            arr.asnumpy()
    del bad, later
    gc.collect()
    np.testing.assert_allclose((a + 1).asnumpy(), [2.0, 2.0])


def test_frees_of_dropped_arrays(pmx, conns):
    pipe = conns[1]
    a, b = pmx.nd.ones((8,)), pmx.nd.ones((8,))
    pmx.nd.waitall()
    before = array_count(pipe)
    for _ in range(1000):
        c = a + b
        d = c * 2 - 1
    del c, d
    gc.collect()
    after = array_count(pipe)
    assert after <= before + 4, (before, after)
    # A failure with dropped arrays in flight leaves nothing behind either.
    x, y = pmx.nd.ones((2, 3)), pmx.nd.ones((3, 2))
    tmp = [x + 1 for _ in range(10)]
    z = x + y
    del tmp
    more = [x * 2 for _ in range(10)]
    with pytest.raises(pmx.MXNetError):
        pmx.nd.waitall()
    del more, z, x, y
    gc.collect()
    pmx.nd.waitall()
    assert array_count(pipe) <= before + 4


def test_order_with_executor_upload_and_kvstore(pmx):
    a = pmx.nd.zeros((2, 2))
    a += 1
    sym = pmx.sym.Variable("x") * 2
    ex = sym.bind(pmx.cpu(), args={"x": a})  # Bind sees a == 1
    a += 1                                  # pipelined, before Forward
    ex.forward()
    np.testing.assert_allclose(ex.outputs[0].asnumpy(), np.full((2, 2), 4.0))
    a[:] = np.arange(4).reshape(2, 2)        # Upload after pipelined calls
    a += 10
    np.testing.assert_allclose(a.asnumpy(), np.arange(4).reshape(2, 2) + 10)
    a[:] = 7                                 # Fill
    a *= 2
    b = a.copy()                             # Copy of a pipelined result
    b += 1
    np.testing.assert_allclose(b.asnumpy(), np.full((2, 2), 15.0))

    kv = pmx.kv.create("local")
    kv.init(3, pmx.nd.zeros((2, 2)))
    c = a + 1     # 15
    kv.push(3, c)
    c += 100      # after the push: not in the store
    out = pmx.nd.zeros((2, 2))
    kv.pull(3, out=out)
    out += 1
    np.testing.assert_allclose(out.asnumpy(), np.full((2, 2), 16.0))
    np.testing.assert_allclose(c.asnumpy(), np.full((2, 2), 115.0))


def test_threads_share_the_pipeline(pmx):
    arrays = [pmx.nd.zeros((4,)) for _ in range(4)]
    errors = []

    def work(arr):
        try:
            for _ in range(300):
                arr += 1
            tmp = arr * 1
            assert tmp.shape == (4,)
        except Exception as e:  # pylint: disable=broad-except
            errors.append(e)

    threads = [threading.Thread(target=work, args=(a,)) for a in arrays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for a in arrays:
        np.testing.assert_allclose(a.asnumpy(), np.full(4, 300.0))


def test_default_is_pipelined(mxw, local_cluster, monkeypatch):
    monkeypatch.delenv("MXGRID_PIPELINE", raising=False)
    conn = connection.Connection(local_cluster.workers[0], local_cluster.compiler)
    try:
        assert conn.pipeline is not None
    finally:
        conn.close()
    assert connection.get().pipeline is not None  # the tests' own connection
    out = mxw.nd.ones((2,)) + 1
    assert "_pending" in out.__dict__  # returned before the worker answered


def test_error_at_next_asnumpy_with_the_default_connection(mxw):
    x, y = mxw.nd.ones((2, 3)), mxw.nd.ones((3, 2))
    z = mxw.nd.elemwise_add(x, y)  # a shape mismatch: not raised here
    with pytest.raises(mxw.MXNetError, match="elemwise_add") as info:
        z.asnumpy()
    assert info.value.code.name == "INVALID_ARGUMENT"
    np.testing.assert_allclose((x + 1).asnumpy(), np.full((2, 3), 2.0))


def test_synchronous_mode_raises_at_the_call(mxw, conns):
    with using(conns[0]):
        x, y = mxw.nd.ones((2, 3)), mxw.nd.ones((3, 2))
        with pytest.raises(mxw.MXNetError, match="elemwise_add"):
            mxw.nd.elemwise_add(x, y)
        out = x + 1
        assert "_pending" not in out.__dict__
        np.testing.assert_allclose(out.asnumpy(), np.full((2, 3), 2.0))


def test_each_call_frees_the_arrays_dropped_before_it(pmx, conns, monkeypatch):
    sent = []
    pipe = conns[1].pipeline
    send = pipe._send_locked

    def recording_send():
        batch = pipe._open
        if batch is not None:
            sent.extend((list(c.new_handles), list(c.free)) for c in batch.request.calls)
        return send()
    monkeypatch.setattr(pipe, "_send_locked", recording_send)
    a, b = pmx.nd.ones((4,)), pmx.nd.ones((4,))
    pmx.nd.waitall()
    for _ in range(200):
        c = a + b
    c.wait_to_read()
    assert len(sent) == 200
    # Call k frees the output of call k - 2: the one `c = ...` dropped after call k - 1.
    for k in range(2, 200):
        assert sent[k][1] == sent[k - 2][0], k


def test_synchronous_calls_carry_the_frees(mxw, conns):
    sync = conns[0]
    with using(sync):
        a, b = mxw.nd.ones((4,)), mxw.nd.ones((4,))
        sync.flush_frees()
        before = array_count(sync)
        for _ in range(100):
            c = a + b
        assert array_count(sync) <= before + 2  # c and the one dropped after the last call
        np.testing.assert_allclose(c.asnumpy(), np.full(4, 2.0))


def test_env_enables_pipeline(mxw, local_cluster, monkeypatch):
    monkeypatch.setenv("MXGRID_PIPELINE", "1")
    conn = connection.Connection(local_cluster.workers[0], local_cluster.compiler)
    try:
        assert conn.pipeline is not None
    finally:
        conn.close()
    monkeypatch.setenv("MXGRID_PIPELINE", "0")
    conn = connection.Connection(local_cluster.workers[0], local_cluster.compiler)
    try:
        assert conn.pipeline is None
    finally:
        conn.close()
