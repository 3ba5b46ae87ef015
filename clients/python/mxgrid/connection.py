"""The client's connection: channels to the worker, compiler and kvstore shards, and the
worker session every NDArray handle belongs to.

``connect(worker=..., compiler=..., kvstore=[...])`` sets the process-wide connection; without
a call, the first use reads ``MXGRID_WORKER`` / ``MXGRID_COMPILER`` / ``MXGRID_KVSTORE``
(comma-separated shards) and, when none is set, starts an embedded ``LocalCluster`` that is
stopped at exit.

The session is kept alive by a daemon thread calling KeepAlive every lease/3 seconds and closed
at exit. Handles dropped by NDArray.__del__ are queued and freed in batches (``free_later``),
so garbage collection never makes an RPC from a finalizer.

Pipelined mode (``connect(..., pipeline=True)`` or ``MXGRID_PIPELINE=1``; off by default):
imperative operator calls go over one InvokeStream without waiting for their round trips
(see ``_pipeline``); every other worker RPC made through ``call`` first waits for them. As a
consequence an operator's error (e.g. a shape mismatch) is raised at the next synchronizing
call (asnumpy, wait_to_read, waitall, any other RPC) or when its result is used, not at the
call itself as MXNet does. Frees of dropped arrays then travel with the operator batches.

Thread-safety: a Connection may be used from several threads (gRPC stubs are thread-safe; the
free queue has its own lock).
"""
import atexit
import os
import threading

import grpc

from ._proto import pb, rpc
from . import _pipeline
from .base import MXNetError, from_rpc_error

__all__ = ["connect", "get", "Connection", "disconnect"]

MAX_MESSAGE_BYTES = 64 << 20
# Arrays above this many bytes travel as UploadStream / DownloadStream chunks.
STREAM_THRESHOLD = 2 << 20
CHUNK_BYTES = 2 << 20  # uploads: under gRPC's default 4 MiB limit of any server
DOWNLOAD_CHUNK_BYTES = 16 << 20  # downloads: the worker caps them at its own limit
_FREE_BATCH = 64

_CHANNEL_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]

_COMPILER_PREFIX = b"/mxgrid.v1.Compiler/"

_lock = threading.RLock()
_current = None
_cluster = None


def pipeline_from_env():
    """Whether MXGRID_PIPELINE asks for pipelined operator calls."""
    return os.environ.get("MXGRID_PIPELINE", "").strip().lower() in ("1", "true", "yes", "on")


def _channel(address):
    return grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)


class Connection:
    """Open channels and one worker session. Use ``get()`` to obtain the current one."""

    def __init__(self, worker, compiler, kvstore=(), lease_seconds=0.0, client=None,
                 pipeline=None):
        self.worker_address = worker
        self.compiler_address = compiler
        self.kvstore_addresses = list(kvstore)
        self._channels = []
        self.worker = self.compiler = None
        if worker:
            self.worker = rpc.worker.WorkerStub(self._open(worker))
        if compiler:
            self.compiler = rpc.compiler.CompilerStub(self._open(compiler))
        self.kvstore = [rpc.kvstore.KVStoreStub(self._open(a)) for a in self.kvstore_addresses]
        self.session = None
        self.lease_seconds = 0.0
        self._free_lock = threading.Lock()
        self._pending_free = []
        self.pipeline = None  # _pipeline.Pipeline in pipelined mode
        self._pending_executors = []
        self._stop = threading.Event()
        self._closed = False
        self._devices = None
        if self.worker is not None:
            try:
                resp = self.worker.OpenSession(pb.worker.OpenSessionRequest(
                    lease_seconds=lease_seconds,
                    client=client or "mxgrid-python pid %d" % os.getpid()), timeout=30)
            except grpc.RpcError as err:
                raise from_rpc_error(err) from None
            self.session = resp.session
            self.lease_seconds = resp.lease_seconds
            self._keepalive = threading.Thread(target=self._keep_alive, daemon=True,
                                               name="mxgrid-keepalive")
            self._keepalive.start()
            if pipeline is None:
                pipeline = pipeline_from_env()
            if pipeline:
                self.pipeline = _pipeline.Pipeline(self)

    def _open(self, address):
        ch = _channel(address)
        self._channels.append(ch)
        return ch

    def _keep_alive(self):
        period = max(0.5, (self.lease_seconds or 30.0) / 3.0)
        while not self._stop.wait(period):
            try:
                self.worker.KeepAlive(pb.worker.KeepAliveRequest(session=self.session),
                                      timeout=period)
            except grpc.RpcError:
                pass  # the next real call reports the problem

    def require_worker(self):
        if self.worker is None:
            raise MXNetError("no worker configured: mx.connect(worker='host:port') or set "
                             "MXGRID_WORKER")
        return self.worker

    def require_compiler(self):
        if self.compiler is None:
            raise MXNetError("no compiler configured: mx.connect(compiler='host:port') or set "
                             "MXGRID_COMPILER")
        return self.compiler

    def call(self, method, request, timeout=None):
        """Calls ``method`` (a bound stub method); RpcError -> MXNetError.

        In pipelined mode a worker call first waits for the queued operator calls (and
        raises their error, if one failed)."""
        pipe = self.pipeline
        if pipe is not None and not getattr(method, "_method", b"").startswith(
                _COMPILER_PREFIX):
            pipe.sync()
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def list_devices(self):
        if self._devices is None:
            resp = self.call(self.require_worker().ListDevices, pb.worker.ListDevicesRequest())
            self._devices = list(resp.devices)
        return self._devices

    # -- handle freeing -------------------------------------------------------------------
    def free_later(self, handle):
        """Queues ``handle`` to be freed; never raises (safe in __del__ at exit)."""
        if self._closed:
            return
        pipe = self.pipeline
        if pipe is not None:
            pipe.frees.append(handle)  # lock-free; sent with the next batch
            return
        with self._free_lock:
            self._pending_free.append(handle)
            flush = len(self._pending_free) >= _FREE_BATCH
        if flush:
            try:
                self.flush_frees()
            except Exception:  # pylint: disable=broad-except
                pass

    def free_executor_later(self, handle):
        """Queues an executor to be dropped at the next flush; never raises."""
        if not self._closed:
            with self._free_lock:
                self._pending_executors.append(handle)

    def take_pending_frees(self):
        with self._free_lock:
            handles, self._pending_free = self._pending_free, []
        return handles

    def flush_frees(self):
        if self.pipeline is not None and not self._closed:
            self.pipeline.sync(raise_error=False)  # frees ride in an (empty) batch
        with self._free_lock:
            executors, self._pending_executors = self._pending_executors, []
        for handle in executors:
            try:
                self.worker.FreeExecutor(pb.worker.FreeExecutorRequest(
                    session=self.session, executor=handle), timeout=30)
            except grpc.RpcError:
                pass
        handles = self.take_pending_frees()
        if handles and not self._closed:
            try:
                self.worker.Free(pb.worker.FreeRequest(session=self.session, handles=handles),
                                 timeout=30)
            except grpc.RpcError:
                pass  # a handle already gone is no reason to fail the caller

    def close(self):
        """Closes the session (freeing everything it holds) and the channels."""
        if self._closed:
            return
        self._stop.set()
        if self.pipeline is not None:
            self.pipeline.close()
        if self.session is not None:
            try:
                self.worker.CloseSession(pb.worker.CloseSessionRequest(session=self.session),
                                         timeout=5)
            except grpc.RpcError:
                pass
        self._closed = True
        for ch in self._channels:
            ch.close()


def _split(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def connect(worker=None, compiler=None, kvstore=None, lease_seconds=0.0, pipeline=None):
    """Connects the client to a worker, a compiler and (for dist kvstores) kvstore shards.

    ``pipeline=True`` pipelines imperative operator calls (None: ``MXGRID_PIPELINE``); their
    errors are then raised at the next synchronizing call, not at the call (see the module
    doc). Replaces (and closes) any previous connection; arrays of the old session become
    invalid. Returns the Connection.
    """
    global _current
    with _lock:
        old, _current = _current, None
        if old is not None:
            old.close()
        _current = Connection(worker, compiler, _split(kvstore), lease_seconds=lease_seconds,
                              pipeline=pipeline)
        return _current


def disconnect():
    """Closes the current connection (and the embedded cluster, if one was started)."""
    global _current, _cluster
    with _lock:
        if _current is not None:
            _current.close()
            _current = None
        if _cluster is not None:
            _cluster.stop()
            _cluster = None


def get():
    """The current connection, creating it from the environment (or an embedded cluster)."""
    global _cluster
    conn = _current
    if conn is not None:
        return conn
    with _lock:
        if _current is not None:
            return _current
        worker = os.environ.get("MXGRID_WORKER")
        compiler = os.environ.get("MXGRID_COMPILER")
        kvstore = os.environ.get("MXGRID_KVSTORE")
        if not (worker or compiler or kvstore):
            from .cluster import LocalCluster
            _cluster = LocalCluster(num_workers=1, num_kvstore=1).start()
            worker, compiler, kvstore = _cluster.workers[0], _cluster.compiler, _cluster.kvstore
        return connect(worker, compiler, kvstore)


atexit.register(disconnect)
