"""Gluon's loss functions (MXNet 1.9.1's gluon.loss) as callables over NDArrays:
``loss(pred, label[, sample_weight])`` gives one loss per sample, the element losses times
``weight`` (and sample_weight, broadcast) averaged over every axis but ``batch_axis``.

Each is computed with mx.nd operators on the worker. Thread-safety: the objects hold only
their constructor arguments.
"""
from .. import ndarray as nd
from .. import symbol as sym

__all__ = ["Loss", "L1Loss", "L2Loss", "SigmoidBinaryCrossEntropyLoss", "SigmoidBCELoss",
           "SoftmaxCrossEntropyLoss", "SoftmaxCELoss"]


def _apply_weighting(F, loss, weight=None, sample_weight=None):
    if sample_weight is not None:
        loss = F.broadcast_mul(loss, sample_weight)
    if weight is not None:
        assert isinstance(weight, (int, float)), "weight must be a number"
        loss = loss * weight
    return loss


def _reshape_like(F, x, y):
    if F is nd:
        return x.reshape(y.shape)
    return F.reshape_like(x, y)


def _one_hot_along(label, pred, axis):
    """A 0/1 mask of pred's shape selecting label's class along ``axis`` (what MXNet's
    pick(pred, label, axis) reads). ``label`` has pred's shape without ``axis``, or with it
    of size 1."""
    ndim = len(pred.shape)
    axis = axis % ndim
    if len(label.shape) == ndim:
        label = label.reshape(tuple(d for i, d in enumerate(label.shape) if i != axis))
    mask = nd.one_hot(label, depth=pred.shape[axis], dtype=pred.dtype)
    if axis != ndim - 1:
        perm = list(range(axis)) + [ndim - 1] + list(range(axis, ndim - 1))
        mask = nd.transpose(mask, axes=tuple(perm))
    return mask


class Loss:
    """The base class: ``weight`` scales the loss, ``batch_axis`` is the axis kept."""

    def __init__(self, weight, batch_axis, **kwargs):  # pylint: disable=unused-argument
        self._weight = weight
        self._batch_axis = batch_axis

    def __repr__(self):
        return "{name}(batch_axis={_batch_axis}, w={_weight})".format(
            name=type(self).__name__, **self.__dict__)

    def __call__(self, pred, label, *args, **kwargs):
        return self.forward(pred, label, *args, **kwargs)

    def forward(self, pred, label, *args, **kwargs):
        """The loss of NDArrays (mx.nd) or, given Symbols, its graph (mx.sym)."""
        F = sym if isinstance(pred, sym.Symbol) else nd
        return self.hybrid_forward(F, pred, label, *args, **kwargs)

    def hybrid_forward(self, F, x, *args, **kwargs):
        raise NotImplementedError

    def hybridize(self, *args, **kwargs):
        """No effect: the losses are NDArray computations."""

    def _batch_mean(self, F, loss):
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class L2Loss(Loss):
    """0.5 * weight * (label - pred)^2, averaged per sample."""

    def __init__(self, weight=1., batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        loss = F.square(label - pred)
        loss = _apply_weighting(F, loss, self._weight / 2, sample_weight)
        return self._batch_mean(F, loss)


class L1Loss(Loss):
    """weight * |label - pred|, averaged per sample."""

    def __init__(self, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        label = _reshape_like(F, label, pred)
        loss = F.abs(label - pred)
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return self._batch_mean(F, loss)


class SigmoidBinaryCrossEntropyLoss(Loss):
    """Binary cross-entropy of sigmoid(pred) (or of pred, with from_sigmoid) and a 0/1
    label; pos_weight scales the positive term. The logit form uses the stable
    max(x, 0) - x * z + log(1 + exp(-|x|))."""

    def __init__(self, from_sigmoid=False, weight=None, batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_sigmoid = from_sigmoid

    def hybrid_forward(self, F, pred, label, sample_weight=None, pos_weight=None):
        label = _reshape_like(F, label, pred)
        if not self._from_sigmoid:
            softrelu = F.Activation(-F.abs(pred), act_type="softrelu")
            if pos_weight is None:
                loss = F.relu(pred) - pred * label + softrelu
            else:
                log_weight = 1 + F.broadcast_mul(pos_weight - 1, label)
                loss = pred - pred * label + log_weight * (softrelu + F.relu(-pred))
        else:
            eps = 1e-12
            if pos_weight is None:
                loss = -(F.log(pred + eps) * label + F.log(1. - pred + eps) * (1. - label))
            else:
                loss = -(F.broadcast_mul(F.log(pred + eps) * label, pos_weight) +
                         F.log(1. - pred + eps) * (1. - label))
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return self._batch_mean(F, loss)


SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss


class SoftmaxCrossEntropyLoss(Loss):
    """-log softmax(pred)[label] along ``axis`` (sparse_label: class indices; otherwise a
    distribution: -sum(log softmax(pred) * label)); from_logits: pred is log-softmax."""

    def __init__(self, axis=-1, sparse_label=True, from_logits=False, weight=None,
                 batch_axis=0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._axis = axis
        self._sparse_label = sparse_label
        self._from_logits = from_logits

    def hybrid_forward(self, F, pred, label, sample_weight=None):
        if not self._from_logits:
            pred = F.log_softmax(pred, axis=self._axis)
        if self._sparse_label:
            if F is nd:
                loss = -F.sum(pred * _one_hot_along(label, pred, self._axis), axis=self._axis,
                              keepdims=True)
            else:  # a graph: the class count is not known here
                loss = -F.pick(pred, label, axis=self._axis, keepdims=True)
        else:
            label = _reshape_like(F, label, pred)
            loss = -F.sum(pred * label, axis=self._axis, keepdims=True)
        loss = _apply_weighting(F, loss, self._weight, sample_weight)
        return self._batch_mean(F, loss)


SoftmaxCELoss = SoftmaxCrossEntropyLoss
