"""mxgrid: MXNet's Python programming model on the mxgrid services.

``import mxgrid as mx`` and write MXNet 1.x code: ``mx.nd`` arrays live on a remote
mxgrid-worker, ``mx.sym`` graphs are built by the mxgrid-compiler, ``mx.kv`` stores are
hosted by the worker (local/device) or by mxgrid-kvstore shards (dist_*).

Connect with ``mx.connect(worker='host:port', compiler='host:port', kvstore=[...])`` or the
MXGRID_WORKER / MXGRID_COMPILER / MXGRID_KVSTORE environment variables; with neither, the
first call starts an embedded local cluster from the built binaries and stops it at exit.
"""
import importlib

__version__ = "1.9.1"

from . import base
from .base import MXNetError
from . import context
from .context import Context, cpu, gpu, cpu_pinned, current_context
from . import connection
from .connection import connect, disconnect
from ._security import Security
from . import name
from . import ndarray
from . import ndarray as nd
from . import symbol
from . import symbol as sym
from . import executor
from . import optimizer
from . import kvstore
from . import kvstore as kv
from .util import is_np_shape, set_np_shape, np_shape, use_np_shape
from . import ndarray_random
from . import symbol_random
from . import random
from . import autograd
from . import ndarray_contrib
from . import symbol_contrib
from . import ndarray_linalg
from . import ndarray_sparse
from . import symbol_linalg
from .cached_op import CachedOp

ndarray.random = ndarray_random  # mx.nd.random, as MXNet's ndarray/random.py
symbol.random = symbol_random  # mx.sym.random
ndarray.contrib = ndarray_contrib  # mx.nd.contrib: _contrib_* operators and isinf/isnan/...
symbol.contrib = symbol_contrib
ndarray.linalg = ndarray_linalg  # mx.nd.linalg: _linalg_* operators
ndarray.sparse = ndarray_sparse  # mx.nd.sparse: row_sparse and csr arrays
symbol.linalg = symbol_linalg
ndarray.CachedOp = CachedOp  # mx.nd.CachedOp

AttrScope = name.AttrScope

# The training API, imported on first use (a plain NDArray/Symbol script never loads it).
_LAZY = {"mod": "module", "module": "module", "io": "io", "metric": "metric",
         "model": "model", "callback": "callback",
         "init": "initializer", "initializer": "initializer", "runtime": "runtime",
         "util": "util", "test_utils": "test_utils", "lr_scheduler": "lr_scheduler",
         "gluon": "gluon"}
_LAZY["rnn"] = "rnn"
_LAZY["mon"] = _LAZY["monitor"] = "monitor"
_LAZY["viz"] = _LAZY["visualization"] = "visualization"
_LAZY["recordio"] = "recordio"


def __getattr__(attr):
    if attr == "LocalCluster":  # not imported eagerly: `python -m mxgrid.cluster` runs it
        from .cluster import LocalCluster
        return LocalCluster
    target = _LAZY.get(attr)
    if target is None:
        raise AttributeError("module 'mxgrid' has no attribute '%s'" % attr)
    module = importlib.import_module("." + target, __name__)
    globals()[attr] = module
    return module
