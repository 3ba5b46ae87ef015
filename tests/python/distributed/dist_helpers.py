"""Helpers of the distributed-training tests: a LocalCluster of mxgrid-workers (each the
parameter-server client of its rank, given the shards with --kvstore) and mxgrid-kvstore
shards on loopback, and the rank processes that run a scenario of ``ranks.py`` against it.

Every wait is bounded: a rank process that outlives its timeout is killed and the test fails.
(Named dist_helpers, not conftest, so that no module name clashes with tests/python/client.)
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                     ".."))
CLIENT = os.path.join(ROOT, "clients", "python")
sys.path.insert(0, CLIENT)

import mxgrid  # noqa: E402
from mxgrid import cluster as mxcluster  # noqa: E402

RANKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ranks.py")


def missing_binaries():
    """Services whose binaries are not built (the tests skip then)."""
    missing = []
    for service in ("worker", "kvstore"):
        try:
            mxcluster.find_binary(service)
        except mxgrid.MXNetError:
            missing.append(service)
    return missing


def start_cluster(log_dir, num_workers=2, num_kvstore=2, mode="sync"):
    """Shards first, then workers that know them (as tools/launch starts a job)."""
    return mxcluster.LocalCluster(num_workers=num_workers, num_kvstore=num_kvstore,
                                  log_dir=str(log_dir), mode=mode, separate_compiler=False,
                                  metrics=False, worker_kvstore=True).start()


def new_job(name):
    return "%s-%s" % (name, uuid.uuid4().hex[:8])


def base_env():
    """This process's environment without MXGRID_* / DMLC_* settings (but where the
    binaries are)."""
    keep = ("MXGRID_BAZEL_BIN", "MXGRID_BIN_DIR")
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("MXGRID_", "DMLC_")) and k not in keep)}
    env["PYTHONPATH"] = CLIENT
    return env


def rank_env(cluster, rank, job, num_workers, extra=None):
    env = base_env()
    env.update(cluster.env(rank))
    env.update({"MXGRID_JOB": job, "MXGRID_RANK": str(rank),
                "MXGRID_NUM_WORKERS": str(num_workers)})
    env.update(extra or {})
    return env


class Ranks:
    """The rank processes of one scenario: start(), then wait() (or kill one first)."""

    def __init__(self, cluster, scenario, out_dir, job, num_workers, args=(), env=None,
                 timeout=60.0):
        self.out_dir = str(out_dir)
        self.timeout = timeout
        os.makedirs(self.out_dir, exist_ok=True)
        self.procs = []
        for rank in range(num_workers):
            self.procs.append(subprocess.Popen(
                [sys.executable, RANKS, scenario, self.out_dir] + [str(a) for a in args],
                env=rank_env(cluster, rank, job, num_workers, env), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True))
        self.started = time.monotonic()

    def kill(self, rank):
        p = self.procs[rank]
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)

    def wait(self):
        """[(returncode, stdout, stderr)] per rank; kills everything after the timeout and
        raises AssertionError then."""
        results = []
        for rank, p in enumerate(self.procs):
            left = max(1.0, self.timeout - (time.monotonic() - self.started))
            try:
                out, err = p.communicate(timeout=left)
            except subprocess.TimeoutExpired:
                for q in self.procs:
                    if q.poll() is None:
                        os.killpg(q.pid, signal.SIGKILL)
                out, err = p.communicate()
                raise AssertionError("rank %d did not finish within %.0f s (a hang)\n"
                                     "stdout:\n%s\nstderr:\n%s" % (rank, self.timeout,
                                                                   out[-3000:], err[-3000:]))
            results.append((p.returncode, out, err))
        return results

    def wait_ok(self):
        results = self.wait()
        for rank, (rc, out, err) in enumerate(results):
            assert rc == 0, "rank %d exited with %d\nstdout:\n%s\nstderr:\n%s" % (
                rank, rc, out[-3000:], err[-4000:])
        return results

    def result(self, rank):
        with open(os.path.join(self.out_dir, "rank%d.json" % rank)) as f:
            return json.load(f)


def run_ok(cluster, scenario, out_dir, job, num_workers, args=(), env=None, timeout=60.0):
    """Runs a scenario on ``num_workers`` ranks; returns [result of rank r]."""
    ranks = Ranks(cluster, scenario, out_dir, job, num_workers, args, env, timeout)
    ranks.wait_ok()
    return [ranks.result(r) for r in range(num_workers)]
