"""Host-side transfers of mx.nd arrays: MXNet's .params files (save / load /
load_frombuffer, byte-compatible, through _ndarray_io.py; local, file:// and s3:// names
through _filesys.py), DLPack capsules
(to_dlpack_for_read / to_dlpack_for_write / from_dlpack, through _dlpack.py) and
from_numpy. Re-exported by ndarray.py, which this module imports lazily (it defines
NDArray and the upload path).

Thread-safety: as ndarray.py's functions.
"""
import struct

import numpy as np

from . import _dlpack
from . import _filesys
from . import connection
from . import util as _util
from ._ndarray_io import SparseValue, dumps_list, loads_list
from .base import MXNetError
from .context import Context, cpu, current_context

__all__ = ["save", "load", "load_frombuffer", "from_numpy", "from_dlpack",
           "to_dlpack_for_read", "to_dlpack_for_write"]


def _nd():
    from . import ndarray  # ndarray.py imports this module at its end
    return ndarray


def to_dlpack_for_read(data):
    """mx.nd.to_dlpack_for_read: data.to_dlpack_for_read()."""
    return data.to_dlpack_for_read()


def to_dlpack_for_write(data):
    """mx.nd.to_dlpack_for_write: data.to_dlpack_for_write()."""
    return data.to_dlpack_for_write()


def from_dlpack(dlpack):
    """A new NDArray with the values of a DLPack capsule (consumed), on cpu(0)."""
    return _nd()._upload(connection.get(), _dlpack.from_capsule(dlpack), cpu(0))


def from_numpy(ndarray, zero_copy=True):
    """An NDArray with the values of a C-contiguous numpy array (ValueError otherwise), as
    mx.nd.from_numpy. The values are copied to the worker; with zero_copy (MXNet's default)
    the numpy array is made read-only, as MXNet does when it takes the buffer over."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError("from_numpy takes a numpy.ndarray, got %s" % type(ndarray))
    if not ndarray.flags["C_CONTIGUOUS"]:
        raise ValueError("Only c-contiguous arrays are supported for zero-copy")
    if ndarray.dtype not in _nd()._NP_TO_PB:
        raise ValueError("from_numpy: dtype %s is not supported" % ndarray.dtype)
    out = _nd()._upload(connection.get(), ndarray, current_context())
    if zero_copy:
        ndarray.flags["WRITEABLE"] = False
    return out


def _host_value(a):
    """numpy values of a dense array; a SparseValue of a sparse one's parts."""
    if a.stype == "default":
        return a.asnumpy()
    parts = [p.asnumpy() for p in a._parts()]
    return SparseValue(1 if a.stype == "row_sparse" else 2, a.shape, parts[0], parts[1:])


def _sparse_from_value(value, ctx):
    """A sparse NDArray on ``ctx`` from a SparseValue."""
    from . import ndarray_sparse  # pylint: disable=import-outside-toplevel
    return ndarray_sparse._make("row_sparse" if value.stype == 1 else "csr", value.shape,
                                value.data, value.aux, ctx, value.data.dtype)


def save(fname, data):
    """Writes NDArrays (one, a list, or a str-keyed dict) in MXNet's .params format to a
    local path, file:// or s3://bucket/key (see _filesys.py)."""
    if isinstance(data, _nd().NDArray):
        data = [data]
    if isinstance(data, dict):
        names = list(data.keys())
        arrays = [data[k] for k in names]
        if not all(isinstance(k, str) for k in names):
            raise ValueError("save only accepts dict str->NDArray or list of NDArray")
    elif isinstance(data, (list, tuple)):
        names, arrays = [], list(data)
    else:
        raise ValueError("data needs to either be a NDArray, dict of str, NDArray pairs "
                         "or a list of NDarrays.")
    if not all(isinstance(a, _nd().NDArray) for a in arrays):
        raise ValueError("save only accepts dict str->NDArray or list of NDArray")
    try:
        blob = dumps_list([_host_value(a) for a in arrays], names,
                          [(a.context.device_typeid, a.context.device_id) for a in arrays],
                          np_shape=_util.is_np_shape())
    except ValueError as e:
        raise MXNetError("save: %s" % e)
    _filesys.write_bytes(fname, blob)


def load(fname, ctx=None):
    """Reads a .params file: a list of NDArrays, or a dict when the file has names."""
    return load_frombuffer(_filesys.read_bytes(fname), ctx)


def load_frombuffer(buf, ctx=None):
    """Arrays from the bytes of a .params file (as load); MXNetError for bytes that are not
    a complete file of MXNet's format, or were saved in the other shape semantics."""
    try:
        records, names = loads_list(buf, np_shape=_util.is_np_shape())
    except (ValueError, struct.error) as e:
        raise MXNetError("load: %s" % e)
    conn = connection.get()
    gpus = None
    arrays = []
    for arr, dev_type, dev_id in records:
        if arr is None:
            raise MXNetError("the file holds an empty ('none') NDArray, which mxgrid cannot "
                             "represent")
        where = ctx
        if where is None:
            where = cpu(0)
            if dev_type == 2:
                if gpus is None:
                    gpus = sum(1 for d in conn.list_devices() if d.context.type == 2)
                if dev_id < gpus:
                    where = Context("gpu", dev_id)
        if isinstance(arr, SparseValue):
            arrays.append(_sparse_from_value(arr, where))
        else:
            arrays.append(_nd()._upload(conn, arr, where))
    return dict(zip(names, arrays)) if names else arrays
