"""The services through the generated stubs alone (no mxgrid client code): what a client in
any language sees, plus server reflection."""
import grpc
import numpy as np
import pytest

from mxgrid._proto import _GEN  # noqa: F401  (generates the stubs and puts them on sys.path)
from proto.mxgrid.v1 import compiler_pb2, compiler_pb2_grpc, tensor_pb2, worker_pb2, \
    worker_pb2_grpc


def _tensor(arr):
    return tensor_pb2.Tensor(meta=tensor_pb2.TensorMeta(dtype=tensor_pb2.FLOAT32,
                                                        shape=arr.shape),
                             data=arr.astype("<f4").tobytes())


def test_compiler_and_worker_with_generated_stubs(local_cluster):
    if not local_cluster.workers:
        pytest.skip("mxgrid-worker not built")
    with grpc.insecure_channel(local_cluster.compiler) as cch, \
            grpc.insecure_channel(local_cluster.workers[0]) as wch:
        ops = compiler_pb2_grpc.CompilerStub(cch).ListOperators(
            compiler_pb2.ListOperatorsRequest())
        by_name = {o.name: o for o in ops.operators}
        assert list(by_name["elemwise_add"].inputs) == ["lhs", "rhs"]
        assert "_Plus" in by_name["elemwise_add"].aliases
        w = worker_pb2_grpc.WorkerStub(wch)
        session = w.OpenSession(worker_pb2.OpenSessionRequest(client="raw stub test")).session
        try:
            a = w.Upload(worker_pb2.UploadRequest(
                session=session, value=_tensor(np.array([[1, 2], [3, 4]], np.float32))))
            b = w.CreateArray(worker_pb2.CreateArrayRequest(
                session=session, meta=tensor_pb2.TensorMeta(dtype=tensor_pb2.FLOAT32,
                                                            shape=[2, 2]), fill=10.0))
            assert list(b.meta.shape) == [2, 2]
            res = w.Invoke(worker_pb2.InvokeRequest(session=session, op="elemwise_add",
                                                    inputs=[a.handle, b.handle]))
            assert len(res.outputs) == 1 and list(res.outputs[0].meta.shape) == [2, 2]
            t = w.Download(worker_pb2.DownloadRequest(session=session,
                                                      handle=res.outputs[0].handle))
            got = np.frombuffer(t.data, "<f4").reshape(tuple(t.meta.shape))
            np.testing.assert_array_equal(got, [[11, 12], [13, 14]])
            # Another session cannot see these handles.
            other = w.OpenSession(worker_pb2.OpenSessionRequest()).session
            with pytest.raises(grpc.RpcError) as err:
                w.Download(worker_pb2.DownloadRequest(session=other, handle=a.handle))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            w.CloseSession(worker_pb2.CloseSessionRequest(session=other))
        finally:
            w.CloseSession(worker_pb2.CloseSessionRequest(session=session))
        with pytest.raises(grpc.RpcError) as err:
            w.Download(worker_pb2.DownloadRequest(session=session, handle=a.handle))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def _services(address):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    with grpc.insecure_channel(address) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        reqs = iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        resp = next(iter(stub.ServerReflectionInfo(reqs)))
        return {s.name for s in resp.list_services_response.service}


def test_reflection_lists_services(local_cluster):
    assert {"mxgrid.v1.Compiler", "grpc.health.v1.Health"} <= _services(local_cluster.compiler)
    assert {"mxgrid.v1.KVStore", "grpc.health.v1.Health"} <= _services(local_cluster.kvstore[0])
    if local_cluster.workers:
        assert {"mxgrid.v1.Worker", "grpc.health.v1.Health"} <= _services(
            local_cluster.workers[0])
