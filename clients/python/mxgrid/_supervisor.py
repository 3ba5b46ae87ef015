"""``python -m mxgrid.cluster start|stop|supervise``: a detached local cluster that reports how
its servers ended.

``start`` launches a supervisor (``supervise``, fully detached: its own session, stdio on
``supervisor.log``) and returns once the supervisor says the servers are SERVING. The
supervisor is the servers' parent: it reaps each one as it exits and records the exit
status in the state dir, so a crashed server is never a zombie that still looks alive.
``stop`` asks the supervisor to stop the servers (SIGTERM to it), then prints one line per
server::

    worker0 127.0.0.1:41235 stopped
    kvstore0 127.0.0.1:41237 had already died: killed by signal 9 (SIGKILL)

and exits with status 1 when any server had died before it. Should the supervisor itself be
gone, ``stop`` signals the servers by pid, telling a dead one (gone, a zombie in
``/proc/PID/stat`` state Z, or its pid reused by another process) from a live one.

State dir files:
    cluster.json     addresses, and pid + start time of every server and of the supervisor
    exits.json       {name: {"status": Popen-style returncode (-N: signal N),
                     "before_stop": bool, "killed": bool}}, written by the supervisor
    supervisor.log   the supervisor's log; <name>.log each server's

Thread-safety: each command runs in its own process, single-threaded.
"""
import json
import os
import signal
import subprocess
import sys
import time

from .base import MXNetError

__all__ = ["proc_state", "describe_status", "start", "stop", "supervise"]

STATE_FILE = "cluster.json"
EXITS_FILE = "exits.json"
LOG_FILE = "supervisor.log"
STOP_TIMEOUT = 15.0   # seconds a server has to exit after SIGTERM before SIGKILL
SUPERVISOR_TIMEOUT = STOP_TIMEOUT + 15.0


# -- /proc ----------------------------------------------------------------------------------
def proc_state(pid):
    """(state letter, start time in clock ticks, waitpid-style exit code) of ``pid`` from
    /proc/PID/stat, or None when there is no such process. The exit code is meaningful
    for a zombie (state 'Z') only."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rpartition(")")[2].split()  # the command name may hold spaces and ')'
    # fields[0] is field 3 of proc(5): state; starttime is field 22, exit_code field 52.
    exit_code = int(fields[49]) if len(fields) > 49 else 0
    return fields[0], int(fields[19]), exit_code


def _running(pid, start_time):
    """Whether ``pid`` is still the process that started at ``start_time`` and has not
    exited (a zombie has)."""
    st = proc_state(pid)
    return st is not None and st[1] == start_time and st[0] not in ("Z", "X", "x")


def _status_from_wait(code):
    """A waitpid status as a Popen returncode (-N: killed by signal N)."""
    if os.WIFSIGNALED(code):
        return -os.WTERMSIG(code)
    return os.WEXITSTATUS(code)


def describe_status(returncode):
    """'killed by signal 11 (SIGSEGV)' or 'exited with status 1'."""
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return "killed by signal %d (%s)" % (-returncode, name)
    return "exited with status %d" % returncode


def _write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _log(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), msg))
    sys.stderr.flush()


# -- supervise ------------------------------------------------------------------------------
class _Supervisor:
    """Runs in the detached supervisor process: reaps the servers and records their ends."""

    def __init__(self, state_dir, cluster):
        self.state_dir = state_dir
        self.cluster = cluster
        self.exits = {}

    def _record(self, name, pid, status, before_stop, killed=False):
        self.exits[name] = {"pid": pid, "status": status, "before_stop": before_stop,
                            "killed": killed}
        _write_json(os.path.join(self.state_dir, EXITS_FILE), self.exits)

    def reap(self):
        """Records every server that exited since the last call; True while any runs."""
        running = False
        for name, proc in self.cluster.processes:
            if name in self.exits:
                continue
            if proc.poll() is None:
                running = True
                continue
            self._record(name, proc.pid, proc.returncode, before_stop=True)
            _log("%s %s (pid %d) died: %s" % (name, self.cluster.addresses[name], proc.pid,
                                               describe_status(proc.returncode)))
        return running

    def stop(self):
        """Stops the servers still running (LocalCluster.stop) and records how they ended."""
        self.reap()
        pids = self.cluster.pids
        _log("stopping the servers still running")
        for name, (status, killed) in self.cluster.stop(STOP_TIMEOUT).items():
            if name not in self.exits:
                self._record(name, pids[name], status, before_stop=False, killed=killed)


def supervise(args):
    """The supervisor's main: starts the cluster, writes cluster.json, writes 'ready' to
    ``args.ready_fd`` and closes it, then reaps the servers until SIGTERM / SIGINT (stop
    them) or until none is left."""
    from .cluster import LocalCluster
    state_dir = os.path.abspath(args.dir)
    watched = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
    stop = []
    # Until the signals are blocked below, a stop request is remembered by a handler.
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    cluster = LocalCluster(args.workers, args.kvstore, log_dir=state_dir, mode=args.mode)
    try:
        cluster.start()
    except MXNetError as err:
        _log("the cluster did not start: %s" % err)
        sys.exit(1)
    # Blocked only now: the servers must not inherit a blocked SIGTERM.
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    sup = _Supervisor(state_dir, cluster)
    me = proc_state(os.getpid())
    servers = []
    for name, proc in cluster.processes:
        st = proc_state(proc.pid)
        servers.append({"name": name, "address": cluster.addresses[name], "pid": proc.pid,
                        "start_time": st[1] if st else None})
    state = {"compiler": cluster.compiler, "workers": cluster.workers,
             "kvstore": cluster.kvstore, "pids": cluster.pids, "servers": servers,
             "supervisor": {"pid": os.getpid(), "start_time": me[1]}}
    _write_json(os.path.join(state_dir, STATE_FILE), state)
    _log("supervising %s" % ", ".join("%s %s (pid %d)" % (s["name"], s["address"], s["pid"])
                                      for s in servers))
    if args.ready_fd is not None:
        os.write(args.ready_fd, b"ready\n")
        os.close(args.ready_fd)
    while not stop:
        if not sup.reap():
            _log("every server has exited; the supervisor ends")
            return
        info = signal.sigwaitinfo(watched)
        if info.si_signo in (signal.SIGTERM, signal.SIGINT):
            stop.append(True)
    sup.stop()
    _log("stopped")


# -- start ----------------------------------------------------------------------------------
def start(args):
    """``start``: launches the supervisor and prints the addresses once they serve."""
    state_dir = os.path.abspath(args.dir)
    os.makedirs(state_dir, exist_ok=True)
    if os.path.exists(os.path.join(state_dir, STATE_FILE)):
        sys.exit("a cluster state file already exists in %s; run stop first" % state_dir)
    exits = os.path.join(state_dir, EXITS_FILE)
    if os.path.exists(exits):
        os.remove(exits)  # left by an earlier cluster
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    read_fd, write_fd = os.pipe()
    log_path = os.path.join(state_dir, LOG_FILE)
    with open(log_path, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "mxgrid.cluster", "supervise", "--dir", state_dir,
             "--workers", str(args.workers), "--kvstore", str(args.kvstore),
             "--mode", args.mode, "--ready-fd", str(write_fd)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=(write_fd,),
            cwd=state_dir, env=env, start_new_session=True)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as ready:
        said = ready.read()  # EOF once the supervisor is ready, or has failed
    state = _read_json(os.path.join(state_dir, STATE_FILE))
    if said != b"ready\n" or state is None:
        with open(log_path, errors="replace") as f:
            tail = f.read()[-4000:]
        sys.exit("the cluster did not start; %s says:\n%s" % (log_path, tail))
    print("compiler %s" % state["compiler"])
    for i, w in enumerate(state["workers"]):
        print("worker%d %s" % (i, w))
    for i, k in enumerate(state["kvstore"]):
        print("kvstore%d %s" % (i, k))
    print("logs and state in %s (supervisor pid %d)" % (state_dir, state["supervisor"]["pid"]))
    env = {"MXGRID_COMPILER": state["compiler"]}
    if state["workers"]:
        env["MXGRID_WORKER"] = state["workers"][0]
    if state["kvstore"]:
        env["MXGRID_KVSTORE"] = ",".join(state["kvstore"])
        env["MXGRID_NUM_WORKERS"] = str(max(1, len(state["workers"])))
        env["MXGRID_RANK"] = "0"
    for key, value in env.items():
        print("export %s=%s" % (key, value))


# -- stop -----------------------------------------------------------------------------------
def _wait_gone(pid, start_time, timeout):
    """Waits until ``pid`` (not our child: nothing to wait on) has exited; True if it did."""
    deadline = time.monotonic() + timeout
    while _running(pid, start_time):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling a foreign process
    return True


def _stop_by_pid(servers, exits):
    """Without a supervisor: SIGTERM to each live server, SIGKILL after STOP_TIMEOUT; a dead
    one's status comes from its zombie's /proc entry when there is one."""
    live = []
    for s in servers:
        if s["name"] in exits:
            continue
        st = proc_state(s["pid"])
        if st is None or (s["start_time"] is not None and st[1] != s["start_time"]):
            exits[s["name"]] = {"status": None, "before_stop": True}  # reaped elsewhere
        elif st[0] in ("Z", "X", "x"):
            exits[s["name"]] = {"status": _status_from_wait(st[2]), "before_stop": True}
        else:
            os.kill(s["pid"], signal.SIGTERM)
            live.append(s)
    deadline = time.monotonic() + STOP_TIMEOUT
    for s in live:
        start_time = s["start_time"] or proc_state(s["pid"])[1]
        killed = not _wait_gone(s["pid"], start_time, max(0.1, deadline - time.monotonic()))
        if killed:
            os.kill(s["pid"], signal.SIGKILL)
        exits[s["name"]] = {"status": None, "before_stop": False, "killed": killed}


def stop(args):
    """``stop``: stops the cluster, prints how each server ended; 1 if any had died."""
    state_dir = os.path.abspath(args.dir)
    state = _read_json(os.path.join(state_dir, STATE_FILE))
    if state is None:
        sys.exit("no cluster state in %s" % args.dir)
    servers = state.get("servers") or [  # a state file written before the supervisor
        {"name": n, "address": "", "pid": p, "start_time": None}
        for n, p in state["pids"].items()]
    sup = state.get("supervisor")
    if sup is not None and _running(sup["pid"], sup["start_time"]):
        os.kill(sup["pid"], signal.SIGTERM)
        if not _wait_gone(sup["pid"], sup["start_time"], SUPERVISOR_TIMEOUT):
            print("the supervisor (pid %d) did not stop within %.0f s; killed it" % (
                sup["pid"], SUPERVISOR_TIMEOUT), file=sys.stderr)
            os.kill(sup["pid"], signal.SIGKILL)
    exits = _read_json(os.path.join(state_dir, EXITS_FILE)) or {}
    _stop_by_pid(servers, exits)
    died = 0
    for s in servers:
        rec = exits[s["name"]]
        label = ("%s %s" % (s["name"], s["address"])).strip()
        if rec["before_stop"]:
            died += 1
            print("%s had already died: %s" % (label, describe_status(rec["status"])))
        elif rec.get("killed"):
            print("%s stopped (killed: still running %.0f s after SIGTERM)" % (
                label, STOP_TIMEOUT))
        elif rec["status"] not in (None, 0, -signal.SIGTERM):
            print("%s stopped (on SIGTERM it %s)" % (label, describe_status(rec["status"])))
        else:
            print("%s stopped" % label)
    for name in (STATE_FILE, EXITS_FILE):
        path = os.path.join(state_dir, name)
        if os.path.exists(path):
            os.remove(path)
    if died:
        print("%d of %d servers had already died; logs in %s" % (died, len(servers), state_dir))
        sys.exit(1)
