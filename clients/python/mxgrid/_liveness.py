"""How the client notices a server that stopped answering: keepalive, deadlines, watchdogs.

A worker that is stopped (SIGSTOP, a debugger, a hung host) keeps its TCP connections open,
so without these a call to it would wait for as long as it is stopped.

- **Keepalive** (``channel_options``): every channel pings its server after
  ``keepalive_time`` seconds without reads (default 20 s; ``MXGRID_KEEPALIVE_TIME``), also
  while no call is in flight, and drops the connection when a ping is not acknowledged
  within 20 s; the calls on it then fail with UNAVAILABLE. mxgrid's servers accept pings
  every 10 s with or without calls (services/common/server.cc sets
  GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS and KEEPALIVE_PERMIT_WITHOUT_CALLS);
  a plain gRPC C++ server answers pings closer than 5 minutes apart with GOAWAY
  "too_many_pings", so keep the time above 300 s against other servers.
- **Deadlines** (``Settings.call_timeout``, ``MXGRID_CALL_TIMEOUT`` or
  ``mx.connect(call_timeout=)``, default 60 s): every call that should finish quickly
  (session calls, array creation, Invoke, Bind, KV calls, compiler calls) has one; a server
  that does not answer in time gives ``MXNetError`` with code DEADLINE_EXCEEDED naming it.
- **Watchdogs** (``Settings.liveness_timeout``, ``MXGRID_LIVENESS_TIMEOUT`` or
  ``mx.connect(liveness_timeout=)``, default 30 s): calls that wait for a server's queued
  work (waitall, wait_to_read, asnumpy, a training step, a dist kvstore pull, large
  transfers) may rightly take long and have no deadline. While one is outstanding, the
  ``Watchdog`` of its server checks the server with grpc.health.v1 Check (short deadline)
  every few seconds; when the server has not answered for ``liveness_timeout`` seconds the
  connection closes the server's channel, which ends the waiting calls (the server drops
  the cancelled waits, not the work), and opens a fresh one; each waiting call raises
  ``MXNetError`` (code UNAVAILABLE) saying that the server at ADDRESS did not answer for
  N s. The watched calls themselves are plain blocking calls: watching costs nothing on the
  wire and no thread switch (a gRPC future would cost ~0.4 ms a call).

Thread-safety: Settings is immutable; a Watchdog may be used from any thread (one lock and
one daemon thread of its own, started on first use; ``on_dead`` runs on that thread).
"""
import os
import threading
import time

import grpc

from .base import MXNetError

__all__ = ["Settings", "Watchdog", "channel_options", "deadline_error"]

DEFAULT_CALL_TIMEOUT = 60.0
DEFAULT_LIVENESS_TIMEOUT = 30.0
# Above gRPC C++'s default minimum interval between received pings (5 min) with a margin
# for timer slack, so that today's servers never count a ping as abuse.
DEFAULT_KEEPALIVE_TIME = 20.0
KEEPALIVE_TIMEOUT = 20.0


def _seconds(value, name, env):
    """``value`` (or, when None, the environment variable ``env``) as positive seconds."""
    source = "%s=%r" % (name, value)
    if value is None:
        text = os.environ.get(env, "").strip()
        if not text:
            return None
        source = "%s=%s" % (env, text)
        try:
            value = float(text)
        except ValueError:
            raise MXNetError("%s: expected a number of seconds" % source) from None
    if not value > 0:
        raise MXNetError("%s: must be a positive number of seconds" % source)
    return float(value)


class Settings:
    """Deadline and liveness settings of one Connection, in seconds.

    Arguments left None come from MXGRID_CALL_TIMEOUT / MXGRID_LIVENESS_TIMEOUT /
    MXGRID_KEEPALIVE_TIME, else the defaults. Raises MXNetError for non-positive values."""

    def __init__(self, call_timeout=None, liveness_timeout=None, keepalive_time=None):
        self.call_timeout = _seconds(call_timeout, "call_timeout",
                                     "MXGRID_CALL_TIMEOUT") or DEFAULT_CALL_TIMEOUT
        self.liveness_timeout = _seconds(liveness_timeout, "liveness_timeout",
                                         "MXGRID_LIVENESS_TIMEOUT") or DEFAULT_LIVENESS_TIMEOUT
        self.keepalive_time = _seconds(keepalive_time, "keepalive_time",
                                       "MXGRID_KEEPALIVE_TIME") or DEFAULT_KEEPALIVE_TIME

    @property
    def probe_interval(self):
        """Seconds between a watchdog's checks of its server."""
        return min(max(self.liveness_timeout / 4.0, 0.05), 5.0)

    @property
    def probe_timeout(self):
        """The deadline of one check."""
        return min(max(self.liveness_timeout / 3.0, 0.1), 5.0)


def channel_options(settings=None, max_message_bytes=None):
    """gRPC channel options with keepalive (see the module doc) and message limits."""
    keepalive = (settings.keepalive_time if settings is not None else DEFAULT_KEEPALIVE_TIME)
    opts = [("grpc.keepalive_time_ms", int(keepalive * 1000)),
            ("grpc.keepalive_timeout_ms", int(KEEPALIVE_TIMEOUT * 1000)),
            # Idle channels ping too: a session's worker that vanished is noticed before
            # the next call (mxgrid's servers permit it).
            ("grpc.keepalive_permit_without_calls", 1),
            # Keep pinging through a long call that receives nothing (gRPC's default stops
            # after 2 pings); pings stay keepalive_time apart.
            ("grpc.http2.max_pings_without_data", 0)]
    if max_message_bytes is not None:
        opts += [("grpc.max_send_message_length", max_message_bytes),
                 ("grpc.max_receive_message_length", max_message_bytes)]
    return opts


def deadline_error(role, address, rpc_name, timeout):
    """The MXNetError of a quick call that passed its deadline."""
    return MXNetError(
        "DEADLINE_EXCEEDED: the %s at %s did not answer %s within %g s (the deadline of calls "
        "that should finish quickly: MXGRID_CALL_TIMEOUT or mx.connect(call_timeout=...)); "
        "is it stopped or overloaded?" % (role, address, rpc_name, timeout),
        code=grpc.StatusCode.DEADLINE_EXCEEDED)


class _Watch:
    """One waiting call; ``error`` is set when its server stopped answering meanwhile."""

    __slots__ = ("_dog", "started", "what", "call", "on_dead", "error")

    def __init__(self, dog, what, call, on_dead):
        self._dog = dog
        self.started = time.monotonic()
        self.what = what
        self.call = call
        self.on_dead = on_dead
        self.error = None

    def mark_dead(self, error):
        self.error = error
        if self.on_dead is not None:
            self.on_dead(error)

    def __enter__(self):
        self._dog._add(self)
        return self

    def __exit__(self, *exc):
        self._dog._remove(self)


class Watchdog:
    """Checks one server while calls to it wait; ends them when it stops answering.

    While a watch is open, a daemon thread checks the server every ``probe_interval``
    seconds. When neither a check nor a finished watched call has shown the server alive for
    ``liveness_timeout`` seconds, each open watch gets its ``error`` (and its
    ``on_dead(error)`` runs), then ``on_dead(error)`` of the Watchdog itself: the
    Connection opens a fresh channel to the server there and closes the old one, which ends
    every call on it (the server's sessions and arrays are untouched, and work again once it
    answers); last, the watches' ``call``s, if given, are cancelled. A call whose writes
    wait for flow control (an upload to a stopped server) outlives a closed channel by the
    keepalive timeout: pass it as ``call``.
    Opening and closing a watch costs a lock and a set update, nothing on the wire.

    Usage::

        with dog.watch("waitall") as w:
            try:
                return stub.Wait(request)  # no deadline
            except grpc.RpcError as err:
                raise w.error or from_rpc_error(err)
    """

    def __init__(self, channel, role, address, settings, on_dead):
        self.role = role
        self.address = address
        self.settings = settings
        self._on_dead = on_dead
        self._lock = threading.Lock()
        self._watches = set()
        self._answered_at = 0.0  # when a watched call last finished (monotonic)
        self._thread = None
        self._closed = threading.Event()
        self.rebind(channel)

    def rebind(self, channel):
        """Checks the server over ``channel`` from now on."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        self._check = health_pb2_grpc.HealthStub(channel).Check
        self._request = health_pb2.HealthCheckRequest()

    def watch(self, what, call=None, on_dead=None):
        """A context manager watching one waiting call; ``what`` names the wait in the
        error (e.g. 'waitall'); ``call`` (a gRPC future or stream) is cancelled and
        ``on_dead(error)`` runs before the channel is closed."""
        return _Watch(self, what, call, on_dead)

    def error(self, silent_seconds, what=None):
        """The MXNetError (UNAVAILABLE) of a server silent for ``silent_seconds``."""
        during = " while the client waited for %s" % what if what else ""
        return MXNetError(
            "UNAVAILABLE: the %s at %s did not answer for %.1f s%s (the liveness timeout, "
            "MXGRID_LIVENESS_TIMEOUT or mx.connect(liveness_timeout=...), is %g s); it is "
            "stopped, overloaded or unreachable" % (
                self.role, self.address, silent_seconds, during,
                self.settings.liveness_timeout),
            code=grpc.StatusCode.UNAVAILABLE)

    def close(self):
        self._closed.set()

    def _add(self, w):
        with self._lock:
            self._watches.add(w)
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="mxgrid-watchdog %s" % self.address)
                self._thread.start()

    def _remove(self, w):
        with self._lock:
            self._watches.discard(w)
            self._answered_at = time.monotonic()

    def _alive(self):
        try:
            self._check(self._request, timeout=self.settings.probe_timeout)
            return True
        except grpc.RpcError as err:
            # Any answer, even an error status, means the server is there.
            return err.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED,
                                      grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        except ValueError:  # the channel was closed meanwhile
            return False

    def _run(self):
        checked_at = 0.0  # when a check last succeeded
        while not self._closed.wait(self.settings.probe_interval):
            with self._lock:
                if not self._watches:
                    continue
                oldest = min(w.started for w in self._watches)
            if self._alive():
                checked_at = time.monotonic()
                continue
            now = time.monotonic()
            with self._lock:
                silent = now - max(checked_at, self._answered_at, oldest)
                if silent < self.settings.liveness_timeout:
                    continue
                doomed, self._watches = self._watches, set()
            for w in doomed:
                w.mark_dead(self.error(silent, w.what))
            # A fresh channel first, so that nothing woken below reaches the old one.
            self._on_dead(self.error(silent))
            for w in doomed:
                if w.call is not None:
                    w.call.cancel()
