"""Fluent operator methods (``x.sum(axis=1)``, ``sym.abs()``) and ``_internal`` namespaces,
shared by NDArray and Symbol.

MXNet 1.x defines one method per operator below on both NDArray and Symbol; each calls the
operator with the array or symbol as its first input. ``install`` adds them to a class
(keeping any method the class defines itself, such as NDArray.reshape's own semantics);
``internal_namespace`` builds the ``_internal`` module of mx.nd / mx.sym, which exposes every
operator the compiler lists, the underscore-prefixed ones included.

Thread-safety: both run once at import; the methods they make are as thread-safe as the
operator functions they call.
"""
import sys
import types

from . import _ops

# MXNet's fluent methods that call an operator of the same name (split_v2 calls the module
# function split_v2, installed by each module with install_split_v2).
FLUENT_METHODS = (
    "reshape", "reshape_like", "zeros_like", "ones_like", "broadcast_axes", "repeat", "pad",
    "swapaxes", "split", "slice", "slice_axis", "slice_like", "take", "one_hot", "pick",
    "sort", "topk", "argsort", "argmax", "argmin", "argmax_channel", "clip", "abs", "sign",
    "flatten", "shape_array", "size_array", "expand_dims", "broadcast_to", "broadcast_like",
    "tile", "transpose", "flip", "depth_to_space", "space_to_depth", "diag", "sum", "nansum",
    "prod", "nanprod", "mean", "max",
    "min", "norm", "round", "rint", "fix", "floor", "ceil", "trunc", "sin", "cos", "tan",
    "arcsin", "arccos", "arctan", "degrees", "radians", "sinh", "cosh", "tanh", "arcsinh",
    "arccosh", "arctanh", "exp", "expm1", "log", "log10", "log2", "log1p", "sqrt", "rsqrt",
    "cbrt", "rcbrt", "square", "reciprocal", "relu", "sigmoid", "softmax", "log_softmax",
    "softmin", "squeeze")


def _method(op_name, op_factory):
    def method(self, *args, **kwargs):
        return op_factory(op_name)(self, *args, **kwargs)
    method.__name__ = op_name
    method.__doc__ = "Calls ``%s`` with this object as its first input." % op_name
    return method


def install(cls, op_factory):
    """Adds each FLUENT_METHODS entry that ``cls`` does not define itself, calling
    ``op_factory(op_name)`` (mx.nd's or mx.sym's operator function) at call time."""
    for name in FLUENT_METHODS:
        if name not in cls.__dict__:
            setattr(cls, name, _method(name, op_factory))


def install_inplace_reshapes(cls, op_factory):
    """NDArray's flatten, expand_dims and squeeze: the operator, or with inplace=True a
    reshaped view sharing this array's memory (as MXNet's NDArray methods); and its
    broadcast_to, which also takes a shape of higher rank."""
    def flatten(self, inplace=False):
        if not inplace:
            return op_factory("flatten")(self)
        return self.reshape((self.shape[0], -1) if self.ndim else (1, 1))

    def expand_dims(self, axis, inplace=False):
        if not inplace:
            return op_factory("expand_dims")(self, axis=axis)
        shape = list(self.shape)
        if not -len(shape) - 1 <= axis <= len(shape):
            raise ValueError("axis %d is out of range for %dd array" % (axis, len(shape)))
        shape.insert(axis + len(shape) + 1 if axis < 0 else axis, 1)
        return self.reshape(shape)

    def squeeze(self, axis=None, inplace=False):
        if not inplace:
            return op_factory("squeeze")(self, axis=axis)
        shape = list(self.shape)
        axes = [axis] if isinstance(axis, int) else list(axis or ())
        if axes:
            axes = [a + len(shape) if a < 0 else a for a in axes]
            if len(set(axes)) != len(axes):
                raise ValueError("axis contains duplicate elements")
            for a in sorted(axes, reverse=True):
                if not 0 <= a < len(shape) or shape[a] != 1:
                    raise ValueError("cannot select an axis to squeeze out which has size "
                                     "not equal to one")
                del shape[a]
        else:
            shape = [d for d in shape if d != 1]
        return self.reshape(shape or [1])

    def broadcast_to(self, shape):
        # As MXNet's NDArray.broadcast_to: a shape of higher rank prepends 1s to this one.
        shape = tuple(int(d) for d in shape)
        cur = tuple(self.shape)
        err = ("operands could not be broadcast together with remapped shapes "
               "[original->remapped]: %s and requested shape %s" % (cur, shape))
        if len(shape) < len(cur):
            raise ValueError(err)
        cur = (1,) * (len(shape) - len(cur)) + cur
        if any(c != s and c != 1 for c, s in zip(cur, shape)):
            raise ValueError(err)
        src = self.reshape(cur) if cur != tuple(self.shape) else self
        return op_factory("broadcast_to")(src, shape=shape)

    for fn in (flatten, expand_dims, squeeze, broadcast_to):
        fn.__doc__ = "The %s operator, or with inplace=True a reshaped view." % fn.__name__
        setattr(cls, fn.__name__, fn)


def split_v2_attrs(indices_or_sections, axis, squeeze_axis):
    """The _split_v2 parameters of MXNet's split_v2(ary, indices_or_sections, axis,
    squeeze_axis): an int is a number of sections, a tuple the split points (0 prepended)."""
    if isinstance(indices_or_sections, int):
        indices, sections = (), indices_or_sections
    elif isinstance(indices_or_sections, tuple):
        indices, sections = (0,) + tuple(indices_or_sections), 0
    else:
        raise ValueError("indices_or_sections must either int or tuple of ints")
    return {"indices": indices, "axis": axis, "squeeze_axis": squeeze_axis,
            "sections": sections}


def install_split_v2(cls, split_v2):
    """Adds the fluent split_v2 method, calling the module function ``split_v2``."""
    def method(self, *args, **kwargs):
        return split_v2(self, *args, **kwargs)
    method.__name__ = "split_v2"
    method.__doc__ = "Calls split_v2 with this object as ``ary``."
    cls.split_v2 = method


def internal_namespace(module_name, op_factory):
    """A module whose attributes are the operators ``op_factory(name)`` makes for every name
    the compiler lists (as MXNet's ndarray._internal / symbol._internal); registered in
    sys.modules under ``module_name``."""
    module = types.ModuleType(module_name, "Every operator, underscore-prefixed ones included.")
    getattr_, dir_ = _ops.module_functions(op_factory)
    module.__getattr__ = getattr_
    module.__dir__ = lambda: dir_({})
    sys.modules[module_name] = module
    return module
