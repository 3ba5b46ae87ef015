"""The client's connection: channels to the worker, compiler and kvstore shards, and the
worker session every NDArray handle belongs to.

``connect(worker=..., compiler=..., kvstore=[...])`` sets the process-wide connection; without
a call, the first use reads ``MXGRID_WORKER`` / ``MXGRID_COMPILER`` / ``MXGRID_KVSTORE``
(comma-separated shards) and, when none is set, starts an embedded ``LocalCluster`` that is
stopped at exit.

The session is kept alive by a daemon thread calling KeepAlive every lease/3 seconds and closed
at exit.

Liveness (see ``_liveness``): every channel has gRPC keepalive; ``call`` gives each call a
deadline (``call_timeout``: MXGRID_CALL_TIMEOUT, default 60 s); ``wait_call``,
``wait_upload``, ``wait_stream`` and ``watch`` are for calls that wait for the server's
queued work (waitall, asnumpy, a training step, large transfers): no deadline, but once the
server has not answered its watchdog's health checks for ``liveness_timeout`` seconds
(MXGRID_LIVENESS_TIMEOUT, default 30 s) they end with a clear MXNetError, and the server's
channel is replaced by a fresh one (the session goes on if the server comes back).

Asynchronous by default, as MXNet is: imperative operator calls go over one InvokeStream
without waiting for their round trips (see ``_pipeline``); every other worker RPC made
through ``call`` first waits for them. An operator's error (e.g. a shape mismatch) is raised
at the next synchronizing call (asnumpy, wait_to_read, waitall, asscalar, any other worker
RPC) or when its result is used, with the server's message, as MXNet's engine reports
asynchronous errors. ``connect(..., pipeline=False)`` or ``MXGRID_PIPELINE=0`` makes every
call synchronous (errors at the call), for debugging.

Handles dropped by NDArray.__del__ are queued (``free_later``; garbage collection never makes
an RPC from a finalizer) and reach the worker with the next operator call: in the call's
``free`` field, so the worker frees them before that call allocates its outputs (pipelined
and synchronous mode alike); without operator calls, at the next synchronizing call
(pipelined) or in a Free RPC once 64 are queued (synchronous).

The embedded cluster (no MXGRID_* variables) is one worker process that serves the compiler
too; ``ensure_kvstore`` starts a kvstore shard when a dist kvstore first needs one.

Thread-safety: a Connection may be used from several threads (gRPC stubs are thread-safe; the
free queue has its own lock).
"""
import atexit
import itertools
import os
import threading

import grpc

from ._proto import pb, rpc
from . import _liveness
from . import _pipeline
from . import _security
from .base import MXNetError, from_rpc_error

__all__ = ["connect", "get", "Connection", "disconnect", "ensure_kvstore"]

MAX_MESSAGE_BYTES = 64 << 20
# Arrays above this many bytes travel as UploadStream / DownloadStream chunks.
STREAM_THRESHOLD = 2 << 20
CHUNK_BYTES = 2 << 20  # uploads: under gRPC's default 4 MiB limit of any server
_FREE_BATCH = 64
# Dropped executors queued before a flush (each holds worker memory until freed).
_EXECUTOR_FREE_BATCH = 64

_COMPILER_PREFIX = b"/mxgrid.v1.Compiler/"
_KVSTORE_PREFIX = b"/mxgrid.v1.KVStore/"
_DEFAULT = object()  # call(): the connection's call_timeout

_lock = threading.RLock()
_current = None
_cluster = None

# Symbol generations (Connection.symbol_generation) are unique in the process: a symbol's
# handle (symbol.py's Symbol._held) names its connection and generation with one number.
_symbol_generations = itertools.count(1)


def next_symbol_generation():
    return next(_symbol_generations)


def pipeline_from_env():
    """Whether operator calls are pipelined: yes unless MXGRID_PIPELINE is 0/false/no/off."""
    return os.environ.get("MXGRID_PIPELINE", "").strip().lower() not in ("0", "false", "no",
                                                                          "off")


def _channel(address, settings, security):
    return security.channel(address, _liveness.channel_options(settings, MAX_MESSAGE_BYTES))


def _rpc_name(method):
    return getattr(method, "_method", b"").decode("ascii", "replace").rpartition("/")[2] or \
        "the call"


class Connection:
    """Open channels and one worker session. Use ``get()`` to obtain the current one."""

    def __init__(self, worker, compiler, kvstore=(), lease_seconds=0.0, client=None,
                 pipeline=None, call_timeout=None, liveness_timeout=None, security=None):
        self.settings = _liveness.Settings(call_timeout, liveness_timeout)
        self.security = security if security is not None else _security.Security.from_env()
        self._closed = False
        self.worker_address = worker
        self.compiler_address = compiler
        self.kvstore_addresses = list(kvstore)
        self._channels = {}   # address -> grpc.Channel
        self._watchdogs = {}  # address -> Watchdog
        self._dead = {}       # address -> MXNetError of its last liveness failure
        self._channel_lock = threading.Lock()
        self.worker = self.compiler = None
        self.kvstore = [None] * len(self.kvstore_addresses)
        servers = [(worker, "worker"), (compiler, "compiler")] + [
            (a, "kvstore shard") for a in self.kvstore_addresses]
        for address, role in servers:
            self._open_channel(address, role)
        self._bind_stubs()
        self.session = None
        self.lease_seconds = 0.0
        self._free_lock = threading.Lock()
        self._pending_free = []
        self.pipeline = None  # _pipeline.Pipeline in pipelined mode
        self._pending_executors = []
        self._stop = threading.Event()
        self._devices = None
        # Symbol handles (the compiler's refs) are valid for this connection at this
        # generation; a handle the compiler no longer holds moves it on (symbol.py rebuilds).
        self.symbol_generation = next_symbol_generation()
        # Compositions waiting to be sent as one ComposeBurst (symbol.py), under the lock.
        self.symbol_lock = threading.Lock()
        self.symbol_burst = []
        self.symbol_burst_bytes = 0  # the size of their steps
        if self.worker is not None:
            try:
                resp = self.worker.OpenSession(pb.worker.OpenSessionRequest(
                    lease_seconds=lease_seconds,
                    client=client or "mxgrid-python pid %d" % os.getpid()),
                    timeout=self.settings.call_timeout)
            except grpc.RpcError as err:
                self._close_channels()
                raise self._error(err, self.worker.OpenSession, worker,
                                  self.settings.call_timeout) from None
            self.session = resp.session
            self.lease_seconds = resp.lease_seconds
            self._keepalive = threading.Thread(target=self._keep_alive, daemon=True,
                                               name="mxgrid-keepalive")
            self._keepalive.start()
            if pipeline is None:
                pipeline = pipeline_from_env()
            if pipeline:
                self.pipeline = _pipeline.Pipeline(self)

    def _open_channel(self, address, role):
        """A channel and its Watchdog for ``address``, unless it has one already."""
        if address and address not in self._channels:
            ch = self._channels[address] = _channel(address, self.settings, self.security)
            self._watchdogs[address] = _liveness.Watchdog(
                ch, role, address, self.settings,
                on_dead=lambda err, address=address: self._replace_channel(address, err))

    def add_kvstore(self, address):
        """Adds a kvstore shard (the embedded cluster starts one when a dist kvstore first
        needs it). REQUIRES: no dist kvstore of this connection is in use yet."""
        with self._channel_lock:
            self._open_channel(address, "kvstore shard")
            self.kvstore_addresses.append(address)
            self.kvstore.append(None)
            self._bind_stubs()

    def _bind_stubs(self):
        """(Re)creates the stubs over the current channels."""
        ch = self._channels
        if self.worker_address:
            self.worker = rpc.worker.WorkerStub(ch[self.worker_address])
        if self.compiler_address:
            self.compiler = rpc.compiler.CompilerStub(ch[self.compiler_address])
            # ComposeBurst taking its request already serialized (symbol._flush).
            self.compose_burst_bytes = ch[self.compiler_address].unary_unary(
                "/mxgrid.v1.Compiler/ComposeBurst", request_serializer=None,
                response_deserializer=pb.compiler.ComposeBurstResponse.FromString)
        for i, address in enumerate(self.kvstore_addresses):
            self.kvstore[i] = rpc.kvstore.KVStoreStub(ch[address])

    def _replace_channel(self, address, error):
        """The server at ``address`` stopped answering (its Watchdog says): ends every call
        on its channel by closing it and opens a fresh one, so that the next calls reach the
        server if it comes back (its sessions and arrays are kept there)."""
        with self._channel_lock:
            if self._closed:
                return
            old = self._channels[address]
            ch = self._channels[address] = _channel(address, self.settings, self.security)
            self._dead[address] = error
            self._bind_stubs()
            self._watchdogs[address].rebind(ch)
        old.close()

    def _keep_alive(self):
        period = max(0.5, (self.lease_seconds or 30.0) / 3.0)
        while not self._stop.wait(period):
            try:
                self.worker.KeepAlive(pb.worker.KeepAliveRequest(session=self.session),
                                      timeout=min(period, self.settings.call_timeout))
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

    def _address_of(self, method, address=None):
        """(role, address) of the server ``method`` calls; kvstore shards need ``address``."""
        path = getattr(method, "_method", b"")
        if path.startswith(_COMPILER_PREFIX):
            return "compiler", self.compiler_address
        if path.startswith(_KVSTORE_PREFIX):
            return "kvstore shard", address or "(a kvstore shard)"
        return "worker", address or self.worker_address

    def _error(self, err, method, address, timeout):
        """The MXNetError of a failed call: the server's, or a clear one when the call passed
        its deadline or its server was declared dead."""
        code, details = err.code(), err.details()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and timeout is not None and \
                details == "Deadline Exceeded":  # gRPC's own, not the server's
            role, address = self._address_of(method, address)
            return _liveness.deadline_error(role, address, _rpc_name(method), timeout)
        if code == grpc.StatusCode.CANCELLED and details == "Channel closed!":
            dead = self._dead.get(self._address_of(method, address)[1])
            if dead is not None:
                return dead
        return from_rpc_error(err)

    def _sync_pipeline(self, method):
        pipe = self.pipeline
        if pipe is not None and not getattr(method, "_method", b"").startswith(
                (_COMPILER_PREFIX, _KVSTORE_PREFIX)):
            pipe.sync()

    def call(self, method, request, timeout=_DEFAULT, address=None):
        """Calls ``method`` (a bound stub method) with a deadline; RpcError -> MXNetError.

        For calls that should finish quickly: ``timeout`` defaults to the connection's
        call_timeout (None: no deadline). ``address``: the kvstore shard ``method`` belongs
        to (for the error message). In pipelined mode a worker call first waits for the
        queued operator calls (and raises their error, if one failed)."""
        self._sync_pipeline(method)
        if timeout is _DEFAULT:
            timeout = self.settings.call_timeout
        try:
            return method(request, timeout=timeout)
        except grpc.RpcError as err:
            raise self._error(err, method, address, timeout) from None

    def watch(self, what, address=None, call=None, on_dead=None):
        """A context manager for a call that waits for the server's queued work (no
        deadline): when the server at ``address`` (default: the worker) has not answered for
        liveness_timeout seconds, ``on_dead(error)`` runs, ``call`` (if given) is cancelled
        and the server's channel is closed, which ends the call, and the manager's ``error``
        holds the MXNetError to raise."""
        return self._watchdogs[address or self.worker_address].watch(what, call, on_dead)

    def wait_call(self, method, request, what, address=None):
        """Calls the unary ``method`` without a deadline, watched (see ``watch``); ``what``
        names the wait in the error, e.g. 'waitall'. RpcError -> MXNetError."""
        self._sync_pipeline(method)
        with self.watch(what, address) as w:
            try:
                return method(request)
            except grpc.RpcError as err:
                raise (w.error or self._error(err, method, address, None)) from None

    def wait_upload(self, method, requests, what, address=None):
        """Calls the client-streaming ``method`` with the iterator ``requests``, watched as
        wait_call is (as a future, which a watchdog can cancel at once)."""
        self._sync_pipeline(method)
        future = method.future(requests)
        try:
            with self.watch(what, address, call=future) as w:
                try:
                    return future.result()
                except (grpc.RpcError, grpc.FutureCancelledError) as err:
                    if w.error is not None:
                        raise w.error from None
                    if isinstance(err, grpc.RpcError):
                        raise self._error(err, method, address, None) from None
                    raise MXNetError("CANCELLED: %s was cancelled" % what,
                                     code=grpc.StatusCode.CANCELLED) from None
        finally:
            future.cancel()  # no-op once done; ends the upload on KeyboardInterrupt

    def wait_stream(self, method, request, what, address=None):
        """Yields the responses of the server-streaming ``method`` (no deadline), watched
        as wait_call is."""
        self._sync_pipeline(method)
        stream = method(request)
        try:
            with self.watch(what, address, call=stream) as w:
                try:
                    yield from stream
                except grpc.RpcError as err:
                    raise (w.error or self._error(err, method, address, None)) from None
        finally:
            stream.cancel()  # no-op once done; ends the server's work when abandoned

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
        """Queues an executor to be dropped at the next flush; never raises. Flushes once
        _EXECUTOR_FREE_BATCH are queued: array frees mostly ride on other requests, so a
        loop that binds and drops executors would otherwise reach the session's quota."""
        if self._closed:
            return
        with self._free_lock:
            self._pending_executors.append(handle)
            flush = len(self._pending_executors) >= _EXECUTOR_FREE_BATCH
        if flush:
            try:
                self.flush_frees()
            except Exception:  # pylint: disable=broad-except
                pass

    def take_pending_frees(self):
        """The queued handles (synchronous mode), for a request that frees them."""
        with self._free_lock:
            handles, self._pending_free = self._pending_free, []
        return handles

    def requeue_frees(self, handles):
        """Queues again handles a failed request may not have freed."""
        if handles:
            with self._free_lock:
                self._pending_free.extend(handles)

    def flush_frees(self):
        if self.pipeline is not None and not self._closed:
            self.pipeline.sync(raise_error=False)  # frees ride in an (empty) batch
        with self._free_lock:
            executors, self._pending_executors = self._pending_executors, []
        for handle in executors:
            try:
                self.worker.FreeExecutor(pb.worker.FreeExecutorRequest(
                    session=self.session, executor=handle), timeout=self.settings.call_timeout)
            except grpc.RpcError:
                pass
        handles = self.take_pending_frees()
        if handles and not self._closed:
            try:
                self.worker.Free(pb.worker.FreeRequest(session=self.session, handles=handles),
                                 timeout=self.settings.call_timeout)
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
                                         timeout=min(5.0, self.settings.call_timeout))
            except grpc.RpcError:
                pass
        self._close_channels()

    def _close_channels(self):
        with self._channel_lock:
            self._closed = True
            for dog in self._watchdogs.values():
                dog.close()
            for ch in self._channels.values():
                ch.close()


def _split(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def connect(worker=None, compiler=None, kvstore=None, lease_seconds=0.0, pipeline=None,
            call_timeout=None, liveness_timeout=None, security=None):
    """Connects the client to a worker, a compiler and (for dist kvstores) kvstore shards.

    ``pipeline``: imperative operator calls are pipelined unless it is False (None:
    ``MXGRID_PIPELINE``, pipelined unless 0); their errors are then raised at the next
    synchronizing call, not at the call (see the module doc). ``call_timeout``: the deadline
    in seconds of calls that should finish quickly (None: ``MXGRID_CALL_TIMEOUT``, else
    60). ``liveness_timeout``: how long a server may not answer while the client waits for
    its queued work (waitall, asnumpy, ...) before MXNetError is raised (None:
    ``MXGRID_LIVENESS_TIMEOUT``, else 30). ``security``: a ``mxgrid.Security`` with TLS
    material and a bearer token (None: from ``MXGRID_TLS_*`` and ``MXGRID_TOKEN*``, see
    _security.py). Replaces (and closes) any previous connection;
    arrays of the old session become invalid. Returns the Connection.
    """
    global _current
    with _lock:
        old, _current = _current, None
        if old is not None:
            old.close()
        _current = Connection(worker, compiler, _split(kvstore), lease_seconds=lease_seconds,
                              pipeline=pipeline, call_timeout=call_timeout,
                              liveness_timeout=liveness_timeout, security=security)
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
            _cluster = LocalCluster(num_workers=1, num_kvstore=0, separate_compiler=False,
                                    metrics=False).start()
            worker, compiler, kvstore = _cluster.workers[0], _cluster.compiler, _cluster.kvstore
        return connect(worker, compiler, kvstore)


def ensure_kvstore(conn):
    """Gives ``conn`` a kvstore shard when it has none and belongs to the embedded cluster
    (which starts shards only when a dist kvstore first needs one); True when it has
    shards."""
    with _lock:
        if not conn.kvstore and _cluster is not None and conn is _current:
            conn.add_kvstore(_cluster.add_kvstore())
        return bool(conn.kvstore)


atexit.register(disconnect)
