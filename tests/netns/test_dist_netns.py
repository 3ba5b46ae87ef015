"""Distributed training across hosts: kvstore shards and workers in separate network
namespaces joined by a bridge (veth pairs), so every byte between a worker and a shard
crosses a real network stack, with the link impaired by the kernel's queueing disciplines.

Topology (one namespace each, 10.231.0.0/24 on a bridge in a switch namespace):
  shard0 10.231.0.10, shard1 10.231.0.11   mxgrid-kvstore on port 51000 each
  host0  10.231.0.20, host1  10.231.0.21   mxgrid-worker + the training script of its rank
The workers find the shards through one DNS name, ``mxgrid-kvstore``, that resolves to both
shard addresses (``/etc/netns/<ns>/hosts``, which ``ip netns exec`` mounts over /etc/hosts):
the Kubernetes headless-service pattern.

Impairment: ``tc netem`` delay and loss on every host's link where the kernel has netem;
else (some VM kernels lack sch_netem) a token bucket (``tbf``) with a small queue limit that
delays bursts and drops what overflows it, which TCP must retransmit. The test prints which.

Skipped, with the reason, where namespaces cannot be created (not root, no ``ip``,
no CAP_NET_ADMIN) or the binaries are not built.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

from mxgrid import cluster as mxcluster  # noqa: E402
from mxgrid.base import MXNetError  # noqa: E402

SUBNET = "10.231.0"
SHARD_PORT = 51000
HOSTS = {"shard0": 10, "shard1": 11, "host0": 20, "host1": 21}
ROUNDS = 12
LR = 0.05


def _run(*args, check=True):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=check, timeout=30)


class Topology:
    """The namespaces, links and hosts files; delete() removes all of them."""

    def __init__(self):
        self.prefix = "mxg%d" % (os.getpid() % 100000)
        self.namespaces = []
        self.etc_dirs = []
        self.impairment = None

    def ns(self, host):
        return "%s-%s" % (self.prefix, host)

    def create(self):
        switch = self.ns("sw")
        _run("ip", "netns", "add", switch)
        self.namespaces.append(switch)
        _run("ip", "-n", switch, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", switch, "link", "set", "br0", "up")
        for i, (host, octet) in enumerate(HOSTS.items()):
            ns = self.ns(host)
            _run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            inner, outer = "%sa%d" % (self.prefix, i), "%sb%d" % (self.prefix, i)
            _run("ip", "link", "add", inner, "type", "veth", "peer", "name", outer)
            _run("ip", "link", "set", inner, "netns", ns)
            _run("ip", "link", "set", outer, "netns", switch)
            _run("ip", "-n", ns, "link", "set", inner, "name", "eth0")
            _run("ip", "-n", ns, "addr", "add", "%s.%d/24" % (SUBNET, octet), "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", switch, "link", "set", outer, "master", "br0")
            _run("ip", "-n", switch, "link", "set", outer, "up")
            self._impair(ns)
            etc = os.path.join("/etc/netns", ns)
            os.makedirs(etc, exist_ok=True)
            self.etc_dirs.append(etc)
            with open(os.path.join(etc, "hosts"), "w") as f:
                f.write("127.0.0.1 localhost\n")
                for shard in ("shard0", "shard1"):
                    f.write("%s.%d mxgrid-kvstore\n" % (SUBNET, HOSTS[shard]))
                f.write("%s.%d %s\n" % (SUBNET, octet, host))

    def _impair(self, ns):
        netem = _run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root",
                     "netem", "delay", "2ms", "1ms", "loss", "0.5%", check=False)
        if netem.returncode == 0:
            self.impairment = "netem delay 2ms +-1ms, loss 0.5%"
            return
        tbf = _run("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root",
                   "tbf", "rate", "400mbit", "burst", "64kb", "limit", "256kb", check=False)
        if tbf.returncode != 0:
            raise RuntimeError("neither netem nor tbf: %s / %s" % (netem.stdout, tbf.stdout))
        self.impairment = ("tbf 400 Mbit/s, 256 KiB queue: bursts delayed, overflow dropped "
                           "(netem unavailable: %s)" % netem.stdout.strip())

    def delete(self):
        for ns in reversed(self.namespaces):
            _run("ip", "netns", "del", ns, check=False)
        for etc in self.etc_dirs:
            shutil.rmtree(etc, ignore_errors=True)


def _namespaces_unavailable():
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) not installed"
    probe = "mxgprobe%d" % os.getpid()
    r = _run("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        return "cannot create a network namespace: " + r.stdout.strip()
    _run("ip", "netns", "del", probe, check=False)
    return None


@pytest.fixture(scope="module")
def topology():
    reason = _namespaces_unavailable()
    if reason:
        print("SKIP multi-host test:", reason)
        pytest.skip(reason)
    try:
        for service in ("worker", "kvstore"):
            mxcluster.find_binary(service)
    except MXNetError as e:
        pytest.skip(str(e))
    topo = Topology()
    try:
        topo.create()
        print("links impaired with", topo.impairment)
        yield topo
    finally:
        topo.delete()


class Servers:
    """Servers started inside namespaces; stop() ends them all."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.procs = []

    def start(self, topo, host, service, flags):
        read_fd, write_fd = os.pipe()
        ip = "%s.%d" % (SUBNET, HOSTS[host])
        port = SHARD_PORT if service == "kvstore" else 0
        args = ["ip", "netns", "exec", topo.ns(host), mxcluster.find_binary(service),
                "--address=%s:%d" % (ip, port), "--ready_fd=%d" % write_fd,
                "--metrics_address="] + flags
        log_path = os.path.join(self.log_dir, "%s-%s.log" % (host, service))
        log = open(log_path, "wb")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, pass_fds=(write_fd,),
                                start_new_session=True)
        os.close(write_fd)
        log.close()
        self.procs.append(proc)
        return mxcluster._read_ready("%s on %s" % (service, host), proc, read_fd, log_path,
                                     30.0)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# Each rank pushes (rank + 1) * (round + 1) for every element of a small key and of a key big
# enough to be split across both shards, and pulls after every round; the shards run SGD.
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import mxgrid as mx
    rounds, lr = int(sys.argv[1]), float(sys.argv[2])
    kv = mx.kv.create("dist_sync")
    shapes = {3: (64, 32), 7: (1500, 1000)}
    kv.init(list(shapes), [mx.nd.ones(s) for s in shapes.values()])
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=lr, rescale_grad=1.0))
    outs = {k: mx.nd.zeros(s) for k, s in shapes.items()}
    for r in range(rounds):
        for k, s in shapes.items():
            kv.push(k, mx.nd.ones(s) * ((kv.rank + 1) * (r + 1)))
        for k in shapes:
            kv.pull(k, out=outs[k])
    values = {str(k): [float(v.min().asscalar()), float(v.max().asscalar())]
              for k, v in outs.items()}
    print("RESULT " + json.dumps({"rank": kv.rank, "num_workers": kv.num_workers,
                                  "values": values}))
""")


def test_sync_training_across_namespaces_with_an_impaired_network(topology, tmp_path):
    servers = Servers(str(tmp_path))
    try:
        for shard in ("shard0", "shard1"):
            servers.start(topology, shard, "kvstore", ["--num_workers=2", "--mode=sync"])
        workers = {
            host: servers.start(topology, host, "worker",
                                ["--kvstore=mxgrid-kvstore:%d" % SHARD_PORT])
            for host in ("host0", "host1")}
        script = tmp_path / "train.py"
        script.write_text(SCRIPT)
        clients = []
        for rank, host in enumerate(("host0", "host1")):
            env = dict(os.environ)
            env.update({"MXGRID_WORKER": workers[host], "MXGRID_COMPILER": workers[host],
                        "MXGRID_RANK": str(rank),
                        "MXGRID_NUM_WORKERS": "2", "MXGRID_JOB": "netns",
                        "PYTHONPATH": os.path.join(ROOT, "clients", "python")})
            env.pop("MXGRID_KVSTORE", None)
            clients.append(subprocess.Popen(
                ["ip", "netns", "exec", topology.ns(host), sys.executable, str(script),
                 str(ROUNDS), str(LR)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
        started = time.monotonic()
        outputs = []
        for proc in clients:
            try:
                out, _ = proc.communicate(timeout=240)
            except subprocess.TimeoutExpired:
                for p in clients:
                    p.kill()
                pytest.fail("the job did not finish within 240 s (a hang)")
            outputs.append((proc.returncode, out))
        print("job finished in %.1f s over links with %s" % (time.monotonic() - started,
                                                              topology.impairment))
        for code, out in outputs:
            assert code == 0, out
        # SGD without momentum, lr * the sum over ranks (1 + 2) of (round + 1) per round.
        expected = 1.0 - LR * 3 * ROUNDS * (ROUNDS + 1) / 2
        for _, out in outputs:
            line = [l for l in out.splitlines() if l.startswith("RESULT ")][-1]
            result = json.loads(line[len("RESULT "):])
            assert result["num_workers"] == 2
            for key, (lo, hi) in result["values"].items():
                assert lo == pytest.approx(expected, rel=1e-5), (key, lo, expected)
                assert hi == pytest.approx(expected, rel=1e-5), (key, hi, expected)
    finally:
        servers.stop()
