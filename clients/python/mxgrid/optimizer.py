"""Optimizers as name + string parameters, the form the servers take (KVSetOptimizer,
KVStore.SetOptimizer): ``mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9)``.

The update rule runs where the store lives (worker or kvstore shard). ``get_updater`` gives a
client-side updater for SGD (with momentum) built from NDArray arithmetic, for code that
updates weights itself (Module without a kvstore).
"""
__all__ = ["Optimizer", "create", "register", "SGD", "NAG", "Adam", "RMSProp", "AdaGrad",
           "get_updater"]

_REGISTRY = {}


def register(klass):
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


class Optimizer:
    """An optimizer's name and parameters (as given), e.g. learning_rate, wd, rescale_grad."""

    name = None

    def __init__(self, rescale_grad=1.0, learning_rate=0.01, wd=0.0, clip_gradient=None,
                 lr_scheduler=None, sym=None, begin_num_update=0, param_idx2name=None,
                 **kwargs):
        self.rescale_grad = rescale_grad
        self.lr = learning_rate
        self.wd = wd
        self.clip_gradient = clip_gradient
        self.lr_scheduler = lr_scheduler
        self.idx2name = dict(param_idx2name or {})
        self.num_update = begin_num_update
        self.lr_mult, self.wd_mult = {}, {}
        self.kwargs = kwargs

    @property
    def learning_rate(self):
        return self.lr

    def set_learning_rate(self, lr):
        self.lr = lr

    def set_lr_mult(self, args_lr_mult):
        self.lr_mult = dict(args_lr_mult)

    def set_wd_mult(self, args_wd_mult):
        self.wd_mult = dict(args_wd_mult)

    def params(self):
        """The parameters as the servers parse them: {name: str(value)}."""
        out = {"learning_rate": self.lr, "wd": self.wd, "rescale_grad": self.rescale_grad}
        if self.clip_gradient is not None:
            out["clip_gradient"] = self.clip_gradient
        out.update(self.kwargs)
        return {k: str(v) for k, v in out.items() if v is not None}

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%s" % kv for kv in sorted(self.params().items())))


@register
class SGD(Optimizer):
    name = "sgd"

    def __init__(self, momentum=0.0, lazy_update=True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def params(self):
        out = super().params()
        out["momentum"] = str(self.momentum)
        return out


@register
class NAG(SGD):
    name = "nag"


@register
class Adam(Optimizer):
    name = "adam"

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate=learning_rate, beta1=beta1, beta2=beta2,
                         epsilon=epsilon, **kwargs)


@register
class RMSProp(Optimizer):
    name = "rmsprop"

    def __init__(self, learning_rate=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8,
                 centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, gamma1=gamma1, gamma2=gamma2,
                         epsilon=epsilon, centered=centered, **kwargs)


@register
class AdaGrad(Optimizer):
    name = "adagrad"

    def __init__(self, eps=1e-7, **kwargs):
        super().__init__(eps=eps, **kwargs)


def create(name, **kwargs):
    """An optimizer by name ('sgd', 'nag', 'adam', 'rmsprop', 'adagrad')."""
    if isinstance(name, Optimizer):
        return name
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError("Cannot find optimizer %s" % name)
    return _REGISTRY[key](**kwargs)


def get_updater(optimizer):
    """updater(index, grad, weight) applying ``optimizer`` (SGD/NAG only) on the worker."""
    if not isinstance(optimizer, SGD):
        raise NotImplementedError("client-side updates exist for SGD only; use a kvstore "
                                  "with set_optimizer for %s" % optimizer.name)
    states = {}

    def updater(index, grad, weight):
        lr = optimizer.lr * optimizer.lr_mult.get(index, 1.0)
        wd = optimizer.wd * optimizer.wd_mult.get(index, 1.0)
        g = grad * optimizer.rescale_grad
        if optimizer.clip_gradient is not None:
            g = g.clip(-optimizer.clip_gradient, optimizer.clip_gradient)
        g = g + weight * wd if wd else g
        if optimizer.momentum:
            if index not in states:
                states[index] = weight.zeros_like()
            mom = states[index]
            mom *= optimizer.momentum
            mom -= g * lr
            weight += mom
        else:
            weight -= g * lr
        optimizer.num_update += 1

    return updater
