"""What mx.nd.random and mx.sym.random share (MXNet's _random_helper): a distribution's
parameters given as numbers call the ``_random_<dist>`` operator, given as arrays (or
symbols) the ``_sample_<dist>`` one. Stateless; thread-safe."""
from .base import numeric_types


def call(random, sampler, params, array_type, shape, dtype, kwargs, extra):
    """Calls ``random(*params, ...)`` or ``sampler(*params, ...)`` by the parameters' type.

    ``extra`` holds the keyword arguments only the scalar form takes (ctx, out)."""
    if isinstance(params[0], array_type):
        for p in params[1:]:
            if not isinstance(p, array_type):
                raise TypeError("Distribution parameters must all have the same type, but got "
                                "both %s and %s." % (type(params[0]), type(p)))
        return sampler(*params, **_given(shape=shape, dtype=dtype), **kwargs,
                       **_given(out=extra.get("out")))
    if isinstance(params[0], numeric_types):
        for p in params[1:]:
            if not isinstance(p, numeric_types):
                raise TypeError("Distribution parameters must all have the same type, but "
                                "got both %s and %s." % (type(params[0]), type(p)))
        if shape is None and extra.get("out") is None:
            shape = 1
        return random(*params, **_given(shape=shape, dtype=dtype), **kwargs,
                      **_given(**extra))
    raise ValueError("Distribution parameters must be either %s or numbers, but got %s."
                     % (array_type.__name__, type(params[0])))


def _given(**kwargs):
    """The keyword arguments that are not None (MXNet's _Null: not passed at all)."""
    return {k: v for k, v in kwargs.items() if v is not None}
