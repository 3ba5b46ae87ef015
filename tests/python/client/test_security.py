"""A cluster with TLS, mutual TLS and bearer tokens on every server (worker -> compiler and
worker -> kvstore shard channels included): the client works with the right material and
gets the right error without it; sessions cannot touch each other's handles."""
import os
import subprocess

import grpc
import numpy as np
import pytest

import mxgrid
from mxgrid import cluster as mxcluster
from mxgrid import connection
from mxgrid._proto import pb, rpc


# MXNet's JSON of negative(x).
_NEGATIVE_JSON = ('{"nodes": [{"op": "null", "name": "x", "inputs": []}, {"op": "negative", '
                  '"name": "neg", "inputs": [[0, 0, 0]]}], "arg_nodes": [0], '
                  '"node_row_ptr": [0, 1, 2], "heads": [[1, 0, 0]], '
                  '"attrs": {"mxnet_version": ["int", 10901]}}')


def _certs(tmp_path_factory):
    binary = os.path.join(os.environ.get("MXGRID_BAZEL_BIN", "bazel-bin"), "services", "common",
                          "make_test_certs")
    if not os.path.exists(binary):
        pytest.skip("make_test_certs not built (bazel build //services/common:make_test_certs)")
    d = str(tmp_path_factory.mktemp("certs"))
    subprocess.run([binary, d], check=True)
    with open(os.path.join(d, "tokens"), "w") as f:
        f.write("cluster-token\n")
    return d


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory):
    for service in ("compiler", "worker", "kvstore"):
        try:
            mxcluster.find_binary(service)
        except mxgrid.MXNetError:
            pytest.skip("mxgrid-%s not built" % service)
    d = _certs(tmp_path_factory)
    flags = ["--tls_cert=%s/server.pem" % d, "--tls_key=%s/server.key" % d,
             "--tls_ca=%s/ca.pem" % d, "--auth_token_file=%s/tokens" % d]
    c = mxcluster.LocalCluster(num_workers=1, num_kvstore=1, worker_kvstore=True,
                               log_dir=str(tmp_path_factory.mktemp("secure")),
                               extra_flags={s: flags for s in ("compiler", "worker", "kvstore")})
    c.start()
    yield c, d
    c.stop()


def _security(d, token=True, cert=True):
    return mxgrid.Security(ca=d + "/ca.pem", cert=d + "/client.pem" if cert else None,
                           key=d + "/client.key" if cert else None,
                           token_file=d + "/tokens" if token else None)


@pytest.fixture
def secure_mx(secure_cluster):
    """mxgrid connected to the secure cluster while the test runs (the session's default
    connection comes back afterwards)."""
    c, d = secure_cluster
    conn = connection.Connection(c.workers[0], c.compiler, c.kvstore, security=_security(d))
    with connection._lock:
        old, connection._current = connection._current, conn
    try:
        yield mxgrid
    finally:
        with connection._lock:
            connection._current = old
        conn.close()


def test_tutorial_steps_over_mutual_tls_with_a_token(secure_mx):
    mx = secure_mx
    a = mx.nd.ones((2, 3)) * 2
    np.testing.assert_array_equal((a + a).asnumpy(), np.full((2, 3), 4.0))
    # Binding goes through the worker's own channel to the compiler.
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=data, num_hidden=4, name="fc")
    ex = net.simple_bind(mx.cpu(), data=(2, 3))
    ex.arg_dict["fc_weight"][:] = 1
    ex.arg_dict["fc_bias"][:] = 0
    out = ex.forward(data=mx.nd.ones((2, 3)))[0].asnumpy()
    np.testing.assert_array_equal(out, np.full((2, 4), 3.0))
    # A distributed store goes through the worker's own channel to the shard.
    kv = mx.kv.create("dist_sync")
    kv.init("w", mx.nd.ones((2, 2)))
    kv.push("w", mx.nd.ones((2, 2)) * 5)
    got = mx.nd.zeros((2, 2))
    kv.pull("w", out=got)
    np.testing.assert_array_equal(got.asnumpy(), np.full((2, 2), 5.0))


@pytest.mark.parametrize("what", ["no token", "wrong token", "no client certificate",
                                  "plaintext"])
def test_missing_material_is_refused_with_the_right_code(secure_cluster, tmp_path, what):
    c, d = secure_cluster
    options = [("grpc.max_receive_message_length", 1 << 20)]
    if what == "plaintext":
        channel = grpc.insecure_channel(c.workers[0], options=options)
    elif what == "wrong token":
        bad = tmp_path / "bad"
        bad.write_text("not-the-token\n")
        s = mxgrid.Security(ca=d + "/ca.pem", cert=d + "/client.pem", key=d + "/client.key",
                            token_file=str(bad))
        channel = s.channel(c.workers[0], options)
    else:
        channel = _security(d, token=what != "no token",
                            cert=what != "no client certificate").channel(c.workers[0], options)
    with channel:
        with pytest.raises(grpc.RpcError) as err:
            rpc.worker.WorkerStub(channel).OpenSession(pb.worker.OpenSessionRequest(),
                                                       timeout=10)
    want = grpc.StatusCode.UNAUTHENTICATED if "token" in what else grpc.StatusCode.UNAVAILABLE
    assert err.value.code() == want, err.value.details()


def test_health_needs_no_token(secure_cluster):
    c, d = secure_cluster
    mxcluster.wait_serving(c.workers[0], timeout=10, security=_security(d, token=False))


def test_sessions_cannot_touch_each_others_handles(secure_cluster):
    c, d = secure_cluster
    with _security(d).channel(c.workers[0], []) as channel:
        w = rpc.worker.WorkerStub(channel)
        mine = w.OpenSession(pb.worker.OpenSessionRequest(client="owner")).session
        other = w.OpenSession(pb.worker.OpenSessionRequest(client="intruder")).session
        try:
            info = w.CreateArray(pb.worker.CreateArrayRequest(
                session=mine, meta=pb.tensor.TensorMeta(dtype=pb.tensor.FLOAT32, shape=[2]),
                fill=1.0))
            for call, request in [
                    (w.Download, pb.worker.DownloadRequest(session=other, handle=info.handle)),
                    (w.Free, pb.worker.FreeRequest(session=other, handles=[info.handle])),
                    (w.Invoke, pb.worker.InvokeRequest(session=other, op="negative",
                                                       inputs=[info.handle])),
                    (w.Bind, pb.worker.BindRequest(
                        session=other, symbol=pb.graph.Symbol(json=_NEGATIVE_JSON),
                        args=[info.handle]))]:
                with pytest.raises(grpc.RpcError) as err:
                    call(request, timeout=10)
                assert err.value.code() == grpc.StatusCode.NOT_FOUND, call
            # Still there for its owner.
            t = w.Download(pb.worker.DownloadRequest(session=mine, handle=info.handle))
            assert np.frombuffer(t.data, "<f4").tolist() == [1.0, 1.0]
        finally:
            w.CloseSession(pb.worker.CloseSessionRequest(session=other))
            w.CloseSession(pb.worker.CloseSessionRequest(session=mine))
