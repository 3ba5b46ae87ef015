"""MXNet 1.x's NDArray binary format (``.params`` files, pickles) in pure Python.

Byte-compatible with MXNet 1.9.1's ``mx.nd.save`` (see libs/tensor/ndarray_io.cc and the
reference notes, section 1): a list container ``u64 0x112, u64 0, u64 N, N records, u64 K,
K names`` and per array a V2 record ``u32 0xF993FAC9, i32 stype=0, i32 ndim, ndim x i64,
i32 dev_type, i32 dev_id, i32 type_flag, raw C-order little-endian data``. The reader also
takes V1, V3 and pre-V1 records of dense arrays.

Works on numpy arrays only; ndarray.py moves them to and from the worker.
"""
import struct

import numpy as np

__all__ = ["dumps_list", "loads_list", "dump_record", "load_record",
           "MX_TYPE_FLAGS", "np_dtype_of_flag"]

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


def dump_record(array, dev_type=1, dev_id=0):
    """One V2 dense record of the numpy ``array`` (as saved from context dev_type/dev_id)."""
    array = np.ascontiguousarray(array)
    if array.ndim == 0:
        raise ValueError("MXNet 1.x's format cannot hold a 0-d array (ndim 0 means 'none')")
    flag = MX_TYPE_FLAGS.get(array.dtype)
    if flag is None:
        raise ValueError("dtype %s has no MXNet type flag" % array.dtype)
    parts = [struct.pack("<Ii", V2_MAGIC, 0), struct.pack("<i", array.ndim),
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


def _read_record(r):
    """Returns (numpy array or None for a 'none' array, dev_type, dev_id)."""
    (magic,) = r.unpack("<I")
    if magic in (V2_MAGIC, V3_MAGIC):
        (stype,) = r.unpack("<i")
        if stype != 0:
            raise ValueError("sparse NDArrays (storage type %d) are not supported" % stype)
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


def load_record(buf):
    """Parses one record (the pickle form); returns (array, dev_type, dev_id)."""
    return _read_record(_Reader(buf))


def dumps_list(arrays, names=None, contexts=None):
    """The bytes of a .params file: ``arrays`` (numpy), optional ``names`` (one per array)."""
    names = list(names or [])
    if names and len(names) != len(arrays):
        raise ValueError("need one name per array")
    contexts = contexts or [(1, 0)] * len(arrays)
    parts = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    parts += [dump_record(a, *c) for a, c in zip(arrays, contexts)]
    parts.append(struct.pack("<Q", len(names)))
    for name in names:
        raw = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(raw)) + raw)
    return b"".join(parts)


def loads_list(buf):
    """Parses a .params file; returns (list of (array, dev_type, dev_id), list of names)."""
    r = _Reader(buf)
    magic, _reserved = r.unpack("<QQ")
    if magic != LIST_MAGIC:
        raise ValueError("Invalid NDArray file format (magic 0x%x)" % magic)
    (count,) = r.unpack("<Q")
    records = [_read_record(r) for _ in range(count)]
    (num_names,) = r.unpack("<Q")
    names = []
    for _ in range(num_names):
        (length,) = r.unpack("<Q")
        names.append(bytes(r.take(length)).decode("utf-8"))
    if names and len(names) != len(records):
        raise ValueError("Invalid NDArray file format: %d names for %d arrays"
                         % (len(names), len(records)))
    return records, names
