"""mx.sym.random: sampling nodes in symbols (MXNet's python/mxnet/symbol/random.py).

Numbers as parameters make a ``_random_<dist>`` node with no inputs (its output shape from
``shape``), symbols as parameters a ``_sample_<dist>`` node. Bound executors draw from the
session's generators, so ``mx.random.seed(n)`` makes their forward passes reproducible.

    x = mx.sym.random.uniform(-1, 1, shape=(2, 3))
"""
from . import symbol as _sym
from ._random_helper import call as _call

__all__ = ["uniform", "normal", "randn", "poisson", "exponential", "gamma", "multinomial",
           "negative_binomial", "generalized_negative_binomial", "shuffle", "randint"]


def _helper(dist, params, shape, dtype, kwargs):
    return _call(getattr(_sym, "_random_" + dist), getattr(_sym, "_sample_" + dist), params,
                 _sym.Symbol, shape, dtype, kwargs, {})


def uniform(low=0, high=1, shape=None, dtype=None, **kwargs):
    """Samples from a uniform distribution on [low, high)."""
    return _helper("uniform", [low, high], shape, dtype, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, **kwargs):
    """Samples from a normal distribution with mean loc and standard deviation scale."""
    return _helper("normal", [loc, scale], shape, dtype, kwargs)


def randn(*shape, **kwargs):
    """Samples of the given shape from a normal distribution (loc=0, scale=1 by default)."""
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    dtype = kwargs.pop("dtype", None)
    return _helper("normal", [loc, scale], shape if shape else None, dtype, kwargs)


def poisson(lam=1, shape=None, dtype=None, **kwargs):
    """Samples from a Poisson distribution with mean lam."""
    return _helper("poisson", [lam], shape, dtype, kwargs)


def exponential(scale=1, shape=None, dtype=None, **kwargs):
    """Samples from an exponential distribution with the given scale (1/rate)."""
    return _helper("exponential", [1.0 / scale], shape, dtype, kwargs)


def gamma(alpha=1, beta=1, shape=None, dtype=None, **kwargs):
    """Samples from a gamma distribution with shape alpha and scale beta."""
    return _helper("gamma", [alpha, beta], shape, dtype, kwargs)


def negative_binomial(k=1, p=1, shape=None, dtype=None, **kwargs):
    """Samples from a negative binomial distribution (failures before k successes)."""
    return _helper("negative_binomial", [k, p], shape, dtype, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=None, dtype=None, **kwargs):
    """Samples from a generalized negative binomial distribution."""
    return _helper("generalized_negative_binomial", [mu, alpha], shape, dtype, kwargs)


def multinomial(data, shape=None, get_prob=False, dtype="int32", **kwargs):
    """Category indices drawn from the probabilities in the last axis of ``data``."""
    args = {"get_prob": get_prob, "dtype": dtype}
    if shape is not None:
        args["shape"] = shape
    return _sym._sample_multinomial(data, **args, **kwargs)


def shuffle(data, **kwargs):
    """``data`` with its rows (first axis) in random order."""
    return _sym._shuffle(data, **kwargs)


def randint(low, high, shape=None, dtype=None, **kwargs):
    """Integers drawn uniformly from [low, high)."""
    if isinstance(low, _sym.Symbol) or isinstance(high, _sym.Symbol):
        raise ValueError("randint takes numbers as low and high, not Symbols")
    return _call(_sym._random_randint, None, [low, high], _sym.Symbol, shape, dtype, kwargs, {})
