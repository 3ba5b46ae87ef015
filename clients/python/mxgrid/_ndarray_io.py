"""MXNet 1.x's NDArray binary format (``.params`` files, pickles) in pure Python.

Byte-compatible with MXNet 1.9.1's ``mx.nd.save`` (see libs/tensor/ndarray_io.cc and the
reference notes, section 1): a list container ``u64 0x112, u64 0, u64 N, N records, u64 K,
K names`` and per array a V2 record ``u32 0xF993FAC9, i32 stype=0, i32 ndim, ndim x i64,
i32 dev_type, i32 dev_id, i32 type_flag, raw C-order little-endian data``. Under NumPy shape
semantics (``np_shape=True``) records are V3 (magic 0xF993FACA, same layout) and may be 0-d;
as in MXNet, a V3 record only loads with np_shape=True and any other only with
np_shape=False (``np_shape=None`` accepts both). The reader also takes V1 and pre-V1
records of dense arrays.

Works on numpy arrays only; ndarray.py moves them to and from the worker.
"""
import struct

import numpy as np

__all__ = ["dumps_list", "loads_list", "dump_record", "load_record",
           "MX_TYPE_FLAGS", "np_dtype_of_flag", "SparseValue"]

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA

# numpy dtype -> mshadow type flag (MXNet's _DTYPE_NP_TO_MX).
MX_TYPE_FLAGS = {
    np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.float16): 2,
    np.dtype(np.uint8): 3, np.dtype(np.int32): 4, np.dtype(np.int8): 5,
    np.dtype(np.int64): 6, np.dtype(np.bool_): 7, np.dtype(np.int16): 8,
    np.dtype(np.uint16): 9, np.dtype(np.uint32): 10, np.dtype(np.uint64): 11,
}
_FLAG_TO_NP = {v: k for k, v in MX_TYPE_FLAGS.items()}


def np_dtype_of_flag(flag):
    if flag not in _FLAG_TO_NP:
        raise ValueError("unsupported NDArray type flag %d" % flag)
    return _FLAG_TO_NP[flag]


class SparseValue:
    """A row_sparse (stype 1) or csr (stype 2) array as numpy parts: the stored values
    ``data`` and the int64 ``aux`` arrays in MXNet's order (row_sparse: row ids; csr: indptr,
    column indices), of logical ``shape``."""

    def __init__(self, stype, shape, data, aux):
        self.stype, self.shape, self.data, self.aux = stype, tuple(shape), data, list(aux)


def _shape_bytes(shape):
    return struct.pack("<i", len(shape)) + struct.pack("<%dq" % len(shape), *shape)


def _dump_sparse(value, dev_type, dev_id, np_shape):
    data = np.require(value.data, requirements="C")
    flag = MX_TYPE_FLAGS.get(data.dtype)
    if flag is None:
        raise ValueError("dtype %s has no MXNet type flag" % data.dtype)
    aux = [np.require(a, dtype=np.int64, requirements="C") for a in value.aux]
    parts = [struct.pack("<Ii", V3_MAGIC if np_shape else V2_MAGIC, value.stype),
             _shape_bytes(data.shape), _shape_bytes(value.shape),
             struct.pack("<iii", dev_type, dev_id, flag)]
    for a in aux:
        parts += [struct.pack("<i", MX_TYPE_FLAGS[np.dtype(np.int64)]), _shape_bytes(a.shape)]
    parts.append(data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes())
    parts += [a.astype("<i8", copy=False).tobytes() for a in aux]
    return b"".join(parts)


def dump_record(array, dev_type=1, dev_id=0, np_shape=False):
    """One record of the numpy ``array`` or SparseValue (as saved from context
    dev_type/dev_id): V2, or V3 under NumPy shape semantics."""
    if isinstance(array, SparseValue):
        return _dump_sparse(array, dev_type, dev_id, np_shape)
    array = np.require(array, requirements="C")  # keeps 0-d (ascontiguousarray does not)
    if array.ndim == 0 and not np_shape:
        raise ValueError("a 0-d array can only be saved under np_shape(True) (in MXNet 1.x's "
                         "legacy format ndim 0 means 'none')")
    flag = MX_TYPE_FLAGS.get(array.dtype)
    if flag is None:
        raise ValueError("dtype %s has no MXNet type flag" % array.dtype)
    magic = V3_MAGIC if np_shape else V2_MAGIC
    parts = [struct.pack("<Ii", magic, 0), struct.pack("<i", array.ndim),
             struct.pack("<%dq" % array.ndim, *array.shape),
             struct.pack("<iii", dev_type, dev_id, flag),
             array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()]
    return b"".join(parts)


class _Reader:
    def __init__(self, buf):
        self.buf = memoryview(buf)
        self.pos = 0

    def unpack(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ValueError("truncated NDArray data at byte %d" % self.pos)
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError("truncated NDArray data at byte %d" % self.pos)
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out


def _read_shape(r, u32_dims=False, ndim=None):
    if ndim is None:
        (ndim,) = r.unpack("<i")
    if ndim < 0:
        return None
    return tuple(r.unpack("<%d%s" % (ndim, "I" if u32_dims else "q")))


def _read_record(r, np_shape=None):
    """Returns (numpy array or None for a 'none' array, dev_type, dev_id)."""
    (magic,) = r.unpack("<I")
    if np_shape is not None and (magic == V3_MAGIC) != bool(np_shape):
        if magic == V3_MAGIC:
            raise ValueError("ndarray was saved in np shape semantics, must be loaded in the "
                             "same semantics: load it inside `with mx.np_shape(True)`")
        raise ValueError("ndarray was not saved in np shape semantics, but is being loaded "
                         "in np shape semantics: load it inside `with mx.np_shape(False)`")
    if magic in (V2_MAGIC, V3_MAGIC):
        (stype,) = r.unpack("<i")
        if stype in (1, 2):
            return _read_sparse(r, stype)
        if stype != 0:
            raise ValueError("unknown NDArray storage type %d" % stype)
        shape = _read_shape(r)
        if shape is None or (magic == V2_MAGIC and len(shape) == 0) or -1 in shape:
            return None, 1, 0
    elif magic == V1_MAGIC:
        shape = _read_shape(r)
        if not shape:
            return None, 1, 0
    else:  # pre-V1: the magic is ndim, dims are u32
        shape = _read_shape(r, u32_dims=True, ndim=magic)
        if not shape:
            return None, 1, 0
    dev_type, dev_id, flag = r.unpack("<iii")
    dtype = np_dtype_of_flag(flag)
    count = int(np.prod(shape, dtype=np.int64))
    data = r.take(count * dtype.itemsize)
    arr = np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    return arr, dev_type, dev_id


def _read_sparse(r, stype):
    """The rest of a row_sparse / csr record: (SparseValue, dev_type, dev_id)."""
    storage_shape = _read_shape(r)
    shape = _read_shape(r)
    if storage_shape is None or shape is None or len(shape) == 0:
        raise ValueError("sparse NDArray record without a shape")
    dev_type, dev_id, flag = r.unpack("<iii")
    dtype = np_dtype_of_flag(flag)
    aux_meta = []
    for _ in range(1 if stype == 1 else 2):
        (aux_flag,) = r.unpack("<i")
        aux_meta.append((np_dtype_of_flag(aux_flag), _read_shape(r)))
    count = int(np.prod(storage_shape, dtype=np.int64))
    data = np.frombuffer(r.take(count * dtype.itemsize), dtype=dtype.newbyteorder("<")).astype(
        dtype).reshape(storage_shape)
    aux = []
    for aux_dtype, aux_shape in aux_meta:
        n = int(np.prod(aux_shape, dtype=np.int64))
        aux.append(np.frombuffer(r.take(n * aux_dtype.itemsize),
                                 dtype=aux_dtype.newbyteorder("<")).astype(np.int64))
    return SparseValue(stype, shape, data, aux), dev_type, dev_id


def load_record(buf):
    """Parses one record (the pickle form); returns (array, dev_type, dev_id)."""
    return _read_record(_Reader(buf))


def dumps_list(arrays, names=None, contexts=None, np_shape=False):
    """The bytes of a .params file: ``arrays`` (numpy), optional ``names`` (one per array);
    V3 records under NumPy shape semantics."""
    names = list(names or [])
    if names and len(names) != len(arrays):
        raise ValueError("need one name per array")
    contexts = contexts or [(1, 0)] * len(arrays)
    parts = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    parts += [dump_record(a, c[0], c[1], np_shape) for a, c in zip(arrays, contexts)]
    parts.append(struct.pack("<Q", len(names)))
    for name in names:
        raw = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(raw)) + raw)
    return b"".join(parts)


def loads_list(buf, np_shape=None):
    """Parses a .params file; returns (list of (array, dev_type, dev_id), list of names).
    ``np_shape`` (True/False) refuses records of the other shape semantics."""
    r = _Reader(buf)
    magic, _reserved = r.unpack("<QQ")
    if magic != LIST_MAGIC:
        raise ValueError("Invalid NDArray file format (magic 0x%x)" % magic)
    (count,) = r.unpack("<Q")
    records = [_read_record(r, np_shape) for _ in range(count)]
    (num_names,) = r.unpack("<Q")
    names = []
    for _ in range(num_names):
        (length,) = r.unpack("<Q")
        try:
            names.append(bytes(r.take(length)).decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ValueError("Invalid NDArray file format: a name is not UTF-8 (%s)" % e)
    if names and len(names) != len(records):
        raise ValueError("Invalid NDArray file format: %d names for %d arrays"
                         % (len(names), len(records)))
    return records, names
