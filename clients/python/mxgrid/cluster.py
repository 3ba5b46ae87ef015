"""An embedded mxgrid cluster on loopback: compiler, workers and kvstore shards.

``LocalCluster`` starts the built binaries (``mxgrid-compiler``, ``mxgrid-worker``,
``mxgrid-kvstore``) on free 127.0.0.1 ports, waits until each reports SERVING on
grpc.health.v1, and stops them with SIGTERM. Binaries are looked up in ``$MXGRID_BIN_DIR``,
else ``$MXGRID_BAZEL_BIN/services/<name>/``, else ``<repo>/bazel-bin/services/<name>/``.

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
import signal
import socket
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


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_serving(address, timeout=30.0, proc=None):
    """Blocks until ``address`` answers grpc.health.v1 Check with SERVING."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address, options=channel_options()) as channel:
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
                 extra_flags=None):
        self.num_workers = num_workers
        self.num_kvstore = num_kvstore
        self.mode = mode
        self.log_dir = log_dir
        self.extra_flags = extra_flags or {}
        self.compiler = None
        self.workers = []
        self.kvstore = []
        self.addresses = {}  # name ('compiler', 'worker0', 'kvstore1') -> address
        self._procs = []  # (name, Popen, log file), in start order

    def _spawn(self, service, name, flags):
        binary = find_binary(service)
        for attempt in range(5):
            address = "127.0.0.1:%d" % _free_port()
            args = [binary, "--address=" + address, "--metrics_address=127.0.0.1:0"] + flags
            args += self.extra_flags.get(service, [])
            log = open(os.path.join(self.log_dir, name + ".log"), "ab")
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                wait_serving(address, proc=proc)
            except MXNetError:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                log.close()
                if attempt == 4:
                    raise MXNetError("could not start %s; see %s" % (
                        name, os.path.join(self.log_dir, name + ".log")))
                continue  # most likely the port was taken meanwhile
            self._procs.append((name, proc, log))
            self.addresses[name] = address
            return address

    def start(self):
        if self.log_dir is None:
            self.log_dir = tempfile.mkdtemp(prefix="mxgrid-cluster-")
        os.makedirs(self.log_dir, exist_ok=True)
        try:
            self.compiler = self._spawn("compiler", "compiler", [])
            for i in range(self.num_kvstore):
                self.kvstore.append(self._spawn("kvstore", "kvstore%d" % i, [
                    "--num_workers=%d" % max(1, self.num_workers), "--mode=" + self.mode]))
            for i in range(self.num_workers):
                self.workers.append(self._spawn("worker", "worker%d" % i,
                                                ["--compiler=" + self.compiler]))
        except BaseException:
            self.stop()
            raise
        return self

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
