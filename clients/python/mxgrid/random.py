"""mx.random: seeding the worker's generators, and the samplers of mx.nd.random
(MXNet's python/mxnet/random.py).

    mx.random.seed(42)                  # every device of this session
    mx.random.seed(7, ctx=mx.cpu(0))    # one device
    a = mx.random.uniform(0, 1, shape=(3,))

The generators live on the worker, one per device and session; random operators take
their per-call seed from them in call order, so the same seed and the same calls give the
same values (executors' Dropout and sampler nodes included). Thread-safety: as the
connection's calls.
"""
import numbers

from . import connection
from ._proto import pb
from .context import Context
from .ndarray_random import (uniform, normal, randn, poisson, exponential, gamma,  # noqa: F401
                             multinomial, negative_binomial, generalized_negative_binomial,
                             shuffle, randint)

__all__ = ["seed", "uniform", "normal", "randn", "poisson", "exponential", "gamma",
           "multinomial", "negative_binomial", "generalized_negative_binomial", "shuffle",
           "randint"]


def seed(seed_state, ctx="all"):
    """Seeds the random generators of every device (ctx='all') or of one device.

    As in MXNet, a device's stream depends on the seed and the device, and the random calls
    after this one (in program order) are reproducible."""
    if not isinstance(seed_state, numbers.Integral) or isinstance(seed_state, bool):
        raise ValueError("seed_state must be int")
    conn = connection.get()
    req = pb.worker.SeedRandomRequest(session=conn.session, seed=int(seed_state))
    if ctx != "all":
        if isinstance(ctx, str):
            name, _, rest = ctx.partition("(")
            ctx = Context(name, int(rest.rstrip(")") or 0))
        req.context.CopyFrom(ctx.to_proto(pb.worker))
    conn.call(conn.require_worker().SeedRandom, req)
