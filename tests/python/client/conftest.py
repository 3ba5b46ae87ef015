"""Fixtures of the Python client tests: one embedded LocalCluster (compiler, worker, two
kvstore shards) for the whole session, started from $MXGRID_BAZEL_BIN (tools/test sets it) or
<repo>/bazel-bin, and the mxgrid client connected to it."""
import os
import sys

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

import mxgrid  # noqa: E402
from mxgrid import cluster as mxcluster  # noqa: E402


def _have(service):
    try:
        mxcluster.find_binary(service)
        return True
    except mxgrid.MXNetError:
        return False


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory):
    missing = [s for s in ("compiler", "kvstore") if not _have(s)]
    if missing:
        pytest.skip("server binaries not built: %s (bazel build //services/...)" % missing)
    workers = 1 if _have("worker") else 0
    c = mxcluster.LocalCluster(num_workers=workers, num_kvstore=2,
                               log_dir=str(tmp_path_factory.mktemp("cluster")))
    c.start()
    mxgrid.connect(worker=c.workers[0] if workers else None, compiler=c.compiler,
                   kvstore=c.kvstore)
    yield c
    mxgrid.disconnect()
    c.stop()


@pytest.fixture(scope="session")
def mx(local_cluster):
    """The mxgrid package, connected; compiler-only when the worker is not built."""
    return mxgrid


@pytest.fixture(scope="session")
def mxw(local_cluster):
    """The mxgrid package, connected to a worker."""
    if not local_cluster.workers:
        pytest.skip("mxgrid-worker not built (bazel build //services/worker:mxgrid-worker)")
    return mxgrid


@pytest.fixture(scope="session")
def real_mx():
    import mxnet
    return mxnet
