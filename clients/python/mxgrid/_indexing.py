"""NDArray indexing, ``x[key]`` and ``x[key] = value``, with MXNet 1.x's NDArray rules.

A key is an int, a slice, Ellipsis, None (a new axis of length 1), a list / tuple / numpy
array / NDArray of integers (advanced indexing), or a tuple of these. Keys are normalized
into one entry per axis (``expand_key``) and then take one of two paths:

* basic (ints, slices, None): reading gives a *view* sharing the array's memory when the
  selected elements are one contiguous run (``slice_is_contiguous``; the worker's View
  calls), else a copy through the strided ``slice`` operator. Writing a contiguous
  whole-array region copies or fills in place; any other region goes through the worker's
  ``_slice_assign`` / ``_slice_assign_scalar`` operators with out=x.
* advanced (any array-like index): the index arrays are broadcast and stacked into one
  (M, ...) integer array in the client (they are small; an NDArray index is read once),
  then ``gather_nd`` reads and ``_scatter_set_nd`` (out=x) writes.

Inside ``autograd.record()`` reads are recorded operator calls (slice / Reshape /
gather_nd), so gradients flow to the indexed array; a write into an array while recording
raises MXNet's error when the write would join the recorded graph (as MXNet's
"Inplace operations" check).

Thread-safety: pure functions of their arguments; the worker orders the calls.
"""
import numbers

import numpy as np

from . import autograd as _autograd
from .base import MXNetError

_INT_TYPES = (numbers.Integral, np.integer)
_ARRAY_INDEX = (list, tuple, np.ndarray, range)


def _nd():
    from . import ndarray  # imported late: ndarray imports this module
    return ndarray


def _is_int(idx):
    return isinstance(idx, _INT_TYPES) and not isinstance(idx, (bool, np.bool_))


# -- key normalization --------------------------------------------------------------------
def expand_key(key, shape):
    """``key`` as a tuple with Ellipsis (explicit or implied at the end) replaced by as many
    ``slice(None)`` as the axes it stands for; None entries are kept. A 0-d NDArray or numpy
    integer becomes a Python int."""
    nd = _nd()
    if not isinstance(key, tuple):
        key = (key,)
    ellipsis_at, num_none, rest = None, 0, []
    for idx in key:
        if idx is Ellipsis:
            if ellipsis_at is not None:
                raise IndexError("an index can only have a single ellipsis ('...')")
            ellipsis_at = len(rest)
            continue
        if isinstance(idx, (bool, np.bool_)) or (
                isinstance(idx, (nd.NDArray, np.ndarray)) and idx.dtype == np.bool_):
            raise ValueError("NDArray does not support boolean indexing (index %r)" % (idx,))
        if idx is None:
            num_none += 1
        elif isinstance(idx, nd.NDArray) and idx.ndim == 0:
            idx = int(idx.asscalar())
        elif isinstance(idx, np.ndarray) and idx.ndim == 0:
            idx = int(idx)
        rest.append(idx)
    if ellipsis_at is None:
        ellipsis_at = len(rest)
    fill = len(shape) + num_none - len(rest)
    return tuple(rest[:ellipsis_at]) + (slice(None),) * max(fill, 0) + tuple(rest[ellipsis_at:])


def is_advanced(key):
    """Whether a normalized key needs advanced indexing; TypeError for an entry that is no
    index at all."""
    nd = _nd()
    advanced = False
    for idx in key:
        if isinstance(idx, (nd.NDArray,) + _ARRAY_INDEX):
            if isinstance(idx, tuple) and len(idx) == 0:
                raise IndexError("an empty tuple is not a valid index for an axis")
            advanced = True
        elif not (idx is None or isinstance(idx, slice) or _is_int(idx)):
            raise ValueError("NDArray does not support slicing with key %r of type %s"
                             % (idx, type(idx)))
    return advanced


def _slice_len(slc, n):
    start, stop, step = slc.indices(n)
    return len(range(start, stop, step))


def slice_is_contiguous(slc_key, shape):
    """Whether the elements ``slc_key`` (one slice per axis) selects are one contiguous run
    of the C-order data: scanning from the last axis, once an axis is cut to a proper part
    every axis before it must keep at most one element, and an axis keeping several
    elements must step by 1."""
    if len(slc_key) != len(shape):
        raise ValueError("slice_is_contiguous needs one slice per axis")
    lengths = [_slice_len(s, n) for s, n in zip(slc_key, shape)]
    if int(np.prod(lengths, dtype=np.int64)) in (0, 1):
        return True
    cut = False
    for slc, n, length in zip(reversed(slc_key), reversed(shape), reversed(lengths)):
        step = slc.indices(n)[2]
        if length > 1 and step != 1:
            return False
        if cut and length > 1:
            return False
        if length < n:
            cut = True
    return True


def _int_to_slice(i):
    return slice(i, None) if i == -1 else slice(i, i + 1)


def _check_int(i, axis, n):
    if not -n <= i < n:
        raise IndexError("index %d is out of bounds for axis %d with size %d" % (i, axis, n))


def _basic_parts(arr, key):
    """(slices, int axes, new-axis positions of the result) of a basic key; IndexError for
    too many indices or an int out of bounds."""
    key_nd = [idx for idx in key if idx is not None]
    if len(key_nd) > arr.ndim:
        raise IndexError("too many indices (%d) for array with %d dimensions"
                         % (len(key_nd), arr.ndim))
    int_axes = [ax for ax, idx in enumerate(key_nd) if _is_int(idx)]
    for ax in int_axes:
        _check_int(int(key_nd[ax]), ax, arr.shape[ax])
    slices = tuple(_int_to_slice(int(idx)) if _is_int(idx) else idx for idx in key_nd)
    # Where the None axes land once the int axes are dropped.
    new_axes, kept = [], 0
    for idx in key:
        if idx is None:
            new_axes.append(kept)
            kept += 1
        elif not _is_int(idx):
            kept += 1
    return slices, int_axes, new_axes


def _opt(v):
    return "None" if v is None else str(int(v))


def _slice_attrs(slices):
    """begin/end/step attributes of the slice operators, None kept as MXNet passes them."""
    fmt = lambda vals: "(" + ", ".join(_opt(v) for v in vals) + ("," if len(vals) == 1 else "") + ")"
    return {"begin": fmt([s.start for s in slices]), "end": fmt([s.stop for s in slices]),
            "step": fmt([s.step for s in slices])}


# -- reading ------------------------------------------------------------------------------
def getitem(arr, key):
    nd = _nd()
    recording = _autograd.is_recording()
    if arr.ndim == 0:
        if key == () or key == slice(None):
            return arr
        raise IndexError("too many indices for a 0-d array (only () and : are allowed)")
    if isinstance(key, tuple) and len(key) == 0:
        return arr
    if _is_int(key):
        return arr._key_view(int(key), recording)
    if isinstance(key, slice) and key.step in (None, 1):
        return arr._key_view(key, recording)
    if isinstance(key, slice) and key.step == 0:
        raise ValueError("slice step cannot be zero")
    key = expand_key(key, arr.shape)
    if is_advanced(key):
        return _get_advanced(arr, key)
    slices, int_axes, new_axes = _basic_parts(arr, key)
    sliced_shape = [_slice_len(s, n) for s, n in zip(slices, arr.shape)]
    final = [n for ax, n in enumerate(sliced_shape) if ax not in int_axes]
    for ax in new_axes:
        final.insert(ax, 1)
    final = tuple(final) or (1,)
    if not recording and slice_is_contiguous(slices, arr.shape):
        begin, end = _flat_range(slices, arr.shape)
        flat = arr if arr.ndim == 1 else arr.reshape(-1)
        if begin == 0 and end == arr.size:
            part = flat
        else:
            part = flat._key_view(slice(begin, end))
        return part if part.shape == final else part.reshape(final)
    out = nd._invoke("slice", [arr], _slice_attrs(slices))
    if tuple(sliced_shape) == final:
        return out
    return nd._invoke("Reshape", [out], {"shape": str(final)})


def _flat_range(slices, shape):
    """[begin, end) in the flat data of a contiguous selection."""
    begin = end = 0
    for slc, n in zip(slices, shape):
        start = slc.indices(n)[0]
        length = _slice_len(slc, n)
        if length == 0:
            return 0, 0
        begin = begin * n + start
        end = end * n + start + length - 1
    return begin, end + 1


def _index_array(idx, n, axis):
    """One advanced index as an int64 numpy array, checked against the axis length."""
    nd = _nd()
    if isinstance(idx, nd.NDArray):
        a = idx.asnumpy()
    elif isinstance(idx, slice):
        a = np.arange(*idx.indices(n))
    elif isinstance(idx, range):
        a = np.arange(idx.start, idx.stop, idx.step)
    elif _is_int(idx):
        a = np.array([int(idx)])
    else:
        a = np.asarray(idx)
    if a.dtype.kind == "f":
        a = a.astype(np.int64)  # MXNet casts float index arrays to integers
    elif a.dtype.kind not in "iu" and a.size:
        raise IndexError("arrays used as indices must be of integer type, got %s" % a.dtype)
    a = a.astype(np.int64)
    if a.size and (a.min() < -n or a.max() >= n):
        bad = a[(a < -n) | (a >= n)].flat[0]
        raise IndexError("index %d is out of bounds for axis %d with size %d" % (bad, axis, n))
    return a


def _advanced_indices(arr, key):
    """(indices (M, ...) int array for gather_nd/_scatter_set_nd, positions of the new
    axes in the result) of an advanced key, by NumPy's rules: the advanced indices
    broadcast together into one block that stays in place when they are adjacent and goes
    first otherwise; slices before and after it contribute their own axes."""
    key_nd = [idx for idx in key if idx is not None]
    if len(key_nd) > arr.ndim:
        raise IndexError("too many indices (%d) for array with %d dimensions"
                         % (len(key_nd), arr.ndim))
    def advanced(idx):
        return not isinstance(idx, slice)
    adv = [ax for ax, idx in enumerate(key_nd) if advanced(idx)]
    adv_full = [ax for ax, idx in enumerate(key) if idx is not None and advanced(idx)]
    adjacent = bool(np.all(np.diff(adv_full) == 1))
    # Trailing full slices are left to gather_nd, which keeps the trailing axes whole.
    used = len(key_nd)
    while used > adv[-1] + 1 and key_nd[used - 1] == slice(None):
        used -= 1
    arrays = {ax: _index_array(key_nd[ax], arr.shape[ax], ax) for ax in range(used)}
    block = np.broadcast_shapes(*[arrays[ax].shape for ax in adv])
    if adjacent:
        before = [ax for ax in range(used) if ax < adv[0]]
        after = [ax for ax in range(used) if ax > adv[-1]]
    else:
        before = []
        after = [ax for ax in range(used) if ax not in adv]
    out_shape = ([arrays[ax].size for ax in before] + list(block)
                 + [arrays[ax].size for ax in after])
    nb = len(before)
    grids = []
    for ax in range(used):
        a = arrays[ax]
        if ax in adv:
            shape = [1] * nb + list(np.broadcast_to(a, block).shape) + [1] * len(after)
            a = np.broadcast_to(a, block).reshape(shape)
        else:
            pos = before.index(ax) if ax in before else nb + len(block) + after.index(ax)
            shape = [1] * len(out_shape)
            shape[pos] = a.size
            a = a.reshape(shape)
        grids.append(np.broadcast_to(a, out_shape))
    indices = np.stack(grids) if grids else np.zeros((0,), np.int64)
    # New axes: counted over the full key, the advanced block (length len(block)) standing
    # where the first advanced index is (adjacent) or at the front (otherwise).
    new_axes, pos = [], (len(block) if not adjacent else 0)
    placed = not adjacent
    for idx in key:
        if idx is None:
            new_axes.append(pos)
            pos += 1
        elif advanced(idx):
            if not placed:
                pos += len(block)
                placed = True
        else:
            pos += 1
    dtype = np.int64 if arr.size >= 2 ** 31 else np.int32
    return indices.astype(dtype), new_axes


def _get_advanced(arr, key):
    nd = _nd()
    indices, new_axes = _advanced_indices(arr, key)
    idx = nd.array(indices, ctx=arr.context, dtype=indices.dtype)
    out = nd._invoke("gather_nd", [arr, idx], {})
    if not new_axes:
        return out
    final = list(out.shape)
    for ax in new_axes:
        final.insert(ax, 1)
    return nd._invoke("Reshape", [out], {"shape": str(tuple(final))})


# -- writing ------------------------------------------------------------------------------
def _in_graph(a):
    d = a.__dict__
    return d.get("_grad_req") is not None or d.get("_recorded", False)


def _check_record_inplace(arr, value):
    """MXNet refuses a recorded in-place write into `arr` once it reads an array of the
    recorded graph."""
    nd = _nd()
    if not _autograd.is_recording():
        return
    if _in_graph(arr) or (isinstance(value, nd.NDArray) and _in_graph(value)):
        raise MXNetError("Inplace operations (+=, -=, x[:]=, etc) are not supported when "
                         "recording with autograd.")


def _value_array(arr, value, shape, squeeze_axes=()):
    """``value`` as an NDArray of ``shape`` with arr's dtype and context: new axes (None in
    the key) and leading length-1 axes dropped, then broadcast, as MXNet prepares values."""
    nd = _nd()
    if isinstance(value, nd.NDArray):
        v = value.as_in_context(arr.context)
        if v.dtype != arr.dtype:
            v = v.astype(arr.dtype)
        vshape = v.shape
    else:
        try:
            v = np.asarray(value, dtype=arr.dtype)
        except (TypeError, ValueError):
            raise TypeError("NDArray does not support assignment with non-array-like object "
                            "%r of type %s" % (value, type(value)))
        vshape = v.shape
    target = _squeezed_shape(vshape, shape, squeeze_axes)
    if isinstance(v, np.ndarray):
        v = v.reshape(target)
        if target != tuple(shape):
            try:
                v = np.broadcast_to(v, shape)
            except ValueError:
                raise ValueError("operands could not be broadcast together with remapped "
                                 "shapes [original->remapped]: %s and requested shape %s"
                                 % (vshape, tuple(shape)))
        return nd.array(v, ctx=arr.context, dtype=arr.dtype)
    if target != vshape:
        v = v.reshape(target)
    if target != tuple(shape):
        if v.size == 0:
            return v.reshape(shape)
        v = v.broadcast_to(shape)
    return v


def _squeezed_shape(vshape, shape, squeeze_axes):
    vshape = tuple(vshape)
    if squeeze_axes and len(vshape) > len(shape):
        drop = {ax for ax in squeeze_axes if ax < len(vshape) and vshape[ax] == 1}
        vshape = tuple(n for ax, n in enumerate(vshape) if ax not in drop)
    while len(vshape) > len(shape) and vshape[0] == 1:
        vshape = vshape[1:]
    if len(vshape) < len(shape):
        vshape = (1,) * (len(shape) - len(vshape)) + vshape
    return vshape


def setitem(arr, key, value):
    nd = _nd()
    if arr.ndim == 0:
        if not (key == () or key == slice(None)):
            raise IndexError("scalar tensor can only accept `()` and `:` as index")
        return _set_whole(arr, value, ())
    if arr.size == 0:
        return None
    key = expand_key(key, arr.shape)
    if is_advanced(key):
        _check_record_inplace(arr, value)
        indices, new_axes = _advanced_indices(arr, key)
        m = indices.shape[0]
        vshape = tuple(indices.shape[1:]) + tuple(arr.shape[m:])
        v = _value_array(arr, value, vshape, new_axes)
        idx = nd.array(indices, ctx=arr.context, dtype=indices.dtype)
        nd._invoke("_scatter_set_nd", [arr, v, idx], {"shape": str(tuple(arr.shape))}, out=arr)
        return None
    slices, int_axes, new_axes = _basic_parts(arr, key)
    ranges = [s.indices(n) for s, n in zip(slices, arr.shape)]
    indexed = tuple(len(range(*r)) for r in ranges)
    kept = tuple(n for ax, n in enumerate(indexed) if ax not in int_axes) or (1,)
    if indexed == arr.shape and all(r[2] > 0 for r in ranges):
        return _set_whole(arr, value, kept, new_axes)
    _check_record_inplace(arr, value)
    if isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_)):
        attrs = _slice_attrs(slices)
        attrs["scalar"] = repr(float(value))
        nd._invoke("_slice_assign_scalar", [arr], attrs, out=arr)
        return None
    v = _value_array(arr, value, kept, new_axes)
    if v.shape != indexed:
        v = v.reshape(indexed)
    nd._invoke("_slice_assign", [arr, v], _slice_attrs(slices), out=arr)
    return None


def _set_whole(arr, value, kept, new_axes=()):
    """Writes ``value`` over all of ``arr`` (a key selecting every element in order)."""
    nd = _nd()
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, numbers.Number):
        arr._fill(value)
        return None
    if arr.ndim == 0:
        size = value.size if hasattr(value, "size") else np.size(value)
        if size != 1:
            raise ValueError("setting an array element with a sequence.")
    if isinstance(value, nd.NDArray):
        if value.handle == arr.handle:
            return None
        v = _value_array(arr, value, kept or (1,), new_axes)
        if v.shape != arr.shape:
            v = v.reshape(arr.shape)
        v.copyto(arr)
        return None
    v = np.asarray(value, dtype=arr.dtype)
    target = _squeezed_shape(v.shape, kept or (1,), new_axes)
    v = np.broadcast_to(v.reshape(target), kept or (1,)).reshape(arr.shape)
    arr._upload_into(v)
    return None

