"""mx.nd: NDArrays that live on an mxgrid worker, named by session handles.

An NDArray here is a descriptor (handle, shape, dtype, context); operators run on the worker's
engine and return as soon as the result's shape is known, exactly like MXNet's lazy
evaluation. ``asnumpy()`` and ``wait_to_read()`` wait for the pending work.

Every operator the compiler lists (``ListOperators``) is a function of this module, generated
on first access: ``mx.nd.FullyConnected(data, weight, bias, num_hidden=4)``,
``mx.nd.dot(a, b, out=c)``. Inputs go positionally in the operator's input order or by input
name; other keyword arguments become attributes formatted as MXNet's Python does (str(value)).

Operator calls are pipelined by default (see connection.py and _pipeline.py): an operator's
result is *pending* until its response arrives: it has its handle, and its shape, dtype and
context are filled in (waiting for the response) on first use; an operator's error is raised
then or at the next synchronizing call (asnumpy, wait_to_read, waitall, ...), except for
parameters the operator's schema already refuses (an unknown or missing one, a value
outside an enum), which go synchronously and raise at the call as in MXNet. With
``MXGRID_PIPELINE=0`` every call waits for its response and raises its error itself.

Thread-safety: NDArray objects may be shared between threads; the worker orders the calls.
"""
import numbers
import sys

import numpy as np

from . import _dlpack
from . import _fluent
from . import _indexing
from . import _ops
from . import autograd as _autograd
from . import _shm
from . import _wire
from . import connection
from ._proto import pb
from ._ndarray_io import dump_record, load_record
from .base import MXNetError, numeric_types
from .context import Context, current_context, cpu

__all__ = ["NDArray", "empty", "zeros", "ones", "full", "array", "arange", "ones_like",
           "zeros_like", "save", "load", "waitall", "concat", "dot", "maximum", "minimum",
           "from_numpy", "from_dlpack", "to_dlpack_for_read", "to_dlpack_for_write"]

# MXNet keeps NDArray in mxnet.ndarray.ndarray and the builtin slice as py_slice there: the
# same module under that name too, so that `from mxnet.ndarray.ndarray import ...` works.
# (An empty __path__ lets the import system look the submodule up at all.)
py_slice = slice
__path__ = []
sys.modules.setdefault(__name__ + ".ndarray", sys.modules[__name__])

_NP_TO_PB = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.float16): 3,
             np.dtype(np.uint8): 4, np.dtype(np.int32): 5, np.dtype(np.int8): 6,
             np.dtype(np.int64): 7, np.dtype(np.bool_): 8, np.dtype(np.int16): 9,
             np.dtype(np.uint16): 10, np.dtype(np.uint32): 11, np.dtype(np.uint64): 12}
_PB_TO_NP = {v: k for k, v in _NP_TO_PB.items()}


def dtype_to_pb(dtype):
    dt = np.dtype(dtype if dtype is not None else np.float32)
    if dt not in _NP_TO_PB:
        raise MXNetError("dtype %s is not supported" % dt)
    return _NP_TO_PB[dt]


def dtype_from_pb(code):
    if code not in _PB_TO_NP:
        raise MXNetError("worker returned unsupported dtype %d" % code)
    return _PB_TO_NP[code]


def _shape_tuple(shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _reshaped(src, spec, reverse=False):
    """The shape MXNet's Reshape gives an array of shape ``src`` for ``spec`` with its
    special codes (0, -1, -2, -3, -4; matched from the right with ``reverse``). MXNetError
    for a spec that cannot apply to ``src``."""
    src, spec = list(src), list(spec)
    if reverse:
        src.reverse()
        spec.reverse()

    def fail(why):
        raise MXNetError("reshape: %s (shape %s, target %s)" % (why, tuple(src), tuple(spec)))
    out, at, infer, i = [], 0, None, 0
    while i < len(spec):
        code = spec[i]
        if code == 0:
            if at >= len(src):
                fail("0 copies a dimension the array does not have")
            out.append(src[at])
            at += 1
        elif code == -1:
            if infer is not None:
                fail("one and only one dim can be inferred")
            infer = len(out)
            out.append(-1)
            at += 1
        elif code == -2:
            out.extend(src[at:])
            at = len(src)
        elif code == -3:
            if at + 1 >= len(src):
                fail("-3 needs two dimensions to merge")
            out.append(src[at] * src[at + 1])
            at += 2
        elif code == -4:
            if i + 2 >= len(spec) or at >= len(src):
                fail("-4 needs a dimension and two sizes after it")
            d0, d1, d2 = src[at], spec[i + 1], spec[i + 2]
            if d1 == -1 and d2 == -1:
                fail("-4 can infer only one of its two sizes")
            if d1 == -1:
                d1 = d0 // d2 if d2 else 0
            if d2 == -1:
                d2 = d0 // d1 if d1 else 0
            if d1 * d2 != d0:
                fail("-4 splits %d into %d x %d" % (d0, d1, d2))
            out.extend((d1, d2))
            at += 1
            i += 2
        elif code > 0:
            out.append(code)
            at += 1
        else:
            fail("%d is not a valid dimension" % code)
        i += 1
    if infer is not None:
        total = int(np.prod(src, dtype=np.int64))
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        if total and (known == 0 or total % known):
            fail("the size %d is not a multiple of %d" % (total, known))
        out[infer] = total // known if total else 0
    if reverse:
        out.reverse()
    return tuple(out)


class _RefProbe:
    def refs(self):
        return sys.getrefcount(self)


# What sys.getrefcount(self) says in a method called on a temporary (CPython 3.11: 2, the
# frame's `self` and the argument); 0 where the interpreter does not count references.
_TEMPORARY_REFS = _RefProbe().refs() if hasattr(sys, "getrefcount") else 0


def _ctx_of(ctx):
    if ctx is None:
        return current_context()
    if isinstance(ctx, str):
        name, _, rest = ctx.partition("(")
        return Context(name, int(rest.rstrip(")") or 0))
    return ctx


class NDArray:
    """An array held by the worker. Create with mx.nd.array/zeros/..., not directly."""

    __array_priority__ = 1000.0  # numpy defers `ndarray + NDArray` to us

    def __init__(self, handle, shape, dtype, ctx, conn, owned=True):
        self.handle = handle
        self._shape = tuple(shape)
        self._dtype = np.dtype(dtype)
        self._ctx = ctx
        self._conn = conn
        self._owned = owned

    @classmethod
    def _pending_output(cls, handle, conn, batch, call_index, output_index):
        """An output of a pipelined call: shape/dtype/context come with the response."""
        self = cls.__new__(cls)
        self.handle = handle
        self._conn = conn
        self._owned = True
        self._pending = (batch, call_index, output_index)
        return self

    def _resolve(self, name):
        pending = self.__dict__.get("_pending")
        if pending is None:
            raise AttributeError(name)
        batch, call_index, output_index = pending
        info = batch.output(call_index, output_index)  # MXNetError when the call failed
        d = self.__dict__
        d["_shape"] = tuple(info.meta.shape)
        d["_dtype"] = np.dtype(dtype_from_pb(info.meta.dtype))
        d["_ctx"] = Context.from_proto(info.context)
        d.pop("_pending", None)
        return d[name]

    @classmethod
    def _from_info(cls, info, conn, owned=True):
        if info.stype > 1:  # ROW_SPARSE, CSR
            from . import ndarray_sparse  # pylint: disable=import-outside-toplevel
            return ndarray_sparse._from_info(info, conn, owned)
        return cls(info.handle, tuple(info.meta.shape), dtype_from_pb(info.meta.dtype),
                   Context.from_proto(info.context), conn, owned)

    def __del__(self):
        try:
            if self._owned and self.handle:
                self._conn.free_later(self.handle)
        except Exception:  # pylint: disable=broad-except
            pass  # never raise from a finalizer, e.g. at interpreter exit

    # -- descriptors ----------------------------------------------------------------------
    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._dtype.type

    @property
    def context(self):
        return self._ctx

    ctx = context

    @property
    def size(self):
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def ndim(self):
        return len(self._shape)

    @property
    def stype(self):
        return "default"

    def tostype(self, stype):
        """This array in storage type ``stype`` ('default', 'row_sparse', 'csr'): a new
        array (cast_storage on the worker)."""
        return _invoke("cast_storage", [self], {"stype": stype})

    @property
    def T(self):
        if self.ndim > 2:
            raise ValueError("Only 2D matrix is allowed to be transposed")
        return _invoke("transpose", [self], {})

    def __len__(self):
        return self._shape[0]

    def __iter__(self):
        for i in range(self._shape[0]):
            yield self[i]

    def __repr__(self):
        shape_info = "x".join(["%d" % x for x in self.shape])
        return "\n%s\n<%s %s @%s>" % (str(self.asnumpy()), self.__class__.__name__,
                                      shape_info, self.context)

    def __bool__(self):
        if self.size == 0:
            return False
        if self.size == 1:
            return bool(self.asscalar())
        raise ValueError("The truth value of an NDArray with multiple elements is ambiguous.")

    # -- data movement --------------------------------------------------------------------
    def _req(self):
        return self._conn.session

    def asnumpy(self):
        """A numpy copy of the values; waits for the pending writes."""
        conn = self._conn
        w = conn.require_worker()
        nbytes = self.size * self._dtype.itemsize
        # Same host: the result views a pooled shared-memory slot (_shm.py); else the
        # chunk stream decoded by hand (_wire.py) or, for small arrays, one Download.
        pool = _shm.transport(conn, nbytes)
        adopted = self.__dict__.get("_adopted")
        # A temporary holding the slot it was uploaded into (`mx.nd.array(x).asnumpy()`)
        # hands the slot over: nobody can see the array after this call.
        if (adopted is not None and adopted[0] is pool and self._owned
                and sys.getrefcount(self) <= _TEMPORARY_REFS):
            out = pool.take_over(self.handle, adopted[1], self._dtype, self._shape, self.size)
            if out is not None:
                self._owned = False  # the worker freed the handle
                return out
        if pool is not None:
            out = pool.download(self.handle, self._dtype, self._shape, self.size)
            if out is not None:
                return out
        if nbytes > connection.STREAM_THRESHOLD:
            return _wire.download(conn, self.handle, nbytes, self._dtype, self._shape)
        req = pb.worker.DownloadRequest(session=conn.session, handle=self.handle)
        t = conn.wait_call(w.Download, req, "asnumpy")
        return np.frombuffer(t.data, dtype=dtype_from_pb(t.meta.dtype)).reshape(
            tuple(t.meta.shape)).copy()

    def asscalar(self):
        if self.size != 1:
            raise ValueError("The current array is not a scalar")
        return self.asnumpy().reshape(-1)[0]

    def wait_to_read(self):
        conn = self._conn
        conn.wait_call(conn.require_worker().Wait,
                       pb.worker.WaitRequest(session=conn.session, handles=[self.handle]),
                       "wait_to_read")

    def copyto(self, other):
        """Copies into ``other`` (an NDArray: same shape, dtype converted) or onto a Context."""
        conn = self._conn
        if isinstance(other, NDArray):
            if other.handle == self.handle:
                return other
            conn.call(conn.require_worker().Copy, pb.worker.CopyRequest(
                session=conn.session, src=self.handle, into=other.handle))
            return other
        if isinstance(other, Context):
            info = conn.call(conn.require_worker().Copy, pb.worker.CopyRequest(
                session=conn.session, src=self.handle, context=other.to_proto(pb.worker)))
            return NDArray._from_info(info, conn)
        raise TypeError("copyto does not support type " + str(type(other)))

    def copy(self):
        if _autograd.is_recording():
            return _invoke("_copy", [self], {})  # recorded, as MXNet's copy under record()
        return self.copyto(self.context)

    # -- autograd ---------------------------------------------------------------------------
    def attach_grad(self, grad_req="write", stype=None):
        """Allocates a zero gradient array and makes this array an autograd variable whose
        gradient backward() writes ('write'), accumulates ('add') or skips ('null')."""
        if stype not in (None, "default"):
            raise MXNetError("attach_grad: only dense gradients (stype='default') are "
                             "supported, got stype=%r" % (stype,))
        grad = zeros(self.shape, ctx=self.context, dtype=self.dtype)
        _autograd.mark_variables([self], [grad], grad_req)

    @property
    def grad(self):
        """The gradient array attached by attach_grad / mark_variables, or None."""
        return self.__dict__.get("_grad")

    def backward(self, out_grad=None, retain_graph=False, train_mode=True):
        """Computes the gradients of this array with respect to the variables it depends on
        (autograd.backward([self], [out_grad], ...))."""
        _autograd.backward([self], None if out_grad is None else [out_grad],
                           retain_graph=retain_graph, train_mode=train_mode)

    def detach(self):
        """A new array with these values that is not part of any recorded graph (gradients
        do not flow through it)."""
        return _invoke("_copy", [self], {}, record=False)

    def as_in_context(self, context):
        if self.context == context:
            return self
        return self.copyto(context)

    def astype(self, dtype, copy=True):
        if not copy and np.dtype(dtype) == self._dtype:
            return self
        return _invoke("Cast", [self], {"dtype": np.dtype(dtype).name})

    def _view(self, **what):
        conn = self._conn
        info = conn.call(conn.require_worker().View, pb.worker.ViewRequest(
            session=conn.session, handle=self.handle, **what))
        out = NDArray._from_info(info, conn)
        out._base = self  # keep the viewed array's handle while the view lives
        return out

    def reshape(self, *shape, **kwargs):
        """A view with a new shape (a recorded copy inside autograd.record()). ``shape``
        takes MXNet's special codes: 0 copies a dim, -1 infers one, -2 copies the rest,
        -3 merges two dims, -4 splits one into the next two; ``reverse=True`` matches
        them from the right."""
        if not shape:
            shape = kwargs.get("shape")
            if shape is None:
                raise TypeError("reshape: a shape must be given")
        elif len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        unknown = [k for k in kwargs if k not in ("shape", "reverse")]
        if unknown:
            raise TypeError("Got unknown keywords in reshape: %s. Accepted keyword arguments "
                            "are 'shape' and 'reverse'." % ", ".join(unknown))
        shape = _shape_tuple(shape)
        new = _reshaped(self._shape, shape, bool(kwargs.get("reverse", False)))
        size = int(np.prod(new, dtype=np.int64))
        if size > self.size:
            raise MXNetError("reshape: shape %s (%d elements) is larger than the array's %s"
                             % (shape, size, self._shape))
        if size != self.size:
            raise ValueError("Cannot reshape array of size %d into shape %s"
                             % (self.size, shape))
        if _autograd.is_recording():  # recorded (a copy), as MXNet's ReshapeWithRecord
            return _invoke("Reshape", [self], {"shape": str(new)})
        return self._view(reshape=pb.tensor.TensorMeta(shape=new))

    # MXNet's helper, kept under its name (tests call it).
    _basic_indexing_slice_is_contiguous = staticmethod(_indexing.slice_is_contiguous)

    def _key_view(self, key, record=False):
        """A view of ``key`` (an int or a slice on axis 0); with ``record``, a recorded copy."""
        if isinstance(key, numbers.Integral):
            n = self._shape[0]
            if not -n <= key < n:
                raise IndexError("index %d is out of bounds for axis 0 with size %d" % (key, n))
            if record:  # recorded, as MXNet's AtWithRecord
                k = int(key) % n
                row = _invoke("slice_axis", [self], {"axis": "0", "begin": str(k),
                                                     "end": str(k + 1)})
                return _invoke("Reshape", [row], {"shape": str(self._shape[1:] or (1,))})
            return self._view(at=int(key) % n)
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise ValueError("NDArray only supports slicing with step size 1")
            begin, end, _ = key.indices(self._shape[0])
            if begin == 0 and end == self._shape[0]:
                return self
            end = max(begin, end)
            if record:  # recorded, as MXNet's SliceWithRecord
                return _invoke("slice_axis", [self], {"axis": "0", "begin": str(begin),
                                                      "end": str(end)})
            return self._view(slice=pb.worker.ViewRequest.Range(begin=begin, end=end))
        if isinstance(key, tuple) and len(key) == 1:
            return self._key_view(key[0], record)
        raise ValueError("NDArray indexing supports an int or a slice on axis 0, got %r"
                         % (key,))

    def __getitem__(self, key):
        """x[key] with MXNet 1.x's rules (see _indexing.py): a view when the elements are
        contiguous, else a copy; advanced (array) indices gather."""
        return _indexing.getitem(self, key)

    def __setitem__(self, key, value):
        """x[key] = value (a scalar, NDArray, numpy array or list, broadcast to the
        indexed shape) with MXNet 1.x's rules (see _indexing.py)."""
        _indexing.setitem(self, key, value)

    def _fill(self, value):
        """Sets every element to ``value`` (cast to the dtype) on the worker."""
        conn = self._conn
        conn.call(conn.require_worker().Fill, pb.worker.FillRequest(
            session=conn.session, handle=self.handle, value=float(value)))

    def _upload_into(self, values):
        """Overwrites the values with numpy ``values`` of this shape."""
        arr = np.asarray(values, dtype=self._dtype).reshape(self._shape)
        _upload(self._conn, arr, self.context, into=self.handle)

    # -- DLPack ---------------------------------------------------------------------------
    def to_dlpack_for_read(self):
        """A DLPack capsule ("dltensor") of this array's values (a host copy; waits for
        pending writes), as MXNet's to_dlpack_for_read."""
        return _dlpack.to_capsule(self.asnumpy())

    def to_dlpack_for_write(self):
        """A DLPack capsule of this array's values, as MXNet's to_dlpack_for_write. The
        values live on the worker, so the capsule holds a host copy: writes into it do not
        reach the array."""
        return _dlpack.to_capsule(self.asnumpy())

    # -- pickling: MXNet's single-record bytes --------------------------------------------
    def __getstate__(self):
        return {"handle": dump_record(self.asnumpy(), self._ctx.device_typeid,
                                      self._ctx.device_id)}

    def __setstate__(self, state):
        arr, _, _ = load_record(state["handle"])
        conn = connection.get()
        tmp = _upload(conn, arr, cpu(0))
        self.__dict__.update(tmp.__dict__)
        tmp._owned = False  # ownership moved to self

    # -- arithmetic -----------------------------------------------------------------------
    def _binary(self, other, array_op, scalar_op, out=None):
        if isinstance(other, NDArray):
            return _invoke(array_op, [self, other], {}, out=out)
        if isinstance(other, numeric_types):
            return _invoke(scalar_op, [self], {"scalar": str(float(other))}, out=out)
        if isinstance(other, np.ndarray):
            return _invoke(array_op, [self, array(other, ctx=self.context)], {}, out=out)
        return NotImplemented

    def _rbinary(self, other, scalar_op):
        if isinstance(other, numeric_types):
            return _invoke(scalar_op, [self], {"scalar": str(float(other))})
        if isinstance(other, np.ndarray):
            return NotImplemented
        return NotImplemented

    def __add__(self, o): return self._binary(o, "broadcast_add", "_plus_scalar")
    def __radd__(self, o): return self._rbinary(o, "_plus_scalar")
    def __sub__(self, o): return self._binary(o, "broadcast_sub", "_minus_scalar")
    def __rsub__(self, o): return self._rbinary(o, "_rminus_scalar")
    def __mul__(self, o): return self._binary(o, "broadcast_mul", "_mul_scalar")
    def __rmul__(self, o): return self._rbinary(o, "_mul_scalar")
    def __truediv__(self, o): return self._binary(o, "broadcast_div", "_div_scalar")
    def __rtruediv__(self, o): return self._rbinary(o, "_rdiv_scalar")
    def __pow__(self, o): return self._binary(o, "broadcast_power", "_power_scalar")
    def __rpow__(self, o): return self._rbinary(o, "_rpower_scalar")
    def __mod__(self, o): return self._binary(o, "broadcast_mod", "_mod_scalar")
    __div__, __rdiv__ = __truediv__, __rtruediv__

    def __iadd__(self, o): return self._binary(o, "broadcast_add", "_plus_scalar", out=self)
    def __isub__(self, o): return self._binary(o, "broadcast_sub", "_minus_scalar", out=self)
    def __imul__(self, o): return self._binary(o, "broadcast_mul", "_mul_scalar", out=self)
    def __itruediv__(self, o): return self._binary(o, "broadcast_div", "_div_scalar", out=self)
    __idiv__ = __itruediv__

    def __neg__(self):
        return _invoke("_mul_scalar", [self], {"scalar": "-1.0"})

    def __abs__(self):
        return _invoke("abs", [self], {})

    def __eq__(self, o): return self._compare(o, "broadcast_equal", "_equal_scalar")
    def __ne__(self, o): return self._compare(o, "broadcast_not_equal", "_not_equal_scalar")
    def __gt__(self, o): return self._compare(o, "broadcast_greater", "_greater_scalar")
    def __ge__(self, o):
        return self._compare(o, "broadcast_greater_equal", "_greater_equal_scalar")
    def __lt__(self, o): return self._compare(o, "broadcast_lesser", "_lesser_scalar")
    def __le__(self, o):
        return self._compare(o, "broadcast_lesser_equal", "_lesser_equal_scalar")

    def _compare(self, other, array_op, scalar_op):
        if _ops.lookup(array_op) is None:
            return NotImplemented  # the servers have no such operator: Python's default
        return self._binary(other, array_op, scalar_op)

    __hash__ = object.__hash__

    # Common operator methods, as in MXNet (a.sum(axis=1), a.exp(), ...).
    def __getattr__(self, name):
        if name.startswith("_"):
            if name in ("_shape", "_dtype", "_ctx"):
                return self._resolve(name)  # a pending output of a pipelined call
            raise AttributeError(name)
        if _ops.lookup(name) is None:
            raise AttributeError("'NDArray' object has no attribute '%s'" % name)
        fn = _op_function(name)
        if name in _RESHAPING:
            return lambda *args, **kwargs: self._reshaping(fn, *args, **kwargs)
        return lambda *args, **kwargs: fn(self, *args, **kwargs)

    def __abs__(self):
        return _invoke("abs", [self], {})

    def _reshaping(self, fn, *args, inplace=False, **kwargs):
        """expand_dims / flatten / squeeze as methods: with inplace=True a view of this
        array with the result's shape (MXNet's fluent methods), else the operator's copy."""
        out = fn(self, *args, **kwargs)
        if not inplace or _autograd.is_recording():
            return out
        return self._view(reshape=pb.tensor.TensorMeta(shape=out.shape))


# Fluent methods that take MXNet's `inplace` flag (a view instead of a copy).
_RESHAPING = frozenset(("expand_dims", "flatten", "Flatten", "squeeze"))


# -- transport helpers --------------------------------------------------------------------
def _upload(conn, arr, ctx, into=0):
    """Uploads numpy ``arr`` as a new array on ``ctx`` (or into handle ``into``)."""
    arr = np.require(arr, requirements="C")  # keeps 0-d (ascontiguousarray does not)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    meta = pb.tensor.TensorMeta(dtype=dtype_to_pb(arr.dtype), shape=arr.shape)
    w = conn.require_worker()
    ctx_pb = ctx.to_proto(pb.worker)
    # Same host: one copy into a pooled shared-memory slot (_shm.py); else the chunk
    # stream encoded by hand (_wire.py) or, for small arrays, one Upload message.
    pool = _shm.transport(conn, arr.nbytes)
    shm = pool.upload(arr, meta, ctx_pb, into) if pool is not None else None
    info, slot = shm if shm is not None else (None, None)
    if info is None and arr.nbytes > connection.STREAM_THRESHOLD:
        info = _wire.upload(conn, arr, meta, ctx_pb, into)
    elif info is None:
        info = conn.call(w.Upload, pb.worker.UploadRequest(
            session=conn.session, into=into, context=ctx_pb,
            value=pb.tensor.Tensor(meta=meta, data=arr.tobytes())))
    if into:
        return None
    out = NDArray._from_info(info, conn)
    if slot is not None:
        out._adopted = (pool, slot)  # for NDArray.asnumpy of a temporary
    return out


def _invoke_pipelined(conn, pipe, op, inputs, attrs, out, is_train, record):
    """Queues the call on ``pipe``; returns pending NDArrays (or ``out``), or NotImplemented
    when the call must go synchronously: an unknown operator, the handle space used up, or
    parameters the schema says the worker refuses (so that, as in MXNet, the call itself
    raises the server's error)."""
    if _ops.refuses(op, attrs) or op == "cast_storage" or _any_sparse(inputs, out):
        return NotImplemented
    if out is not None:
        outs = out if isinstance(out, (list, tuple)) else (out,)
        queued = pipe.submit(op, [a.handle for a in inputs], attrs, [o.handle for o in outs],
                             0, is_train, record)
        return NotImplemented if queued is None else out
    num_new = _ops.num_outputs(op, attrs)
    if num_new is None:
        return NotImplemented
    queued = pipe.submit(op, [a.handle for a in inputs], attrs, None, num_new, is_train,
                         record)
    if queued is None:
        return NotImplemented
    batch, index, handles = queued
    if num_new == 1:
        return NDArray._pending_output(handles[0], conn, batch, index, 0)
    return [NDArray._pending_output(h, conn, batch, index, i) for i, h in enumerate(handles)]


def _any_sparse(inputs, out):
    """Whether a call names a sparse array (those calls are not pipelined)."""
    if any(a.__dict__.get("_pending") is None and a.stype != "default" for a in inputs):
        return True
    outs = () if out is None else (out if isinstance(out, (list, tuple)) else (out,))
    return any(o.stype != "default" for o in outs)


def _invoke(op, inputs, attrs, out=None, is_train=False, record=None):
    """Runs operator ``op`` on NDArrays ``inputs``; returns an NDArray, a list, or ``out``.
    Pipelined unless the connection is synchronous (MXGRID_PIPELINE=0). Inside
    autograd.record() the call is recorded on the worker's tape (``record`` overrides), and
    in training mode (autograd.train_mode(), record()) it runs with is_train."""
    if record is None:
        record = _autograd.is_recording()
    is_train = bool(is_train or _autograd.is_training())
    conn = inputs[0]._conn if inputs else connection.get()
    pipe = conn.pipeline
    if pipe is not None:
        result = _invoke_pipelined(conn, pipe, op, inputs, attrs, out, is_train, record)
        if result is not NotImplemented:
            return _mark_recorded(result) if record else result
    frees = conn.take_pending_frees()
    req = pb.worker.InvokeRequest(session=conn.session, op=op, attrs=attrs, free=frees,
                                  inputs=[a.handle for a in inputs], is_train=is_train,
                                  record=record)
    outs = None
    if out is not None:
        outs = out if isinstance(out, (list, tuple)) else [out]
        req.outputs.extend(o.handle for o in outs)
    try:
        resp = conn.call(conn.require_worker().Invoke, req)
    except MXNetError:
        conn.requeue_frees(frees)  # maybe not reached; freeing twice is harmless
        raise
    if outs is not None:
        return _mark_recorded(out) if record else out
    results = [NDArray._from_info(info, conn) for info in resp.outputs]
    result = results[0] if len(results) == 1 else results
    return _mark_recorded(result) if record else result


def _mark_recorded(result):
    """Notes on the outputs of a recorded call that they are part of the recorded graph
    (for the in-place write check of __setitem__)."""
    for a in (result if isinstance(result, (list, tuple)) else (result,)):
        if isinstance(a, NDArray):
            a.__dict__["_recorded"] = True
    return result


def _op_function(op_name):
    """The Python function of operator ``op_name`` (canonical name or alias)."""
    info = _ops.lookup(op_name)
    if info is None:
        raise AttributeError("module 'mxgrid.ndarray' has no attribute or operator '%s'"
                             % op_name)
    input_names = list(info.inputs) + list(info.aux_states)
    param_names = [p.name for p in info.params]

    def fn(*args, out=None, name=None, is_train=False, **kwargs):  # noqa: ARG001 (name as MXNet)
        inputs, attrs, positional_params = [], {}, 0
        for a in args:
            if isinstance(a, NDArray):
                inputs.append(a)
            elif isinstance(a, np.ndarray):
                inputs.append(array(a))
            elif isinstance(a, (list, tuple)) and a and all(isinstance(x, NDArray) for x in a):
                inputs.extend(a)  # e.g. mx.nd.concat(*arrays) written as concat(arrays)
            else:
                if positional_params >= len(param_names):
                    raise TypeError("%s: too many positional arguments" % op_name)
                attrs[param_names[positional_params]] = _ops.format_attr(a)
                positional_params += 1
        named = {k: v for k, v in kwargs.items() if isinstance(v, NDArray)}
        for key in input_names:
            if key in named:
                inputs.append(named.pop(key))
        inputs.extend(named.values())  # inputs the schema does not name
        ctx = kwargs.pop("ctx", None)
        if "ctx" in param_names and not inputs and out is None:
            # An operator without inputs (the samplers) runs where its ctx attribute says,
            # as in MXNet; the current context when not given.
            attrs["ctx"] = str(_ctx_of(ctx))
        for k, v in kwargs.items():
            if not isinstance(v, NDArray):
                attrs[k] = _ops.format_attr(v)
        if info.variadic_param and info.variadic_param not in attrs:
            attrs[info.variadic_param] = str(len(inputs))
        return _invoke(op_name, inputs, attrs, out=out, is_train=is_train)

    fn.__name__ = op_name
    fn.__doc__ = "%s\n\nInputs: %s\nParameters: %s" % (
        info.description, ", ".join(input_names),
        ", ".join("%s (%s%s)" % (p.name, p.type, ", required" if p.required
                                  else ", default " + p.default_value) for p in info.params))
    return fn


# Operators as module functions, generated on first access from ListOperators.
__getattr__, _dir = _ops.module_functions(_op_function)
# Every operator, as MXNet's mx.nd._internal; and the fluent methods (x.sum(axis=1)).
_internal = _fluent.internal_namespace(__name__ + "._internal", _op_function)
_fluent.install_inplace_reshapes(NDArray, _op_function)
_fluent.install(NDArray, _op_function)


def __dir__():
    return _dir(globals())


# -- creation -----------------------------------------------------------------------------
def _create(shape, ctx, dtype, **init):
    conn = connection.get()
    ctx = _ctx_of(ctx)
    info = conn.call(conn.require_worker().CreateArray, pb.worker.CreateArrayRequest(
        session=conn.session, context=ctx.to_proto(pb.worker),
        meta=pb.tensor.TensorMeta(dtype=dtype_to_pb(dtype), shape=_shape_tuple(shape)), **init))
    return NDArray._from_info(info, conn)


def empty(shape, ctx=None, dtype=None, stype=None):
    """An uninitialized array (float32 unless dtype is given)."""
    if stype not in (None, "default"):
        from . import ndarray_sparse  # pylint: disable=import-outside-toplevel
        return ndarray_sparse.zeros(stype, shape, ctx=ctx, dtype=dtype)
    return _create(shape, ctx, dtype, empty=True)


def zeros(shape, ctx=None, dtype=None, out=None, stype=None, **kwargs):
    if stype not in (None, "default"):
        from . import ndarray_sparse  # pylint: disable=import-outside-toplevel
        return ndarray_sparse.zeros(stype, shape, ctx=ctx, dtype=dtype)
    if out is not None:
        out[:] = 0
        return out
    return _create(shape, ctx, dtype, fill=0.0)


def ones(shape, ctx=None, dtype=None, out=None, **kwargs):
    if out is not None:
        out[:] = 1
        return out
    return _create(shape, ctx, dtype, fill=1.0)


def full(shape, val, ctx=None, dtype=np.float32, out=None):
    if out is not None:
        out[:] = val
        return out
    return _create(shape, ctx, dtype, fill=float(val))


def array(source_array, ctx=None, dtype=None):
    """An NDArray with the values of a numpy array, list or NDArray (float32 by default,
    an NDArray source keeps its dtype), as mx.nd.array."""
    if isinstance(source_array, NDArray):
        dtype = source_array.dtype if dtype is None else dtype
        src = source_array.asnumpy()
    else:
        src = source_array
    dtype = np.float32 if dtype is None else dtype
    arr = np.asarray(src, dtype=dtype)
    return _upload(connection.get(), arr, _ctx_of(ctx))


def arange(start, stop=None, step=1.0, repeat=1, infer_range=None, ctx=None, dtype=np.float32):
    """Evenly spaced values in [start, stop), each repeated ``repeat`` times."""
    if stop is None:
        start, stop = 0, start
    values = np.arange(start, stop, step, dtype=np.float64)
    if repeat > 1:
        values = np.repeat(values, repeat)
    return array(values.astype(dtype), ctx=ctx, dtype=dtype)


def linspace(start, stop, num, endpoint=True, ctx=None, dtype=np.float32):
    """``num`` evenly spaced values from start to stop (stop excluded unless endpoint)."""
    return _op_function("_linspace")(start=start, stop=stop, num=num, endpoint=endpoint,
                                     ctx=ctx, dtype=dtype)


def eye(N, M=0, k=0, ctx=None, dtype=None, **kwargs):
    """An N x M (M 0: N) array with ones on diagonal ``k``, as mx.nd.eye."""
    return _op_function("_eye")(N=N, M=M, k=k, ctx=ctx,
                                dtype=np.float32 if dtype is None else dtype, **kwargs)


def ones_like(data, **kwargs):
    return _invoke("ones_like", [data], {})


def zeros_like(data, **kwargs):
    return _invoke("zeros_like", [data], {})


def concat(*data, dim=1, out=None, **kwargs):
    """Concatenates arrays along ``dim`` (MXNet's mx.nd.concat)."""
    return _op_function("Concat")(*data, dim=dim, out=out, **kwargs)


def concatenate(arrays, axis=0, always_copy=True):
    """Joins a list of arrays along ``axis`` (MXNet's deprecated mx.nd.concatenate; the
    result is a new array unless always_copy is False and there is one array)."""
    if not isinstance(arrays, list) or not arrays or not isinstance(arrays[0], NDArray):
        raise ValueError("concatenate takes a non-empty list of NDArrays")
    if not always_copy and len(arrays) == 1:
        return arrays[0]
    return _op_function("Concat")(*arrays, dim=axis)


def moveaxis(tensor, source, destination):
    """``tensor`` with the axes at ``source`` moved to ``destination`` (ints or tuples),
    the other axes keeping their order, as mx.nd.moveaxis (a transpose)."""
    def normalize(axes, what):
        axes = (axes,) if isinstance(axes, numbers.Integral) else tuple(axes)
        out = []
        for a in axes:
            if not -tensor.ndim <= a < tensor.ndim:
                raise ValueError("%s should verify 0 <= %s < tensor.ndim (%d), got %s"
                                 % (what, what, tensor.ndim, a))
            out.append(int(a) % tensor.ndim)
        if len(set(out)) != len(out):
            raise ValueError("repeated axis in %s" % what)
        return out
    source = normalize(source, "source")
    destination = normalize(destination, "destination")
    if len(source) != len(destination):
        raise ValueError("`source` and `destination` arguments must have the same number of "
                         "elements")
    order = [n for n in range(tensor.ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _op_function("transpose")(tensor, axes=tuple(order))


def onehot_encode(indices, out):
    """Writes the one-hot rows of ``indices`` into ``out`` (depth: out.shape[1]) and returns
    it, as MXNet's legacy mx.nd.onehot_encode."""
    return _op_function("one_hot")(indices, depth=out.shape[1], out=out)


def dot(lhs, rhs, transpose_a=False, transpose_b=False, out=None, **kwargs):
    attrs = {}
    if transpose_a:
        attrs["transpose_a"] = "True"
    if transpose_b:
        attrs["transpose_b"] = "True"
    return _invoke("dot", [lhs, rhs], attrs, out=out)


def add(lhs, rhs): return _arith(lhs, rhs, "__add__", "__radd__")
def subtract(lhs, rhs): return _arith(lhs, rhs, "__sub__", "__rsub__")
def multiply(lhs, rhs): return _arith(lhs, rhs, "__mul__", "__rmul__")
def divide(lhs, rhs): return _arith(lhs, rhs, "__truediv__", "__rtruediv__")
def power(base, exp): return _arith(base, exp, "__pow__", "__rpow__")


def maximum(lhs, rhs):
    """Element-wise maximum of arrays (broadcast) and/or scalars, as mx.nd.maximum."""
    return _extremum(lhs, rhs, "broadcast_maximum", "_maximum_scalar", max)


def minimum(lhs, rhs):
    """Element-wise minimum of arrays (broadcast) and/or scalars, as mx.nd.minimum."""
    return _extremum(lhs, rhs, "broadcast_minimum", "_minimum_scalar", min)


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """Splits ``ary`` into sections (an int) or at indices (a tuple), as mx.nd.split_v2;
    ValueError when sections do not divide the axis evenly (as MXNet's)."""
    if isinstance(indices_or_sections, int) and ary.shape[axis] % indices_or_sections != 0:
        raise ValueError("array split does not result in an equal division")
    return _op_function("_split_v2")(ary, **_fluent.split_v2_attrs(indices_or_sections, axis,
                                                                   squeeze_axis))


_fluent.install_split_v2(NDArray, split_v2)


def _extremum(lhs, rhs, array_op, scalar_op, pyfn):
    if isinstance(lhs, NDArray) and isinstance(rhs, NDArray):
        return _invoke(array_op, [lhs, rhs], {})
    if isinstance(lhs, NDArray):
        return _invoke(scalar_op, [lhs], {"scalar": _ops.format_attr(float(rhs))})
    if isinstance(rhs, NDArray):
        return _invoke(scalar_op, [rhs], {"scalar": _ops.format_attr(float(lhs))})
    return pyfn(lhs, rhs)


def _arith(lhs, rhs, method, rmethod):
    if isinstance(lhs, NDArray):
        return getattr(lhs, method)(rhs)
    if isinstance(rhs, NDArray):
        return getattr(rhs, rmethod)(lhs)
    return getattr(lhs, method)(rhs)


def waitall():
    """Waits for all pending work of the session (mx.nd.waitall)."""
    conn = connection.get()
    conn.flush_frees()
    conn.wait_call(conn.require_worker().Wait, pb.worker.WaitRequest(session=conn.session),
                   "waitall")


# Host transfers: save/load (.params), DLPack capsules, from_numpy (_ndarray_transfer.py).
from ._ndarray_transfer import (save, load, load_frombuffer, from_numpy, from_dlpack,  # noqa: E402
                                to_dlpack_for_read, to_dlpack_for_write)
