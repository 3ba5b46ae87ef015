"""DLPack capsules of NDArrays (MXNet's to_dlpack_for_read / to_dlpack_for_write /
from_dlpack), built with ctypes.

A capsule is a PyCapsule named "dltensor" holding a DLManagedTensor (DLPack 0.x layout, the
one MXNet 1.9.1 exchanges) that describes a host (kDLCPU) copy of the array's values: the
data lives on the worker, so it travels through the client. A consumer renames the capsule
"used_dltensor" and calls the tensor's deleter when done; an unconsumed capsule calls it
when collected. ``from_dlpack`` reads any CPU DLManagedTensor (strided or not) into a new
array and consumes the capsule.

Thread-safety: the table of live tensors is guarded by a lock.
"""
import ctypes
import threading

import numpy as np

from .base import MXNetError

__all__ = ["to_capsule", "from_capsule"]

_CPU = 1  # kDLCPU
_CODES = {"i": 0, "u": 1, "f": 2, "b": 1}  # kDLInt, kDLUInt, kDLFloat; bool as uint8
_NAME = b"dltensor"
_USED = b"used_dltensor"


class _Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class _DataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _Device), ("ndim", ctypes.c_int),
                ("dtype", _DataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _Managed(ctypes.Structure):
    pass


_Deleter = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Managed))
_Managed._fields_ = [("dl_tensor", _Tensor), ("manager_ctx", ctypes.c_void_p),
                     ("deleter", _Deleter)]

_api = ctypes.pythonapi
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]

# The same two functions on a raw PyObject* (the capsule destructor runs while the capsule
# is being deallocated: it must not become a Python reference again).
_raw_is_valid = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_IsValid", _api))
_raw_get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", _api))

_lock = threading.Lock()
_live = {}  # address of a DLManagedTensor -> what keeps its memory alive


@_Deleter
def _delete(managed):
    with _lock:
        _live.pop(ctypes.addressof(managed.contents), None)


_CapsuleDestructor = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@_CapsuleDestructor
def _capsule_destructor(capsule_ptr):
    # An unconsumed capsule still owns its tensor: delete it (a consumer renamed it).
    if _raw_is_valid(capsule_ptr, _NAME):
        ptr = _raw_get_pointer(capsule_ptr, _NAME)
        managed = ctypes.cast(ptr, ctypes.POINTER(_Managed))
        managed.contents.deleter(managed)


def to_capsule(values):
    """A "dltensor" capsule owning a C-contiguous copy of numpy ``values``."""
    values = np.require(values, requirements="C")  # keeps 0-d (ascontiguousarray does not)
    kind = values.dtype.kind
    if kind not in _CODES:
        raise MXNetError("to_dlpack: dtype %s has no DLPack type" % values.dtype)
    shape = (ctypes.c_int64 * max(values.ndim, 1))(*values.shape)
    managed = _Managed()
    t = managed.dl_tensor
    t.data = values.ctypes.data if values.size else None
    t.device = _Device(_CPU, 0)
    t.ndim = values.ndim
    t.dtype = _DataType(_CODES[kind], values.dtype.itemsize * 8, 1)
    t.shape = shape
    t.strides = None  # compact row-major
    t.byte_offset = 0
    managed.manager_ctx = None
    managed.deleter = _delete
    address = ctypes.addressof(managed)
    with _lock:
        _live[address] = (managed, values, shape)
    return _api.PyCapsule_New(address, _NAME, ctypes.cast(_capsule_destructor, ctypes.c_void_p))


def from_capsule(capsule):
    """A numpy copy of the tensor in a "dltensor" capsule, which is consumed (renamed
    "used_dltensor", its deleter called). MXNetError for a used or foreign capsule, a
    device other than the CPU, or an unsupported dtype."""
    try:
        valid = _api.PyCapsule_IsValid(capsule, _NAME)
    except ctypes.ArgumentError:
        valid = 0
    if not valid:
        raise MXNetError("from_dlpack: expected an unused 'dltensor' capsule (a capsule can "
                         "be consumed only once)")
    managed = ctypes.cast(_api.PyCapsule_GetPointer(capsule, _NAME),
                          ctypes.POINTER(_Managed))
    t = managed.contents.dl_tensor
    if t.device.device_type != _CPU:
        raise MXNetError("from_dlpack: only CPU (kDLCPU) tensors can be read, got device "
                         "type %d" % t.device.device_type)
    kinds = {0: "i", 1: "u", 2: "f"}
    if t.dtype.code not in kinds or t.dtype.lanes != 1:
        raise MXNetError("from_dlpack: unsupported DLPack dtype (code %d, bits %d, lanes %d)"
                         % (t.dtype.code, t.dtype.bits, t.dtype.lanes))
    dtype = np.dtype("%s%d" % (kinds[t.dtype.code], t.dtype.bits // 8))
    shape = tuple(t.shape[i] for i in range(t.ndim))
    size = int(np.prod(shape, dtype=np.int64))
    elem_strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None
    if elem_strides and min(elem_strides, default=0) < 0:
        raise MXNetError("from_dlpack: negative strides are not supported")
    out = np.empty(shape, dtype=dtype)
    if size:
        if elem_strides:
            span = 1 + sum((n - 1) * st for n, st in zip(shape, elem_strides))
        else:
            span = size
        raw = (ctypes.c_char * (span * dtype.itemsize)).from_address(t.data + t.byte_offset)
        flat = np.frombuffer(raw, dtype=dtype)
        if elem_strides:
            out[...] = np.lib.stride_tricks.as_strided(
                flat, shape=shape, strides=tuple(st * dtype.itemsize for st in elem_strides))
        else:
            out[...] = flat.reshape(shape)
    _api.PyCapsule_SetName(capsule, _USED)
    if managed.contents.deleter:
        managed.contents.deleter(managed)
    return out
