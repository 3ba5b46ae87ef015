"""Generated gRPC stubs for proto/mxgrid/v1, built on first import.

The stubs are generated with grpcio-tools' bundled protoc into ``_gen/`` beside this file
(gitignored) whenever a ``.proto`` is newer than its generated module, then imported. The
generated code imports its dependencies as ``proto.mxgrid.v1.<name>_pb2`` (the protos import
``"proto/mxgrid/v1/tensor.proto"``), so ``_gen/`` goes on ``sys.path`` and holds regular
packages (with ``__init__.py``) that win over a ``proto/`` source folder elsewhere on the path.

Usage::

    from mxgrid._proto import pb, rpc
    stub = rpc.worker.WorkerStub(channel)
    stub.OpenSession(pb.worker.OpenSessionRequest())

Thread-safety: generation happens once per process under a lock, and into a temporary folder
that is renamed into place, so concurrent processes never import half-written files.
"""
import importlib
import os
import shutil
import sys
import tempfile
import threading
import types

_HERE = os.path.dirname(os.path.abspath(__file__))
_GEN = os.path.join(_HERE, "_gen")
REPO_ROOT = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
PROTO_DIR = os.path.join(REPO_ROOT, "proto", "mxgrid", "v1")
NAMES = ("tensor", "graph", "compiler", "kvstore", "worker")
_SERVICES = ("compiler", "kvstore", "worker")

_lock = threading.Lock()
pb = types.SimpleNamespace()   # pb.worker -> worker_pb2, ...
rpc = types.SimpleNamespace()  # rpc.worker -> worker_pb2_grpc, ...


def _stale():
    """True when a generated module is missing or older than its .proto."""
    if not os.path.isdir(PROTO_DIR):
        return not os.path.isdir(_GEN)  # installed without sources: use what is there
    for name in NAMES:
        src = os.path.join(PROTO_DIR, name + ".proto")
        outs = [os.path.join(_GEN, "proto", "mxgrid", "v1", name + "_pb2.py")]
        if name in _SERVICES:
            outs.append(os.path.join(_GEN, "proto", "mxgrid", "v1", name + "_pb2_grpc.py"))
        for out in outs:
            if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
                return True
    return False


def _generate():
    from grpc_tools import protoc  # only needed when generating
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    tmp = tempfile.mkdtemp(prefix="_gen.", dir=_HERE)
    os.chmod(tmp, 0o755)  # mkdtemp makes it private
    try:
        args = ["grpc_tools.protoc", "-I", REPO_ROOT, "-I", well_known,
                "--python_out=" + tmp, "--grpc_python_out=" + tmp]
        args += [os.path.join("proto", "mxgrid", "v1", n + ".proto") for n in NAMES]
        cwd = os.getcwd()
        os.chdir(REPO_ROOT)  # protoc wants proto paths relative to an -I root
        try:
            rc = protoc.main(args)
        finally:
            os.chdir(cwd)
        if rc != 0:
            raise RuntimeError("protoc failed (exit %d) generating stubs from %s" % (rc, PROTO_DIR))
        for sub in ("proto", os.path.join("proto", "mxgrid"), os.path.join("proto", "mxgrid", "v1")):
            open(os.path.join(tmp, sub, "__init__.py"), "a").close()
        old = None
        if os.path.exists(_GEN):
            old = tempfile.mkdtemp(prefix="_old.", dir=_HERE)
            os.rename(_GEN, os.path.join(old, "_gen"))
        try:
            os.rename(tmp, _GEN)
        except OSError:
            if not os.path.isdir(_GEN):  # another process won the race, else re-raise
                raise
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def load():
    """Generates the stubs if needed and fills ``pb`` and ``rpc``. Idempotent."""
    with _lock:
        if getattr(pb, "worker", None) is not None:
            return
        if _stale():
            _generate()
        if _GEN not in sys.path:
            sys.path.insert(0, _GEN)
        for name in NAMES:
            setattr(pb, name, importlib.import_module("proto.mxgrid.v1.%s_pb2" % name))
        for name in _SERVICES:
            setattr(rpc, name, importlib.import_module("proto.mxgrid.v1.%s_pb2_grpc" % name))


load()
