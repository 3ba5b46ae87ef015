"""An embedded mxgrid cluster on loopback: compiler, workers and kvstore shards.

``LocalCluster`` starts the built binaries (``mxgrid-compiler``, ``mxgrid-worker``,
``mxgrid-kvstore``) on 127.0.0.1, each on a port it picks itself (``--address=127.0.0.1:0``)
and reports through an inherited pipe once it serves (``--ready_fd``): no polling, no port
races. Servers that do not depend on each other start at once. It stops them with SIGTERM
(all signalled first, then waited for). Binaries are looked up in ``$MXGRID_BIN_DIR``, else
``$MXGRID_BAZEL_BIN/services/<name>/``, else ``<repo>/bazel-bin/services/<name>/``.

``separate_compiler=False`` lets each worker serve the compiler itself (one process fewer);
``metrics=False`` disables the servers' /metrics endpoints; ``add_kvstore()`` starts one more
shard later. The embedded cluster of ``connection.get()`` uses all three: one worker process
until a dist kvstore asks for a shard.

For distributed training (``tools/launch``): ``worker_kvstore=True`` starts the shards first
and gives every worker their addresses (``--kvstore``), so a worker's dist_* store reaches
them itself; ``state_dir`` gives shard i ``--state_dir=<state_dir>/shard<i>`` (snapshots);
``env(rank)`` points the client of ``rank`` at its own worker (which also serves the
compiler when ``separate_compiler=False``).

Usage::

    with LocalCluster(num_workers=1, num_kvstore=2) as c:
        mx.connect(worker=c.workers[0], compiler=c.compiler, kvstore=c.kvstore)

CLI (``_supervisor``: ``start`` leaves a detached supervisor that reaps the servers and
records how each ended; ``stop`` reports it, exiting 1 when a server had died)::

    python -m mxgrid.cluster start [--workers N] [--kvstore M] [--mode sync|async] [--dir D]
    python -m mxgrid.cluster stop [--dir D]

Thread-safety: a LocalCluster is driven by one thread; stop() is idempotent.
"""
import argparse
import os
import select
import signal
import subprocess
import tempfile
import time

import grpc

from ._liveness import channel_options
from .base import MXNetError

__all__ = ["LocalCluster", "find_binary"]

_BINARIES = {"compiler": "mxgrid-compiler", "worker": "mxgrid-worker", "kvstore": "mxgrid-kvstore"}
_REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def find_binary(service):
    """Path of the binary of ``service`` ('compiler', 'worker', 'kvstore'), or raises."""
    name = _BINARIES[service]
    candidates = []
    if os.environ.get("MXGRID_BIN_DIR"):
        candidates.append(os.path.join(os.environ["MXGRID_BIN_DIR"], name))
    if os.environ.get("MXGRID_BAZEL_BIN"):
        candidates.append(os.path.join(os.environ["MXGRID_BAZEL_BIN"], "services", service, name))
    candidates.append(os.path.join(_REPO, "bazel-bin", "services", service, name))
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise MXNetError("%s not found (looked in %s); build it with `bazel build "
                     "//services/%s:%s` or set MXGRID_BIN_DIR" % (name, ", ".join(candidates),
                                                                  service, name))


def _read_ready(name, proc, fd, log_path, timeout):
    """Reads the "host:port" line a server writes to its --ready_fd pipe (read end ``fd``,
    closed here); MXNetError when it exits or is silent for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    data = b""
    try:
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise MXNetError("%s did not start within %.0f s; see %s" % (
                    name, timeout, log_path))
            chunk = os.read(fd, 256)
            if not chunk:  # closed without an address: the server exited
                raise MXNetError("%s exited with code %s while starting; see %s" % (
                    name, proc.wait(), log_path))
            data += chunk
    finally:
        os.close(fd)
    return data.decode("ascii").strip()


def wait_serving(address, timeout=30.0, proc=None, security=None):
    """Blocks until ``address`` answers grpc.health.v1 Check with SERVING (for servers this
    process did not start; LocalCluster learns readiness from --ready_fd). ``security``: a
    ``Security`` for TLS servers (None: from the environment)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from ._security import Security
    deadline = time.monotonic() + timeout
    security = security if security is not None else Security.from_env()
    with security.channel(address, channel_options()) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if proc is not None and proc.poll() is not None:
                raise MXNetError("server for %s exited with code %d" % (address, proc.returncode))
            try:
                resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0,
                                  wait_for_ready=True)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise MXNetError("server at %s not SERVING after %.0f s" % (address, timeout))
            time.sleep(0.05)  # poll interval of the readiness probe, not a synchronization


class LocalCluster:
    """Compiler, ``num_workers`` workers and ``num_kvstore`` kvstore shards on loopback.

    Attributes (after start()): ``compiler`` (address), ``workers`` and ``kvstore`` (lists of
    addresses), ``addresses`` ({server name: address}), ``log_dir``, ``pids``.
    """

    def __init__(self, num_workers=1, num_kvstore=1, log_dir=None, mode="sync",
                 extra_flags=None, separate_compiler=True, metrics=True, timeout=30.0,
                 worker_kvstore=False, state_dir=None):
        self.num_workers = num_workers
        self.num_kvstore = num_kvstore
        self.mode = mode
        self.worker_kvstore = worker_kvstore
        self.state_dir = state_dir
        self.separate_compiler = separate_compiler
        self.metrics = metrics
        self.timeout = timeout
        self.log_dir = log_dir
        self.extra_flags = extra_flags or {}
        self.compiler = None
        self.workers = []
        self.kvstore = []
        self.addresses = {}  # name ('compiler', 'worker0', 'kvstore1') -> address
        self._procs = []  # (name, Popen, log file), in start order
        self._ready_fds = set()  # read ends of --ready_fd pipes not read yet

    def _spawn(self, service, name, flags):
        """Starts one server; returns a callable that waits until it serves and returns its
        address (MXNetError if it does not)."""
        binary = find_binary(service)
        read_fd, write_fd = os.pipe()
        args = [binary, "--address=127.0.0.1:0", "--ready_fd=%d" % write_fd,
                "--metrics_address=" + ("127.0.0.1:0" if self.metrics else "")] + flags
        args += self.extra_flags.get(service, [])
        log_path = os.path.join(self.log_dir, name + ".log")
        log = open(log_path, "ab")
        try:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    pass_fds=(write_fd,))
        except BaseException:
            log.close()
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._procs.append((name, proc, log))
        self._ready_fds.add(read_fd)

        def ready():
            self._ready_fds.discard(read_fd)
            address = self.addresses[name] = _read_ready(name, proc, read_fd, log_path,
                                                         self.timeout)
            return address
        return ready

    def _spawn_kvstore(self, index):
        flags = ["--num_workers=%d" % max(1, self.num_workers), "--mode=" + self.mode]
        if self.state_dir:
            shard_dir = os.path.join(self.state_dir, "shard%d" % index)
            os.makedirs(shard_dir, exist_ok=True)
            flags.append("--state_dir=" + shard_dir)
        return self._spawn("kvstore", "kvstore%d" % index, flags)

    def start(self):
        if self.log_dir is None:
            self.log_dir = tempfile.mkdtemp(prefix="mxgrid-cluster-")
        os.makedirs(self.log_dir, exist_ok=True)
        try:
            compiler = self._spawn("compiler", "compiler", []) if self.separate_compiler \
                else None
            shards = [self._spawn_kvstore(i) for i in range(self.num_kvstore)]
            worker_flags = []
            if compiler is not None:
                self.compiler = compiler()
                worker_flags = ["--compiler=" + self.compiler]
            if self.worker_kvstore and shards:
                self.kvstore = [ready() for ready in shards]
                worker_flags.append("--kvstore=" + ",".join(self.kvstore))
            workers = [self._spawn("worker", "worker%d" % i, worker_flags)
                       for i in range(self.num_workers)]
            if not self.kvstore:
                self.kvstore = [ready() for ready in shards]
            self.workers = [ready() for ready in workers]
            if compiler is None:
                self.compiler = self.workers[0] if self.workers else None
        except BaseException:
            self.stop()
            raise
        return self

    def add_kvstore(self):
        """Starts one more kvstore shard; returns its address."""
        address = self._spawn_kvstore(len(self.kvstore))()
        self.kvstore.append(address)
        return address

    @property
    def pids(self):
        return {name: proc.pid for name, proc, _ in self._procs}

    @property
    def processes(self):
        """[(name, subprocess.Popen)] of the servers, in start order."""
        return [(name, proc) for name, proc, _ in self._procs]

    def env(self, rank=0):
        """Environment variables that point a client (of ``rank``) at this cluster."""
        env = {"MXGRID_COMPILER": self.compiler}
        if self.workers:
            env["MXGRID_WORKER"] = self.workers[rank]
            if not self.separate_compiler:  # each worker serves the compiler itself
                env["MXGRID_COMPILER"] = self.workers[rank]
        if self.kvstore:
            env["MXGRID_KVSTORE"] = ",".join(self.kvstore)
            env["MXGRID_NUM_WORKERS"] = str(max(1, self.num_workers))
            env["MXGRID_RANK"] = str(rank)
        return env

    def stop(self, timeout=15.0):
        """SIGTERM to every server (workers first), then waits; kills what outlives timeout.
        Returns {name: (returncode, killed)}: how each ended (-N: by signal N; servers that
        had exited before are included), and whether it had to be killed."""
        procs, self._procs = self._procs[::-1], []
        for fd in self._ready_fds:
            os.close(fd)
        self._ready_fds.clear()
        for _, proc, _ in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        ended = {}
        for name, proc, log in procs:
            killed = False
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                killed = True
            log.close()
            ended[name] = (proc.returncode, killed)
        return ended

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mxgrid.cluster",
                                     description="Start or stop a local mxgrid cluster.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    start = sub.add_parser("start", help="start compiler, workers and kvstore shards")
    start.add_argument("--workers", type=int, default=1)
    start.add_argument("--kvstore", type=int, default=1)
    start.add_argument("--mode", choices=["sync", "async"], default="sync")
    start.add_argument("--dir", default=".mxgrid-cluster")
    stop = sub.add_parser("stop", help="stop the cluster started with --dir; report servers "
                          "that had died (exit status 1 if any)")
    stop.add_argument("--dir", default=".mxgrid-cluster")
    sup = sub.add_parser("supervise", help="(run by start) start the servers and reap them")
    sup.add_argument("--workers", type=int, default=1)
    sup.add_argument("--kvstore", type=int, default=1)
    sup.add_argument("--mode", choices=["sync", "async"], default="sync")
    sup.add_argument("--dir", required=True)
    sup.add_argument("--ready-fd", type=int, default=None)
    args = parser.parse_args(argv)
    from . import _supervisor
    {"start": _supervisor.start, "stop": _supervisor.stop,
     "supervise": _supervisor.supervise}[args.cmd](args)


if __name__ == "__main__":
    main()
