"""A stopped worker (SIGSTOP) makes the client raise a clear MXNetError within the configured
time instead of hanging; once it continues (SIGCONT) the same session works again.

Each test stops the worker of its own small cluster (a compiler and a worker), so the shared
cluster of the other tests is never stopped. The connection has call_timeout=2 s and
liveness_timeout=2.5 s; the default connection is swapped for it during the test."""
import contextlib
import os
import signal
import time

import grpc
import numpy as np
import pytest

import mxgrid as mx
from mxgrid import connection
from mxgrid import _liveness
from conftest import _have

CALL_TIMEOUT = 2.0
LIVENESS_TIMEOUT = 2.5
# Detection takes the liveness timeout plus at most one check interval and one check's
# deadline (about 1.5 s here); the rest is slack for a loaded machine.
LATEST = LIVENESS_TIMEOUT + 3.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not (_have("compiler") and _have("worker")):
        pytest.skip("server binaries not built (bazel build //services/...)")
    c = mx.LocalCluster(num_workers=1, num_kvstore=0,
                        log_dir=str(tmp_path_factory.mktemp("liveness")))
    c.start()
    yield c
    c.stop()


@contextlib.contextmanager
def _use(conn):
    """Makes ``conn`` the default connection (mx.nd.* functions use it) for a while."""
    with connection._lock:
        old, connection._current = connection._current, conn
    try:
        yield conn
    finally:
        with connection._lock:
            connection._current = old
        conn.close()


def _connect(cluster, pipeline=False):
    return _use(connection.Connection(cluster.workers[0], cluster.compiler,
                                      pipeline=pipeline, call_timeout=CALL_TIMEOUT,
                                      liveness_timeout=LIVENESS_TIMEOUT))


def _all_threads_stopped(pid):
    task_dir = "/proc/%d/task" % pid
    for tid in os.listdir(task_dir):
        try:
            with open(os.path.join(task_dir, tid, "stat")) as f:
                state = f.read().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            continue  # the thread ended
        if state not in ("T", "t"):
            return False
    return True


@contextlib.contextmanager
def _stopped(cluster):
    """The worker stopped with SIGSTOP (every thread of it: the signal takes effect
    asynchronously), continued with SIGCONT at exit."""
    pid = cluster.pids["worker0"]
    os.kill(pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 5
        while not _all_threads_stopped(pid):
            assert time.monotonic() < deadline, "worker did not stop"
            time.sleep(0.001)  # polling another process's state: nothing to wait on
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _raises_in_time(fn, code, *words):
    start = time.monotonic()
    with pytest.raises(mx.MXNetError) as err:
        fn()
    elapsed = time.monotonic() - start
    assert elapsed < LATEST, "took %.1f s: %s" % (elapsed, err.value)
    assert err.value.code == code, str(err.value)
    for word in words:
        assert word in str(err.value)
    return elapsed


@pytest.mark.parametrize("wait", ["waitall", "wait_to_read", "asnumpy", "asnumpy_stream"])
def test_wait_raises_when_worker_stopped_then_session_works(cluster, wait):
    with _connect(cluster):
        shape = (1024, 1024) if wait == "asnumpy_stream" else (2, 3)  # 4 MiB: DownloadStream
        a = mx.nd.ones(shape)
        b = a + 1
        run = {"waitall": mx.nd.waitall, "wait_to_read": b.wait_to_read,
               "asnumpy": b.asnumpy, "asnumpy_stream": b.asnumpy}[wait]
        with _stopped(cluster):
            elapsed = _raises_in_time(run, grpc.StatusCode.UNAVAILABLE,
                                      "worker at %s did not answer" % cluster.workers[0],
                                      "liveness timeout")
        # A wait has no deadline of its own: only the worker's silence ended it.
        assert elapsed >= LIVENESS_TIMEOUT
        np.testing.assert_array_equal(b.asnumpy(), np.full(shape, 2, np.float32))
        np.testing.assert_array_equal((b * 3).asnumpy(), np.full(shape, 6, np.float32))


def test_upload_stream_raises_when_worker_stopped(cluster):
    with _connect(cluster):
        big = np.ones((4096, 1024), np.float32)  # 16 MiB: UploadStream, beyond flow control
        with _stopped(cluster):
            _raises_in_time(lambda: mx.nd.array(big), grpc.StatusCode.UNAVAILABLE,
                            "did not answer", "an upload")
        assert mx.nd.array(big).sum().asscalar() == big.size


def test_invoke_raises_after_call_timeout_then_session_works(cluster):
    with _connect(cluster):
        a = mx.nd.ones((2, 2))
        with _stopped(cluster):
            elapsed = _raises_in_time(lambda: a + 1, grpc.StatusCode.DEADLINE_EXCEEDED,
                                      "worker at %s did not answer Invoke within 2 s"
                                      % cluster.workers[0], "MXGRID_CALL_TIMEOUT")
        assert elapsed >= CALL_TIMEOUT
        np.testing.assert_array_equal((a + 1).asnumpy(), np.full((2, 2), 2, np.float32))


def test_pipelined_calls_raise_when_worker_stopped_then_work(cluster):
    with _connect(cluster, pipeline=True):
        a = mx.nd.ones((2, 2))
        a.wait_to_read()
        with _stopped(cluster):
            b = a + 1  # sent on the stream; the answer does not come
            _raises_in_time(b.asnumpy, grpc.StatusCode.UNAVAILABLE,
                            "did not answer", "pipelined operator calls")
        with pytest.raises(mx.MXNetError):
            b.shape  # the call's result never came: it stays failed
        np.testing.assert_array_equal((a + 2).asnumpy(), np.full((2, 2), 3, np.float32))


def test_long_wait_on_a_live_worker_is_not_cut(cluster):
    with _connect(cluster):
        n = 512
        eye = mx.nd.array(np.eye(n, dtype=np.float32))
        c = mx.nd.ones((n, n))
        steps = 8
        for _ in range(6):
            # A chain of dependent products; waitall waits for all of it.
            start = time.monotonic()
            for _ in range(steps):
                c = mx.nd.dot(c, eye)
            mx.nd.waitall()
            elapsed = time.monotonic() - start
            if elapsed > LIVENESS_TIMEOUT + 0.5:
                break
            steps = int(steps * (LIVENESS_TIMEOUT + 1.5) / max(elapsed, 0.01)) + 1
        assert elapsed > LIVENESS_TIMEOUT + 0.5, "could not keep the worker busy long enough"
        np.testing.assert_array_equal(c[0:1].asnumpy(), np.ones((1, n), np.float32))


def test_settings_from_arguments_and_environment(monkeypatch):
    monkeypatch.setenv("MXGRID_CALL_TIMEOUT", "7.5")
    monkeypatch.setenv("MXGRID_LIVENESS_TIMEOUT", "12")
    s = _liveness.Settings()
    assert (s.call_timeout, s.liveness_timeout) == (7.5, 12.0)
    assert _liveness.Settings(call_timeout=3).call_timeout == 3.0
    monkeypatch.setenv("MXGRID_CALL_TIMEOUT", "soon")
    with pytest.raises(mx.MXNetError, match="MXGRID_CALL_TIMEOUT=soon"):
        _liveness.Settings()
    with pytest.raises(mx.MXNetError, match="liveness_timeout"):
        _liveness.Settings(call_timeout=1, liveness_timeout=0)
    monkeypatch.delenv("MXGRID_CALL_TIMEOUT")
    monkeypatch.delenv("MXGRID_LIVENESS_TIMEOUT")
    s = _liveness.Settings()
    assert (s.call_timeout, s.liveness_timeout, s.keepalive_time) == (60.0, 30.0, 20.0)


def test_channel_keepalive_stays_within_what_servers_accept():
    opts = dict(_liveness.channel_options())
    # mxgrid's servers accept pings 10 s apart, with or without calls in flight
    # (services/common/server.cc); closer pings would be answered with GOAWAY too_many_pings.
    assert opts["grpc.keepalive_time_ms"] >= 10000
    assert opts["grpc.keepalive_permit_without_calls"] == 1
    assert opts["grpc.keepalive_timeout_ms"] <= opts["grpc.keepalive_time_ms"]
