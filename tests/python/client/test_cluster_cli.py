"""`python -m mxgrid.cluster start/stop`: servers up on the printed ports, down after stop."""
import os
import subprocess
import sys

import grpc

from conftest import ROOT, _have


def test_cli_start_stop(tmp_path):
    import pytest
    if not (_have("compiler") and _have("kvstore")):
        pytest.skip("server binaries not built")
    workers = "1" if _have("worker") else "0"
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "clients", "python"))
    run = lambda *a: subprocess.run([sys.executable, "-m", "mxgrid.cluster", *a],  # noqa
                                    env=env, capture_output=True, text=True, timeout=60)
    out = run("start", "--workers", workers, "--kvstore", "1", "--dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    exports = dict(line[len("export "):].split("=", 1) for line in out.stdout.splitlines()
                   if line.startswith("export "))
    from mxgrid.cluster import wait_serving
    try:
        wait_serving(exports["MXGRID_COMPILER"], timeout=5)
        wait_serving(exports["MXGRID_KVSTORE"], timeout=5)
        assert (tmp_path / "cluster.json").exists() and (tmp_path / "compiler.log").exists()
    finally:
        stop = run("stop", "--dir", str(tmp_path))
    assert stop.returncode == 0, stop.stderr
    assert not (tmp_path / "cluster.json").exists()
    with grpc.insecure_channel(exports["MXGRID_COMPILER"]) as ch:
        try:
            grpc.channel_ready_future(ch).result(timeout=0.5)
            up = True
        except grpc.FutureTimeoutError:
            up = False
    assert not up
