"""mx.nd.random: sampling NDArrays from distributions (MXNet's python/mxnet/ndarray/random.py).

Numbers as parameters draw ``shape`` samples on ``ctx`` (the current context by default) with
the ``_random_<dist>`` operators; NDArrays as parameters draw ``shape`` samples per element
with ``_sample_<dist>`` (output shape = parameter shape + shape). Values follow the session's
generators: ``mx.random.seed(n)`` makes them reproducible.

    mx.nd.random.uniform(-1, 1, shape=(2, 3))
    mx.nd.random.normal(mu_array, sigma_array, shape=100)
"""
from . import ndarray as _nd
from ._random_helper import call as _call

__all__ = ["uniform", "normal", "randn", "poisson", "exponential", "gamma", "multinomial",
           "negative_binomial", "generalized_negative_binomial", "shuffle", "randint",
           "uniform_like", "normal_like", "gamma_like", "exponential_like", "poisson_like",
           "negative_binomial_like", "generalized_negative_binomial_like"]


def _helper(dist, params, shape, dtype, ctx, out, kwargs):
    return _call(getattr(_nd, "_random_" + dist), getattr(_nd, "_sample_" + dist), params,
                 _nd.NDArray, shape, dtype, kwargs, {"ctx": ctx, "out": out})


def uniform(low=0, high=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from a uniform distribution on [low, high)."""
    return _helper("uniform", [low, high], shape, dtype, ctx, out, kwargs)


def normal(loc=0, scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from a normal distribution with mean loc and standard deviation scale."""
    return _helper("normal", [loc, scale], shape, dtype, ctx, out, kwargs)


def randn(*shape, **kwargs):
    """Samples of the given shape from a normal distribution (loc=0, scale=1 by default)."""
    loc = kwargs.pop("loc", 0)
    scale = kwargs.pop("scale", 1)
    dtype = kwargs.pop("dtype", None)
    ctx = kwargs.pop("ctx", None)
    out = kwargs.pop("out", None)
    assert isinstance(loc, (int, float))
    assert isinstance(scale, (int, float))
    return _helper("normal", [loc, scale], shape if shape else None, dtype, ctx, out, kwargs)


def poisson(lam=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from a Poisson distribution with mean lam."""
    return _helper("poisson", [lam], shape, dtype, ctx, out, kwargs)


def exponential(scale=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from an exponential distribution with the given scale (1/rate)."""
    return _helper("exponential", [1.0 / scale], shape, dtype, ctx, out, kwargs)


def gamma(alpha=1, beta=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from a gamma distribution with shape alpha and scale beta."""
    return _helper("gamma", [alpha, beta], shape, dtype, ctx, out, kwargs)


def negative_binomial(k=1, p=1, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Samples from a negative binomial distribution (failures before k successes)."""
    return _helper("negative_binomial", [k, p], shape, dtype, ctx, out, kwargs)


def generalized_negative_binomial(mu=1, alpha=1, shape=None, dtype=None, ctx=None, out=None,
                                  **kwargs):
    """Samples from a generalized negative binomial distribution (mean mu, dispersion
    alpha)."""
    return _helper("generalized_negative_binomial", [mu, alpha], shape, dtype, ctx, out,
                   kwargs)


def multinomial(data, shape=None, get_prob=False, out=None, dtype="int32", **kwargs):
    """Category indices drawn from the probabilities in the last axis of ``data``; with
    get_prob also their log-probabilities (differentiable)."""
    args = {"get_prob": get_prob, "dtype": dtype}
    if shape is not None:
        args["shape"] = shape
    return _nd._sample_multinomial(data, out=out, **args, **kwargs)


def shuffle(data, **kwargs):
    """A copy of ``data`` with its rows (first axis) in random order."""
    return _nd._shuffle(data, **kwargs)


def randint(low, high, shape=None, dtype=None, ctx=None, out=None, **kwargs):
    """Integers drawn uniformly from [low, high) (int32 unless dtype='int64')."""
    if isinstance(low, _nd.NDArray) or isinstance(high, _nd.NDArray):
        raise ValueError("randint takes numbers as low and high, not NDArrays")
    return _call(_nd._random_randint, None, [low, high], _nd.NDArray, shape, dtype, kwargs,
                 {"ctx": ctx, "out": out})


def _like(dist):
    def fn(data=None, *args, out=None, **kwargs):
        return getattr(_nd, "_random_%s_like" % dist)(data, *args, out=out, **kwargs)
    fn.__name__ = dist + "_like"
    fn.__doc__ = "Samples of %s with the shape and dtype of ``data``." % dist
    return fn


uniform_like = _like("uniform")
normal_like = _like("normal")
gamma_like = _like("gamma")
exponential_like = _like("exponential")
poisson_like = _like("poisson")
negative_binomial_like = _like("negative_binomial")
generalized_negative_binomial_like = _like("generalized_negative_binomial")
