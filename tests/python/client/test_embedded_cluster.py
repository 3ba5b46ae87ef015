"""With no MXGRID_* variables, `import mxgrid as mx` starts an embedded cluster on first use
(one worker process serving the compiler too; a kvstore shard once a dist kvstore needs one)
and stops it at exit."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT, _have

SCRIPT = r"""
import os, sys
import mxgrid as mx
a = mx.nd.ones((2, 3)) * 2
print(a.asnumpy().tolist())
c = mx.connection._cluster
print("SERVERS", " ".join(sorted(c.pids)))
kv = mx.kv.create("dist_sync")
kv.init(3, mx.nd.ones((2,)))
out = mx.nd.zeros((2,))
kv.pull(3, out=out)
print(out.asnumpy().tolist())
print("PIDS", " ".join(str(p) for p in c.pids.values()))
"""


def test_embedded_cluster_starts_and_stops():
    if not all(_have(s) for s in ("compiler", "worker", "kvstore")):
        pytest.skip("server binaries not built")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MXGRID_")
           or k in ("MXGRID_BAZEL_BIN", "MXGRID_BIN_DIR")}
    env["PYTHONPATH"] = os.path.join(ROOT, "clients", "python")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Exception ignored" not in out.stderr and "Traceback" not in out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "[[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]"
    assert lines[1] == "SERVERS worker0"
    assert lines[2] == "[1.0, 1.0]"
    pids = [int(p) for p in lines[3].split()[1:]]
    assert len(pids) == 2  # the worker and the shard started for the dist kvstore
    for pid in pids:  # the atexit hook waited for each server to exit
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
