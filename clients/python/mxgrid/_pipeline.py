"""Pipelined imperative operator calls: one InvokeStream per connection.

The default (``mx.connect(..., pipeline=False)`` or ``MXGRID_PIPELINE=0`` turns it off). An
operator call does not wait for its round trip: the client chooses the output handles itself
(a counter in [1, 2^32), as worker.proto allows; the output count comes from the operator's
schema, see ``_ops.num_outputs``), sends the call at once on the connection's InvokeStream
(or coalesces it with the calls that follow while earlier batches are still on the wire) and
returns NDArrays that are *pending*: they have their handle, but their shape, dtype and
context arrive with the batch's response (``NDArray.__getattr__`` waits for it on first use).

Ordering. Every other worker RPC of the connection first sends what is queued and waits
until every sent batch is answered (``sync``, called by ``Connection.call``), so the handles
exist and the calls' effects are ordered before it. Frees of dropped arrays travel in the
``free`` field of the next call (the worker frees them before that call allocates its
outputs, so a ``c = a + b`` loop reuses the dropped ``c``'s memory), or in the batch's
``free`` field when a sync sends no call; a finalizer only appends to a deque (no lock, no
RPC).

Errors. MXNet raises e.g. a shape mismatch at the call; here it is raised later, as MXNet's
engine raises a kernel's error: when the stream fails, every pending array of the failed
batch and of the batches after it is marked failed (using one raises MXNetError with the
server's message), the first synchronizing call raises the error (once), and a fresh stream
is opened for later calls. Arrays written
in place (``out=``, ``a += 1``) by a failed or later batch keep their old value. The calls
of a failed batch before the failing one have taken effect on the worker; the handles they
created are freed at the next synchronizing call.

Liveness. Waiting for a batch's response (a pending array's first use, ``sync``) is
watched by the worker's watchdog (``Connection.watch``): when the worker has not answered
for the liveness timeout, the stream is cancelled and its batches fail with that error.

Thread-safety: one lock guards the queue of batches; it is never held while waiting for a
response or while making an RPC, and finalizers never take it.
"""
import collections
import queue
import threading

import grpc

from ._proto import pb
from .base import MXNetError, from_rpc_error

# Calls coalesced into one InvokeBatchRequest at most.
MAX_BATCH_CALLS = 64
# Batches on the wire before further calls are coalesced (sent when a response arrives or
# the open batch is full).
MAX_INFLIGHT = 2
HANDLE_LIMIT = 1 << 32


class Batch:
    """One InvokeBatchRequest and, once answered, its response or error."""

    __slots__ = ("request", "new_handles", "done", "response", "error", "root", "pipe",
                 "stream")

    def __init__(self, pipe, session):
        self.pipe = pipe
        self.request = pb.worker.InvokeBatchRequest(session=session)
        self.new_handles = []
        self.done = threading.Event()
        self.response = None
        self.error = None  # MXNetError when the batch failed (or came after a failed one)
        self.root = None   # the stream's error that failed it
        self.stream = None  # the _Stream it was sent on

    def wait(self):
        """Waits for the response (or failure); the worker's watchdog ends the stream (by
        closing the channel) when the worker stops answering."""
        if self.done.is_set():
            return
        stream = self.stream
        if stream is None:  # failed without being sent: done is set
            self.done.wait()
            return
        with self.pipe._conn.watch("pipelined operator calls", call=stream.call,
                                   on_dead=stream.set_dead):
            self.done.wait()

    def output(self, call_index, output_index):
        """The ArrayInfo of an output; waits for the response; MXNetError when it failed."""
        if not self.done.is_set():
            self.pipe.ensure_sent(self)
            self.wait()
        if self.error is not None:
            self.pipe.reported(self.root)
            raise self.error
        return self.response.results[call_index].outputs[output_index]


class _Stream:
    def __init__(self, stub):
        self.queue = queue.SimpleQueue()
        self.dead = False
        self.dead_error = None  # set by the watchdog before it cancels the call
        self.call = stub.InvokeStream(self._requests())

    def set_dead(self, error):
        self.dead_error = error

    def _requests(self):
        while True:
            req = self.queue.get()
            if req is None:
                return
            yield req


class Pipeline:
    """The pipelined operator calls of one Connection."""

    def __init__(self, conn):
        self._conn = conn
        self._lock = threading.Lock()
        self._next_handle = 1
        self._open = None
        self._inflight = collections.deque()
        self._stream = None
        self._error = None       # the failure not yet raised to the user
        self._dead = set()       # handles the failed batches would have created
        self._orphans = []       # handles to free (errors ignored) at the next sync
        self._closed = False
        self.frees = collections.deque()  # appended by finalizers (thread-safe, lock-free)

    # -- calls ----------------------------------------------------------------------------
    def submit(self, op, inputs, attrs, outputs, num_new, is_train, record=False):
        """Queues one call; returns (batch, call index, new handles), or None when the
        handle space is used up (the caller then invokes synchronously)."""
        with self._lock:
            first = self._next_handle
            if self._closed or first + num_new >= HANDLE_LIMIT:
                return None
            self._next_handle = first + num_new
            b = self._open
            if b is None:
                b = self._open = Batch(self, self._conn.session)
            calls = b.request.calls
            if is_train or record:
                call = calls.add(op=op, inputs=inputs, is_train=is_train, record=record)
            else:
                call = calls.add(op=op, inputs=inputs)
            if self.frees:
                call.free.extend(self._take_frees_locked())
            if attrs:
                call.attrs.update(attrs)
            if outputs:
                call.outputs.extend(outputs)
                handles = ()
            else:
                handles = range(first, first + num_new)
                call.new_handles.extend(handles)
                b.new_handles.extend(handles)
            index = len(calls) - 1
            if len(self._inflight) < MAX_INFLIGHT or index + 1 >= MAX_BATCH_CALLS:
                self._send_locked()
        return b, index, handles

    def ensure_sent(self, batch):
        with self._lock:
            if batch is self._open:
                self._send_locked()

    def _send_locked(self):
        b = self._open
        self._open = None
        if b is None:
            b = Batch(self, self._conn.session)
        if self.frees:
            b.request.free.extend(self._take_frees_locked())
        if self._error is not None or self._closed:
            # Not sent: the stream failed and the user has not seen the error yet (calls
            # queued meanwhile may use the failed calls' handles).
            err = self._error or MXNetError("the connection is closed")
            self._fail_locked(b, err)
            return b
        stream = self._stream
        if stream is None:
            stream = self._stream = _Stream(self._conn.require_worker())
            threading.Thread(target=self._read, args=(stream,), daemon=True,
                             name="mxgrid-pipeline").start()
        b.stream = stream
        self._inflight.append(b)
        stream.queue.put(b.request)
        return b

    def _take_frees_locked(self):
        """The handles the finalizers queued, less those a failed batch would have created
        (freed, errors ignored, with the orphans)."""
        frees, dead, taken = self.frees, self._dead, []
        while frees:
            try:
                h = frees.popleft()
            except IndexError:
                break
            if h in dead:
                dead.discard(h)
            else:
                taken.append(h)
        return taken

    def _fail_locked(self, b, root, first=False):
        msg = str(root) if first else "an earlier pipelined operator call failed: %s" % root
        b.error = MXNetError(msg, code=getattr(root, "code", None))
        b.root = root
        self._dead.update(b.new_handles)
        self._orphans.extend(b.new_handles)
        # The worker may not have reached these frees: freed again (errors ignored).
        self._orphans.extend(b.request.free)
        for call in b.request.calls:
            self._orphans.extend(call.free)
        b.done.set()

    def _read(self, stream):
        err = None
        try:
            for resp in stream.call:
                with self._lock:
                    b = self._inflight.popleft()
                    if self._open is not None and len(self._inflight) < MAX_INFLIGHT:
                        self._send_locked()
                b.response = resp
                b.done.set()
        except grpc.RpcError as e:
            err = stream.dead_error or from_rpc_error(e)
        except Exception as e:  # pylint: disable=broad-except
            err = MXNetError("pipelined operator calls failed: %r" % (e,))
        with self._lock:
            stream.dead = True
            if self._stream is stream:
                self._stream = None
            stream.queue.put(None)  # lets gRPC's request thread end
            failed = list(self._inflight)
            self._inflight.clear()
            if not failed:
                return
            if err is None:
                err = MXNetError("UNAVAILABLE: the InvokeStream ended early")
            if self._closed:
                err = MXNetError("the connection is closed")
            elif self._error is None:
                self._error = err
            for i, b in enumerate(failed):
                self._fail_locked(b, err, first=(i == 0))
            # Batches still open are failed when sent (self._error is set).

    # -- synchronization ------------------------------------------------------------------
    def reported(self, root):
        """The user has seen ``root`` (through a failed array): later calls go on."""
        with self._lock:
            if root is not None and self._error is root:
                self._error = None

    def sync(self, raise_error=True):
        """Sends what is queued and waits until every sent batch is answered; then raises
        the pending failure, if any (once)."""
        with self._lock:
            if self._open is not None or self.frees:
                last = self._send_locked()
            else:
                last = self._inflight[-1] if self._inflight else None
        if last is not None:
            last.wait()
        with self._lock:
            err = self._error if raise_error else None
            if raise_error:
                self._error = None
            orphans, self._orphans = self._orphans, []
        if orphans and not self._closed:
            try:
                self._conn.worker.Free(pb.worker.FreeRequest(
                    session=self._conn.session, handles=orphans),
                    timeout=self._conn.settings.call_timeout)
            except grpc.RpcError:
                pass  # some never existed: the others are freed all the same
        if err is not None:
            raise err

    def idle(self):
        return self._open is None and not self._inflight and not self.frees

    def close(self):
        with self._lock:
            self._closed = True
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.queue.put(None)
            stream.call.cancel()
