"""`python -m mxgrid.cluster start/stop`: servers up on the printed ports, down after stop, and
servers that died before stop reported with how they ended."""
import json
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest

from conftest import ROOT, _have
from mxgrid import _supervisor


def _run(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "clients", "python"))
    return subprocess.run([sys.executable, "-m", "mxgrid.cluster", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def started(tmp_path):
    """A cluster started by the CLI in tmp_path (compiler, one kvstore shard and, when
    built, one worker); stopped at the end if the test did not."""
    if not (_have("compiler") and _have("kvstore")):
        pytest.skip("server binaries not built")
    workers = "1" if _have("worker") else "0"
    out = _run("start", "--workers", workers, "--kvstore", "1", "--dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "cluster.json") as f:
        state = json.load(f)
    state["stdout"] = out.stdout
    yield state
    if (tmp_path / "cluster.json").exists():
        _run("stop", "--dir", str(tmp_path))


def _up(address):
    with grpc.insecure_channel(address) as ch:
        try:
            grpc.channel_ready_future(ch).result(timeout=0.5)
            return True
        except grpc.FutureTimeoutError:
            return False


def _wait_dead(pid):
    """Until ``pid`` has exited (gone or a zombie)."""
    deadline = time.monotonic() + 10
    while True:
        st = _supervisor.proc_state(pid)
        if st is None or st[0] == "Z":
            return
        assert time.monotonic() < deadline, "pid %d did not die" % pid
        time.sleep(0.02)  # polling another process's state: nothing to wait on


def test_cli_start_stop(started, tmp_path):
    exports = dict(line[len("export "):].split("=", 1) for line in started["stdout"].splitlines()
                   if line.startswith("export "))
    from mxgrid.cluster import wait_serving
    wait_serving(exports["MXGRID_COMPILER"], timeout=5)
    wait_serving(exports["MXGRID_KVSTORE"], timeout=5)
    assert (tmp_path / "compiler.log").exists() and (tmp_path / "supervisor.log").exists()
    # The supervisor is the servers' parent, in a session of its own.
    sup = started["supervisor"]["pid"]
    for s in started["servers"]:
        with open("/proc/%d/stat" % s["pid"]) as f:
            assert int(f.read().rpartition(")")[2].split()[1]) == sup
    assert os.getsid(sup) == sup
    stop = _run("stop", "--dir", str(tmp_path))
    assert stop.returncode == 0, stop.stdout + stop.stderr
    for s in started["servers"]:
        assert "%s %s stopped\n" % (s["name"], s["address"]) in stop.stdout
    assert not (tmp_path / "cluster.json").exists()
    assert not _up(exports["MXGRID_COMPILER"])
    assert _supervisor.proc_state(sup) is None or _supervisor.proc_state(sup)[0] == "Z"


def test_stop_reports_servers_that_died_with_their_signal(started, tmp_path):
    by_name = {s["name"]: s for s in started["servers"]}
    victims = {"kvstore0": signal.SIGKILL}
    if "worker0" in by_name:
        victims["worker0"] = signal.SIGSEGV
    for name, sig in victims.items():
        os.kill(by_name[name]["pid"], sig)
    for name in victims:
        _wait_dead(by_name[name]["pid"])
    stop = _run("stop", "--dir", str(tmp_path))
    assert stop.returncode == 1, stop.stdout + stop.stderr
    c = by_name["compiler"]
    assert "compiler %s stopped\n" % c["address"] in stop.stdout
    k = by_name["kvstore0"]
    assert "kvstore0 %s had already died: killed by signal 9 (SIGKILL)\n" % k["address"] \
        in stop.stdout
    if "worker0" in by_name:
        w = by_name["worker0"]
        assert "worker0 %s had already died: killed by signal 11 (SIGSEGV)\n" % w["address"] \
            in stop.stdout
    assert "%d of %d servers had already died" % (len(victims), len(by_name)) in stop.stdout
    assert not _up(c["address"])
    assert not (tmp_path / "cluster.json").exists()


def test_stop_without_its_supervisor_still_tells_dead_from_stopped(started, tmp_path):
    by_name = {s["name"]: s for s in started["servers"]}
    os.kill(started["supervisor"]["pid"], signal.SIGKILL)
    _wait_dead(started["supervisor"]["pid"])
    k = by_name["kvstore0"]
    os.kill(k["pid"], signal.SIGKILL)
    _wait_dead(k["pid"])
    stop = _run("stop", "--dir", str(tmp_path))
    assert stop.returncode == 1, stop.stdout + stop.stderr
    # Reaped by init, or a zombie nobody reaps (its status then comes from /proc).
    assert any(("kvstore0 %s had already died: %s\n" % (k["address"], how)) in stop.stdout
               for how in ("killed by signal 9 (SIGKILL)", "exit status unknown")), stop.stdout
    c = by_name["compiler"]
    assert "compiler %s stopped\n" % c["address"] in stop.stdout
    assert not _up(c["address"])


def test_a_zombie_counts_as_dead_with_its_exit_status():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        os.kill(proc.pid, signal.SIGSEGV)
        deadline = time.monotonic() + 10
        while _supervisor.proc_state(proc.pid)[0] != "Z":  # not reaped: we do not wait()
            assert time.monotonic() < deadline
            time.sleep(0.01)  # polling the child's state without reaping it
        state, start_time, exit_code = _supervisor.proc_state(proc.pid)
        assert not _supervisor._running(proc.pid, start_time)
        assert _supervisor._status_from_wait(exit_code) == -signal.SIGSEGV
    finally:
        proc.kill()
        proc.wait()
    assert _supervisor.describe_status(-11) == "killed by signal 11 (SIGSEGV)"
    assert _supervisor.describe_status(1) == "exited with status 1"
