"""mx.init: weight initializers, as MXNet 1.9.1's mx.initializer (names, defaults, naming
rules). Values are generated on the client with NumPy's global RNG (seed it with
``numpy.random.seed`` for reproducible runs; the stream differs from MXNet's own RNG) and
uploaded once per array.

Naming rules (MXNet's): ``*_weight`` gets the initializer's own rule, ``*_bias`` / ``*_beta`` /
``*_moving_mean`` / ``*_moving_inv_var`` / ``*_moving_avg`` / ``*min`` zero,
``*_gamma`` / ``*_moving_var`` / ``*max`` one; an ``__init__`` attribute on the variable
(``mx.sym.Variable('w', init=mx.init.Normal(0.1))``) overrides the rule.

    init = mx.init.Xavier(magnitude=2.24)
    init(mx.init.InitDesc('fc1_weight'), arr)   # arr: an NDArray or a numpy array (in place)

Thread-safety: initializers hold no state beyond their parameters; the RNG is numpy's.
"""
import json
import math

import numpy as np

from . import random as mx_random
from .ndarray import NDArray

__all__ = ["InitDesc", "Initializer", "Uniform", "Normal", "Xavier", "MSRAPrelu", "Orthogonal",
           "Bilinear", "Zero", "One", "Constant", "Load", "Mixed", "register", "create", "LSTMBias", "FusedRNN"]

_REGISTRY = {}


def register(klass):
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def _alias(*names):
    def deco(klass):
        for n in names:
            _REGISTRY[n] = klass
        return klass
    return deco


class InitDesc(str):
    """A parameter name with its variable attributes (``attrs``), as MXNet's InitDesc."""

    def __new__(cls, name, attrs=None, global_init=None):
        ret = super().__new__(cls, name)
        ret.attrs = attrs or {}
        ret.global_init = global_init
        return ret


class Initializer:
    """Base class: ``init(desc, arr)`` fills ``arr`` by the naming rules."""

    def __init__(self, **kwargs):
        self._kwargs = kwargs

    def dumps(self):
        """JSON ``[name, kwargs]`` as MXNet writes into ``__init__`` attributes."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % kv for kv in sorted(self._kwargs.items())))

    def __call__(self, desc, arr):
        """Fills ``arr`` (an NDArray: uploaded; a numpy array: written in place)."""
        if not isinstance(desc, str):
            raise TypeError("desc must be a string (a parameter name or InitDesc)")
        host = np.empty(arr.shape, dtype=arr.dtype)
        self.fill(desc, host)
        if isinstance(arr, NDArray):
            arr[:] = host
        else:
            arr[...] = host

    def fill(self, desc, out):
        """Writes the initial value of parameter ``desc`` into numpy array ``out``."""
        init = getattr(desc, "attrs", {}).get("__init__", "")
        if init:
            if getattr(desc, "global_init", None) is None:
                # An initializer of composite parameters (FusedRNN) falls back on this one.
                desc = InitDesc(str(desc), getattr(desc, "attrs", {}), self)
            create(init)._init_weight(desc, out)
            return
        name = str(desc)
        if name.startswith("upsampling"):
            self._init_bilinear(name, out)
        elif name.startswith("stn_loc") and name.endswith("weight"):
            self._init_zero(name, out)
        elif name.startswith("stn_loc") and name.endswith("bias"):
            self._init_loc_bias(name, out)
        elif name.endswith("bias"):
            self._init_bias(name, out)
        elif name.endswith("gamma"):
            self._init_gamma(name, out)
        elif name.endswith("beta"):
            self._init_beta(name, out)
        elif name.endswith("weight"):
            self._init_weight(name, out)
        elif name.endswith("moving_mean") or name.endswith("moving_inv_var") or \
                name.endswith("moving_avg") or name.endswith("min"):
            self._init_zero(name, out)
        elif name.endswith("moving_var") or name.endswith("max"):
            self._init_one(name, out)
        else:
            self._init_default(name, out)

    @staticmethod
    def _init_bilinear(_, arr):
        weight = np.zeros(np.prod(arr.shape), dtype="float32")
        shape = arr.shape
        f = np.ceil(shape[3] / 2.)
        c = (2 * f - 1 - f % 2) / (2. * f)
        for i in range(np.prod(shape)):
            x = i % shape[3]
            y = (i // shape[3]) % shape[2]
            weight[i] = (1 - abs(x / f - c)) * (1 - abs(y / f - c))
        arr[...] = weight.reshape(shape)

    @staticmethod
    def _init_loc_bias(_, arr):
        assert arr.shape[0] == 6
        arr[...] = np.array([1.0, 0, 0, 0, 1.0, 0])

    @staticmethod
    def _init_zero(_, arr):
        arr[...] = 0.0

    @staticmethod
    def _init_one(_, arr):
        arr[...] = 1.0

    def _init_bias(self, _, arr):
        arr[...] = 0.0

    def _init_gamma(self, _, arr):
        arr[...] = 1.0

    def _init_beta(self, _, arr):
        arr[...] = 0.0

    def _init_weight(self, name, arr):
        raise NotImplementedError("Must override it")

    def _init_default(self, name, _):
        raise ValueError(
            "Unknown initialization pattern for %s. Default initialization is now limited to "
            "\"weight\", \"bias\", \"gamma\" (1.0), and \"beta\" (0.0). Please use "
            "mx.sym.Variable(init=mx.init.*) to set initialization pattern" % name)


@register
@_alias("zeros")
class Zero(Initializer):
    """Every value 0."""

    def _init_weight(self, _, arr):
        arr[...] = 0.0


@register
@_alias("ones")
class One(Initializer):
    """Every value 1."""

    def _init_weight(self, _, arr):
        arr[...] = 1.0


@register
class Constant(Initializer):
    """Every value ``value`` (a scalar or an array broadcast to the shape)."""

    def __init__(self, value):
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, _, arr):
        arr[...] = np.asarray(self.value.asnumpy() if isinstance(self.value, NDArray)
                              else self.value)


@register
class Uniform(Initializer):
    """U(-scale, scale) weights."""

    def __init__(self, scale=0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, _, arr):
        arr[...] = np.random.uniform(-self.scale, self.scale, arr.shape)


@register
class Normal(Initializer):
    """N(0, sigma^2) weights."""

    def __init__(self, sigma=0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, _, arr):
        arr[...] = np.random.normal(0, self.sigma, arr.shape)


@register
class Xavier(Initializer):
    """Glorot/Xavier: scale = sqrt(magnitude / factor), factor from fan_in/fan_out ('avg',
    'in', 'out'); uniform in [-scale, scale] or gaussian with sigma scale."""

    def __init__(self, rnd_type="uniform", factor_type="avg", magnitude=3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name, arr):
        shape = arr.shape
        hw_scale = 1.
        if len(shape) < 2:
            raise ValueError("Xavier initializer cannot be applied to vector {0}. It requires "
                             "at least 2D.".format(name))
        if len(shape) > 2:
            hw_scale = float(np.prod(shape[2:]))
        fan_in, fan_out = shape[1] * hw_scale, shape[0] * hw_scale
        if self.factor_type == "avg":
            factor = (fan_in + fan_out) / 2.0
        elif self.factor_type == "in":
            factor = fan_in
        elif self.factor_type == "out":
            factor = fan_out
        else:
            raise ValueError("Incorrect factor type")
        scale = math.sqrt(self.magnitude / factor)
        if self.rnd_type == "uniform":
            arr[...] = np.random.uniform(-scale, scale, shape)
        elif self.rnd_type == "gaussian":
            arr[...] = np.random.normal(0, scale, shape)
        else:
            raise ValueError("Unknown random type")


@register
class MSRAPrelu(Xavier):
    """He/MSRA initialization: Xavier gaussian with magnitude 2 / (1 + slope^2)."""

    def __init__(self, factor_type="avg", slope=0.25):
        magnitude = 2. / (1 + slope ** 2)
        super().__init__("gaussian", factor_type, magnitude)
        self._kwargs = {"factor_type": factor_type, "slope": slope}


@register
class Orthogonal(Initializer):
    """Orthogonal weights (Saxe et al.): the orthonormal factor of an SVD of a (rows, rest)
    matrix drawn uniform in [-1, 1] (rand_type 'uniform') or N(0, 1) ('normal') by mx.random
    (so mx.random.seed reproduces it, as in MXNet), times ``scale``."""

    def __init__(self, scale=1.414, rand_type="uniform"):
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, _, arr):
        rows = arr.shape[0]
        cols = int(np.prod(arr.shape[1:]))
        if self.rand_type == "uniform":
            draw = mx_random.uniform(-1.0, 1.0, shape=(rows, cols)).asnumpy()
        elif self.rand_type == "normal":
            draw = mx_random.normal(0.0, 1.0, shape=(rows, cols)).asnumpy()
        else:
            raise ValueError("Unknown random type %r (uniform or normal)" % (self.rand_type,))
        u, _, v = np.linalg.svd(draw, full_matrices=False)
        factor = u if u.shape == draw.shape else v
        arr[...] = self.scale * factor.reshape(arr.shape)


@register
class Bilinear(Initializer):
    """Bilinear up-sampling weights for a Deconvolution (N, C, H, W) kernel: each (H, W)
    plane is the outer product of two triangle filters centred on the kernel."""

    def _init_weight(self, _, arr):
        shape = arr.shape
        f = np.ceil(shape[3] / 2.)
        c = (2 * f - 1 - f % 2) / (2. * f)
        flat = np.arange(int(np.prod(shape)))
        x = flat % shape[3]
        y = (flat // shape[3]) % shape[2]
        weight = (1 - np.abs(x / f - c)) * (1 - np.abs(y / f - c))
        arr[...] = weight.astype(np.float32).reshape(shape)


class Load:
    """Values from a dict of arrays (or a .params file), falling back to ``default_init``."""

    def __init__(self, param, default_init=None, verbose=False):
        from . import ndarray as nd
        if isinstance(param, str):
            param = nd.load(param)
        self.param = {}
        for name, arr in param.items():
            if name.startswith("arg:") or name.startswith("aux:"):
                name = name[4:]
            self.param[name] = arr.asnumpy() if isinstance(arr, NDArray) else np.asarray(arr)
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr):
        if name in self.param:
            if tuple(arr.shape) != self.param[name].shape:
                raise ValueError("Parameter %s cannot be initialized from loading. Shape "
                                 "mismatch, target %s vs loaded %s"
                                 % (name, arr.shape, self.param[name].shape))
            value = self.param[name]
            if isinstance(arr, NDArray):
                arr[:] = value
            else:
                arr[...] = value
        else:
            if self.default_init is None:
                raise ValueError("Cannot Initialize %s. Not found in loaded param and no "
                                 "default Initializer is provided." % name)
            self.default_init(name, arr)


class Mixed:
    """The first initializer whose regex pattern matches the name."""

    def __init__(self, patterns, initializers):
        import re
        assert len(patterns) == len(initializers)
        self.map = list(zip([re.compile(p) for p in patterns], initializers))

    def __call__(self, name, arr):
        for prog, init in self.map:
            if prog.match(name):
                init(name, arr)
                return
        raise ValueError("Parameter name %s did not match any pattern. Consider adding a "
                         "\".*\" pattern at the end with default Initializer." % name)


def create(init, /, **kwargs):
    """An initializer from an instance, a name ('xavier', 'zeros'), or MXNet's JSON
    ``'["normal", {"sigma": 0.1}]'``."""
    if isinstance(init, (Initializer, Load, Mixed)):
        return init
    if isinstance(init, str):
        text = init.strip()
        if text.startswith("["):
            name, params = json.loads(text)
            params.update(kwargs)
            return create(name, **params)
        klass = _REGISTRY.get(text.lower())
        if klass is None:
            raise ValueError("Cannot find initializer %s" % init)
        return klass(**kwargs)
    raise TypeError("initializer must be an Initializer or a name, got %r" % (init,))


@register
class LSTMBias(Initializer):
    """An LSTM i2h bias: zero except the forget gate's quarter, ``forget_bias``
    (MXNet's gate order i, f, c, o)."""

    def __init__(self, forget_bias=1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, arr):
        arr[...] = 0.0
        num_hidden = int(arr.shape[0] / 4)
        arr[num_hidden:2 * num_hidden] = self.forget_bias


@register
class FusedRNN(Initializer):
    """The flat parameter vector of a fused RNN op: each weight and bias it packs is filled
    by ``init`` (an Initializer or its JSON; None: the global initializer) under its
    unfused name, and the LSTM forget-gate biases with ``forget_bias``."""

    def __init__(self, init, num_hidden, num_layers, mode, bidirectional=False,
                 forget_bias=1.0):
        if isinstance(init, str):
            init = create(init)
        super().__init__(init=init.dumps() if init is not None else None,
                         num_hidden=num_hidden, num_layers=num_layers, mode=mode,
                         bidirectional=bidirectional, forget_bias=forget_bias)
        self._init = init
        self._num_hidden = num_hidden
        self._num_layers = num_layers
        self._mode = mode
        self._bidirectional = bidirectional
        self._forget_bias = forget_bias

    def _init_weight(self, desc, arr):
        from .rnn.rnn_cell import FusedRNNCell
        cell = FusedRNNCell(self._num_hidden, self._num_layers, self._mode,
                            self._bidirectional, forget_bias=self._forget_bias, prefix="")
        flat = arr.reshape(-1)  # numpy view: the slices below write into arr
        inner = self._init if self._init is not None else getattr(desc, "global_init", None)
        if inner is None:
            raise ValueError("FusedRNN needs an inner initializer (init=...) or a global one")
        for name, part in cell._slice_weights(flat, cell._input_size(flat.size),
                                              self._num_hidden).items():
            if self._mode == "lstm" and name.endswith("_f_bias"):
                part[...] = self._forget_bias
            else:
                host = np.empty(part.shape, dtype=part.dtype)
                inner.fill(InitDesc(name, global_init=inner), host)
                part[...] = host
