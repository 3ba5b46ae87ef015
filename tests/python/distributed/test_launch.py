"""tools/launch: the environment each rank gets, prefixed output, the first failing exit
status, and teardown of every server when the job ends."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

import dist_helpers as dh

pytestmark = pytest.mark.skipif(bool(dh.missing_binaries()),
                                reason="server binaries not built: %s (bazel build "
                                "//services/...)" % dh.missing_binaries())

LAUNCH = os.path.join(dh.ROOT, "tools", "launch")
ENV_KEYS = ("MXGRID_WORKER", "MXGRID_COMPILER", "MXGRID_KVSTORE", "MXGRID_RANK",
            "MXGRID_NUM_WORKERS", "MXGRID_JOB", "DMLC_ROLE", "DMLC_NUM_WORKER",
            "DMLC_NUM_SERVER")


def _addresses(stderr):
    """The shard and worker addresses the launcher announced."""
    m = re.search(r"shard\(s\) (\S+), \d+ worker\(s\) (\S+);", stderr)
    assert m, stderr
    return m.group(1).split(",") + m.group(2).split(",")


def _refused(address):
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(2.0)
        return s.connect_ex((host, int(port))) != 0


def _launch(args, timeout=60):
    return subprocess.run([sys.executable, LAUNCH] + args, env=dh.base_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_ranks_get_their_environment_and_prefixed_output(tmp_path):
    code = "import os; print(' '.join(k + '=' + str(os.environ.get(k)) for k in %r))" % (
        ENV_KEYS,)
    proc = _launch(["-n", "2", "-s", "3", "--job", "envjob", "--log-dir", str(tmp_path),
                    sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    shards_workers = _addresses(proc.stderr)
    shards, workers = shards_workers[:3], shards_workers[3:]
    lines = {l[:8]: dict(kv.split("=", 1) for kv in l[9:].split())
             for l in proc.stdout.splitlines()}
    for r in (0, 1):
        env = lines["[rank %d]" % r]
        assert env["MXGRID_RANK"] == str(r) and env["MXGRID_NUM_WORKERS"] == "2"
        assert env["MXGRID_WORKER"] == workers[r] == env["MXGRID_COMPILER"]
        assert env["MXGRID_KVSTORE"] == ",".join(shards)
        assert env["MXGRID_JOB"] == "envjob" and env["DMLC_ROLE"] == "worker"
        assert env["DMLC_NUM_WORKER"] == "2" and env["DMLC_NUM_SERVER"] == "3"
    assert all(_refused(a) for a in shards_workers), "a server outlived the launcher"


def test_first_failure_is_the_exit_status_and_stops_the_rest(tmp_path):
    code = ("import os, sys, time\n"
            "if os.environ['MXGRID_RANK'] == '1':\n"
            "    print('rank one fails', file=sys.stderr); sys.exit(3)\n"
            "time.sleep(120)\n")
    tic = time.monotonic()
    proc = _launch(["-n", "2", "-s", "1", "--grace", "3", "--log-dir", str(tmp_path),
                    sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "[rank 1] rank one fails" in proc.stderr
    assert time.monotonic() - tic < 30, "rank 0 was not stopped"
    assert all(_refused(a) for a in _addresses(proc.stderr))


@pytest.mark.parametrize("signum,status", [(signal.SIGTERM, 128 + signal.SIGTERM),
                                           (signal.SIGINT, 130)])
def test_signal_tears_the_job_down(tmp_path, signum, status):
    """SIGTERM, or Ctrl-C (SIGINT), to the launcher stops the commands and the servers."""
    proc = subprocess.Popen([sys.executable, LAUNCH, "-n", "1", "-s", "1", "--grace", "3",
                             "--log-dir", str(tmp_path), sys.executable, "-c",
                             "import time; print('up', flush=True); time.sleep(120)"],
                            env=dh.base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "[rank 0] up"
        proc.send_signal(signum)
        # Teardown is bounded by --grace per stage (commands, then each server) plus the
        # output pumps; 90 s leaves room on a loaded 2-core machine (30 s once ran out).
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert all(_refused(a) for a in _addresses(err))


RESUME = """
import mxgrid as mx
kv = mx.kv.create("dist_sync")
kv.set_optimizer(mx.optimizer.SGD(learning_rate=1.0, rescale_grad=1.0))
kv.init("w", mx.nd.zeros((3,)))
out = mx.nd.zeros((3,))
kv.pull("w", out=out)
before = out.asnumpy()[0]
kv.push("w", mx.nd.ones((3,)))
kv.pull("w", out=out)
print("restored_round=%d before=%g after=%g" % (kv.restored_round, before, out.asnumpy()[0]))
"""


def test_state_dir_resumes_the_job(tmp_path):
    """--state-dir: the shards snapshot at teardown (SIGTERM); a second launch with the same
    directory and job resumes from the stored weights, as the store reports."""
    state = str(tmp_path / "state")
    runs = []
    for i in range(2):
        proc = _launch(["-n", "1", "-s", "2", "--job", "resume", "--state-dir", state,
                        "--log-dir", str(tmp_path / ("logs%d" % i)), sys.executable, "-c",
                        RESUME])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        runs.append(proc.stdout.strip())
    assert runs[0] == "[rank 0] restored_round=0 before=0 after=-1", runs
    assert runs[1] == "[rank 0] restored_round=1 before=-1 after=-2", runs
    assert sorted(os.listdir(state)) == ["shard0", "shard1"]
