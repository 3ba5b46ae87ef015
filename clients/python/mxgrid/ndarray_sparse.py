"""mx.nd.sparse: row_sparse and csr NDArrays, as MXNet 1.9.1's.

A sparse array lives on the worker under one handle; its parts (values, row ids, indptr and
column indices) are ordinary worker arrays. Making one uploads its parts (never a dense
copy) and assembles them there (MakeSparse); reading one downloads the parts (SparseParts).
Operators take sparse arrays: the worker runs sparse kernels where it has them
(cast_storage, retain, dot(csr, dense), the optimizer updates with row_sparse gradients)
and otherwise computes on dense copies, as MXNet's storage fallback does.

    a = mx.nd.sparse.csr_matrix((data, indices, indptr), shape=(2, 3))
    r = mx.nd.ones((4, 2)).tostype('row_sparse')
    r.indices.asnumpy(), r.data.asnumpy(), r.asnumpy()

Calls on sparse arrays go to the worker synchronously (not through the call pipeline): the
storage of their results is known when the call returns.
"""
import numpy as np

from . import _ndarray_io
from . import connection
from . import ndarray as _nd
from ._proto import pb
from .base import MXNetError
from .ndarray import NDArray, _ctx_of, dtype_from_pb, dtype_to_pb

__all__ = ["BaseSparseNDArray", "CSRNDArray", "RowSparseNDArray", "csr_matrix",
           "row_sparse_array", "zeros", "empty", "array", "retain", "dot", "add",
           "subtract", "multiply", "divide", "adagrad_update"]

_STYPE_PB = {"row_sparse": 2, "csr": 3}
_STYPE_OF_PB = {2: "row_sparse", 3: "csr"}


class BaseSparseNDArray(NDArray):
    """A sparse array held by the worker (row_sparse or csr)."""

    _stype = None

    @property
    def stype(self):
        return self._stype

    def __repr__(self):
        shape_info = "x".join(str(x) for x in self.shape)
        return "\n<%s %s @%s>" % (type(self).__name__, shape_info, self.context)

    def _parts(self):
        """(data, aux...) as dense NDArrays sharing the worker's storage."""
        conn = self._conn
        resp = conn.call(conn.require_worker().SparseParts, pb.worker.SparsePartsRequest(
            session=conn.session, handle=self.handle))
        return [NDArray._from_info(resp.data, conn)] + [
            NDArray._from_info(i, conn) for i in resp.aux]

    @property
    def data(self):
        """The stored values."""
        return self._parts()[0]

    def _aux(self, i):
        return self._parts()[1 + i]

    def asnumpy(self):
        """The dense values as a numpy array."""
        return self.tostype("default").asnumpy()

    def astype(self, dtype, copy=True):
        out = zeros(self._stype, self.shape, ctx=self.context, dtype=dtype)
        self.copyto(out)
        return out

    def copy(self):
        return self.copyto(self.context)

    def __setitem__(self, key, value):
        if not (isinstance(key, slice) and key == slice(None)):
            raise MXNetError("sparse arrays only support assignment to the whole array "
                             "(x[:] = value)")
        if isinstance(value, NDArray):
            value.copyto(self)
        elif isinstance(value, np.ndarray):
            _nd.array(value, ctx=self.context, dtype=self.dtype).copyto(self)
        else:
            raise MXNetError("a sparse array takes an NDArray or numpy array, got %s"
                             % type(value).__name__)

    def __getitem__(self, key):
        if isinstance(key, slice) and key == slice(None):
            return self
        if self._stype == "csr" and isinstance(key, (int, slice)):
            dense = self.tostype("default")[key]
            return dense.tostype("csr") if dense.ndim == 2 else dense
        raise MXNetError("%s arrays support only x[:] and csr row slices" % self._stype)

    def __getstate__(self):
        from ._ndarray_transfer import _host_value  # pylint: disable=import-outside-toplevel
        return {"handle": _ndarray_io.dump_record(_host_value(self), self.context.device_typeid,
                                                  self.context.device_id)}

    def __setstate__(self, state):
        from ._ndarray_transfer import _sparse_from_value  # pylint: disable=import-outside-toplevel
        value, _, _ = _ndarray_io.load_record(state["handle"])
        tmp = _sparse_from_value(value, _nd.cpu(0))
        self.__dict__.update(tmp.__dict__)
        tmp._owned = False  # ownership moved to self

    def check_format(self, full_check=True):  # pylint: disable=unused-argument
        """The worker checks the structure when the array is made; nothing to do here."""


class CSRNDArray(BaseSparseNDArray):
    """A 2-D compressed sparse row matrix."""

    _stype = "csr"

    @property
    def indices(self):
        """Column indices (int64)."""
        return self._aux(1)

    @property
    def indptr(self):
        """Row pointers (int64, rows + 1)."""
        return self._aux(0)

    def asscipy(self):
        import scipy.sparse as spsp  # pylint: disable=import-outside-toplevel
        data, indptr, indices = self._parts()
        return spsp.csr_matrix((data.asnumpy(), indices.asnumpy(), indptr.asnumpy()),
                               shape=self.shape)


class RowSparseNDArray(BaseSparseNDArray):
    """A subset of the rows of an array: the row ids and those rows."""

    _stype = "row_sparse"

    @property
    def indices(self):
        """Row ids (int64, increasing)."""
        return self._aux(0)

    def retain(self, indices):
        return retain(self, indices)


_CLASSES = {"csr": CSRNDArray, "row_sparse": RowSparseNDArray}


def _from_info(info, conn, owned=True):
    cls = _CLASSES[_STYPE_OF_PB[info.stype]]
    out = cls.__new__(cls)
    NDArray.__init__(out, info.handle, tuple(info.meta.shape), dtype_from_pb(info.meta.dtype),
                     _nd.Context.from_proto(info.context), conn, owned)
    return out


def _make(stype, shape, data, aux, ctx, dtype):
    """A sparse array from numpy parts (aux in MXNet's order), uploaded and assembled."""
    ctx = _ctx_of(ctx)
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    data_nd = _nd.array(np.asarray(data, dtype=dtype), ctx=ctx, dtype=dtype)
    aux_nd = [_nd.array(np.asarray(a, dtype=np.int64), ctx=ctx, dtype=np.int64) for a in aux]
    conn = data_nd._conn
    info = conn.call(conn.require_worker().MakeSparse, pb.worker.MakeSparseRequest(
        session=conn.session, stype=_STYPE_PB[stype], shape=[int(d) for d in shape],
        data=data_nd.handle, aux=[a.handle for a in aux_nd]))
    return _from_info(info, conn)


def zeros(stype, shape, ctx=None, dtype=None, **kwargs):  # pylint: disable=unused-argument
    """A sparse array of zeros (nothing stored)."""
    if stype == "default":
        return _nd.zeros(shape, ctx=ctx, dtype=dtype)
    if stype not in _STYPE_PB:
        raise MXNetError("unknown storage type %r" % (stype,))
    conn = connection.get()
    ctx = _ctx_of(ctx)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    info = conn.call(conn.require_worker().CreateArray, pb.worker.CreateArrayRequest(
        session=conn.session, context=ctx.to_proto(pb.worker), stype=_STYPE_PB[stype],
        meta=pb.tensor.TensorMeta(dtype=dtype_to_pb(np.dtype(dtype or np.float32)),
                                  shape=shape), fill=0.0))
    return _from_info(info, conn)


def empty(stype, shape, ctx=None, dtype=None):
    return zeros(stype, shape, ctx=ctx, dtype=dtype)


def _infer_dtype(values, dtype):
    if dtype is not None:
        return dtype
    if isinstance(values, NDArray):
        return values.dtype
    if isinstance(values, np.ndarray):
        return values.dtype
    return np.float32


def _as_numpy(x, dtype=None):
    if isinstance(x, NDArray):
        x = x.asnumpy()
    return np.asarray(x, dtype=dtype)


def csr_matrix(arg1, shape=None, ctx=None, dtype=None):
    """A CSRNDArray from (data, indices, indptr), (data, (row, col)), a scipy matrix, a
    dense array, an NDArray or a shape (zeros), as MXNet's."""
    if isinstance(arg1, CSRNDArray):
        return arg1.astype(dtype) if dtype is not None else arg1.copy()
    if isinstance(arg1, tuple) and len(arg1) == 2 and all(isinstance(d, int) for d in arg1):
        return zeros("csr", arg1, ctx=ctx, dtype=dtype)
    try:
        import scipy.sparse as spsp  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover
        spsp = None
    if spsp is not None and spsp.issparse(arg1):
        m = arg1.tocsr()
        m.sum_duplicates()
        m.sort_indices()
        return _make("csr", m.shape, m.data, [m.indptr, m.indices], ctx,
                     _infer_dtype(m.data, dtype))
    if isinstance(arg1, tuple) and len(arg1) == 3:
        data, indices, indptr = arg1
        dtype = _infer_dtype(data, dtype)
        data, indices, indptr = (_as_numpy(data, dtype), _as_numpy(indices, np.int64),
                                 _as_numpy(indptr, np.int64))
        if shape is None:
            shape = (len(indptr) - 1, int(indices.max()) + 1 if indices.size else 0)
        if spsp is not None:  # rows with unsorted or repeated columns are normalized
            m = spsp.csr_matrix((data, indices, indptr), shape=shape)
            m.sum_duplicates()
            m.sort_indices()
            data, indptr, indices = m.data, m.indptr, m.indices
        return _make("csr", shape, data, [indptr, indices], ctx, dtype)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        data, (row, col) = arg1
        if spsp is None:
            raise MXNetError("csr_matrix((data, (row, col))) needs scipy")
        dtype = _infer_dtype(data, dtype)
        m = spsp.coo_matrix((_as_numpy(data, dtype), (_as_numpy(row), _as_numpy(col))),
                            shape=shape).tocsr()
        return csr_matrix(m, ctx=ctx, dtype=dtype)
    dense = arg1 if isinstance(arg1, NDArray) else _nd.array(
        np.asarray(arg1, dtype=_infer_dtype(arg1, dtype)), ctx=ctx)
    return dense.tostype("csr")


def row_sparse_array(arg1, shape=None, ctx=None, dtype=None):
    """A RowSparseNDArray from (data, indices), a dense array, an NDArray or a shape."""
    if isinstance(arg1, RowSparseNDArray):
        return arg1.astype(dtype) if dtype is not None else arg1.copy()
    if isinstance(arg1, tuple) and all(isinstance(d, int) for d in arg1):
        return zeros("row_sparse", arg1, ctx=ctx, dtype=dtype)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        data, indices = arg1
        dtype = _infer_dtype(data, dtype)
        data, indices = _as_numpy(data, dtype), _as_numpy(indices, np.int64)
        if shape is None:
            shape = (int(indices.max()) + 1 if indices.size else 0,) + data.shape[1:]
        order = np.argsort(indices, kind="stable")
        return _make("row_sparse", shape, data[order], [indices[order]], ctx, dtype)
    dense = arg1 if isinstance(arg1, NDArray) else _nd.array(
        np.asarray(arg1, dtype=_infer_dtype(arg1, dtype)), ctx=ctx)
    return dense.tostype("row_sparse")


def array(source_array, ctx=None, dtype=None):
    """A sparse array from a sparse NDArray or a scipy matrix (csr)."""
    if isinstance(source_array, BaseSparseNDArray):
        out = zeros(source_array.stype, source_array.shape, ctx=ctx or source_array.context,
                    dtype=dtype or source_array.dtype)
        source_array.copyto(out)
        return out
    return csr_matrix(source_array, ctx=ctx, dtype=dtype)


def retain(data, indices):
    """The rows `indices` of a RowSparseNDArray (MXNet's sparse.retain)."""
    if not isinstance(indices, NDArray):
        indices = _nd.array(indices, ctx=data.context, dtype=np.int64)
    return _nd._invoke("_sparse_retain", [data, indices], {})


def dot(lhs, rhs, transpose_a=False, transpose_b=False, **kwargs):
    return _nd.dot(lhs, rhs, transpose_a=transpose_a, transpose_b=transpose_b, **kwargs)


def add(lhs, rhs):
    return _nd.add(lhs, rhs)


def subtract(lhs, rhs):
    return _nd.subtract(lhs, rhs)


def multiply(lhs, rhs):
    return _nd.multiply(lhs, rhs)


def divide(lhs, rhs):
    return _nd.divide(lhs, rhs)


def adagrad_update(weight, grad, history, out=None, **kwargs):
    """MXNet's sparse.adagrad_update (lazy on row_sparse gradients)."""
    return _nd._invoke("_sparse_adagrad_update", [weight, grad, history],
                       {k: _nd._ops.format_attr(v) for k, v in kwargs.items()}, out=out)
