"""mx.autograd: imperative automatic differentiation, as MXNet 1.x's ``mxnet.autograd``.

The tape lives on the worker (one per session): operator calls made inside ``record()`` go
with ``record=True`` and are recorded there, together with every array they read and wrote;
``attach_grad`` / ``mark_variables`` make arrays variables (MarkVariables), and
``backward`` / ``grad`` run the backward pass on the worker's engine (AutogradBackward).
Like MXNet's, the recording and training flags are per thread.

    x = mx.nd.array([1, 2, 3]); x.attach_grad()
    with mx.autograd.record():
        y = x * x + x
    y.backward()
    x.grad            # [3. 5. 7.]

Errors: the worker's (a head not computed inside record(), a second backward through a graph
freed without retain_graph=True, ...) are raised as MXNetError by the call.

Not supported: ``create_graph=True`` (higher-order gradients), ``get_symbol`` and
``Function`` (a user-defined backward written in Python), which raise MXNetError.
"""
import threading

from ._proto import pb
from . import connection
from .base import MXNetError

__all__ = ["record", "pause", "train_mode", "predict_mode", "is_recording", "is_training",
           "set_recording", "set_training", "mark_variables", "backward", "grad",
           "get_symbol"]


class _Flags(threading.local):
    """This thread's recording and training flags (both off in a new thread, as MXNet's)."""

    def __init__(self):
        super().__init__()
        self.recording = False
        self.training = False


_flags = _Flags()

_GRAD_REQS = {"write": pb.graph.OP_REQ_WRITE_TO, "add": pb.graph.OP_REQ_ADD_TO,
              "null": pb.graph.OP_REQ_NULL}


def set_recording(is_recording):
    """Turns recording on or off for this thread; returns the previous state."""
    prev = _flags.recording
    _flags.recording = bool(is_recording)
    return prev


def set_training(train_mode):  # pylint: disable=redefined-outer-name
    """Turns training mode on or off for this thread; returns the previous state."""
    prev = _flags.training
    _flags.training = bool(train_mode)
    return prev


def is_recording():
    """Whether operator calls are being recorded for backward."""
    return _flags.recording


def is_training():
    """Whether operators run in training mode (Dropout drops, BatchNorm uses batch stats)."""
    return _flags.training


class _Scope:
    """Sets the flags on entry (None leaves one as it is) and restores them on exit."""

    def __init__(self, recording, training):
        self._recording = recording
        self._training = training
        self._saved = None

    def __enter__(self):
        self._saved = (_flags.recording, _flags.training)
        if self._recording is not None:
            _flags.recording = self._recording
        if self._training is not None:
            _flags.training = self._training
        return self

    def __exit__(self, *exc):
        _flags.recording, _flags.training = self._saved
        return False


def record(train_mode=True):  # pylint: disable=redefined-outer-name
    """Scope in which operator calls are recorded (and run in training mode unless
    ``train_mode=False``)."""
    return _Scope(True, train_mode)


def pause(train_mode=False):  # pylint: disable=redefined-outer-name
    """Scope in which nothing is recorded (predict mode unless ``train_mode=True``)."""
    return _Scope(False, train_mode)


def train_mode():
    """Scope in which operators run in training mode; recording unchanged."""
    return _Scope(None, True)


def predict_mode():
    """Scope in which operators run in predict mode; recording unchanged."""
    return _Scope(None, False)


def _as_list(x, what):
    from .ndarray import NDArray
    if isinstance(x, NDArray):
        return [x]
    if isinstance(x, (list, tuple)) and all(isinstance(a, NDArray) for a in x):
        return list(x)
    raise TypeError("%s must be an NDArray or a list of NDArrays, got %r" % (what, type(x)))


def _conn_of(arrays):
    return arrays[0]._conn if arrays else connection.get()


def mark_variables(variables, gradients, grad_reqs="write"):
    """Marks arrays as variables: ``backward`` writes their gradients into ``gradients``
    ('write'), adds them there ('add'), or skips them ('null')."""
    from .ndarray import NDArray
    if isinstance(variables, NDArray):
        variables, gradients = [variables], [gradients]
    variables = list(variables)
    gradients = list(gradients)
    if isinstance(grad_reqs, str):
        grad_reqs = [grad_reqs] * len(variables)
    grad_reqs = list(grad_reqs)
    if not len(variables) == len(gradients) == len(grad_reqs):
        raise MXNetError("mark_variables: %d variables need as many gradients and grad_reqs, "
                         "got %d and %d" % (len(variables), len(gradients), len(grad_reqs)))
    for req in grad_reqs:
        if req not in _GRAD_REQS:
            raise MXNetError("grad_req must be 'write', 'add' or 'null', got %r" % (req,))
    conn = _conn_of(variables)
    conn.call(conn.require_worker().MarkVariables, pb.worker.MarkVariablesRequest(
        session=conn.session, variables=[v.handle for v in variables],
        gradients=[g.handle if g is not None else 0 for g in gradients],
        grad_reqs=[_GRAD_REQS[r] for r in grad_reqs]))
    for v, g, req in zip(variables, gradients, grad_reqs):
        v._grad = g if req != "null" else None
        v._grad_req = req


def _heads(heads, head_grads):
    heads = _as_list(heads, "heads")
    if head_grads is None:
        return heads, []
    from .ndarray import NDArray
    if isinstance(head_grads, NDArray):
        head_grads = [head_grads]
    head_grads = list(head_grads)
    if len(head_grads) != len(heads):
        raise MXNetError("%d heads need as many head_grads, got %d"
                         % (len(heads), len(head_grads)))
    return heads, [g.handle if g is not None else 0 for g in head_grads]


def backward(heads, head_grads=None, retain_graph=False,
             train_mode=True):  # pylint: disable=redefined-outer-name
    """Computes the gradients of ``heads`` with respect to the variables they depend on,
    into the variables' gradient arrays."""
    heads, hgrads = _heads(heads, head_grads)
    conn = _conn_of(heads)
    conn.call(conn.require_worker().AutogradBackward, pb.worker.AutogradBackwardRequest(
        session=conn.session, heads=[h.handle for h in heads], head_grads=hgrads,
        retain_graph=bool(retain_graph), is_train=bool(train_mode)))


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph=False,
         train_mode=True):  # pylint: disable=redefined-outer-name
    """The gradients of ``heads`` with respect to ``variables`` as new arrays (a list, as
    MXNet 1.9.1 returns); the variables' own gradient arrays are left alone."""
    from .ndarray import NDArray
    heads, hgrads = _heads(heads, head_grads)
    variables = _as_list(variables, "variables")
    if not variables:
        raise MXNetError("variables cannot be an empty list.")
    if retain_graph is None:
        retain_graph = create_graph
    conn = _conn_of(heads)
    resp = conn.call(conn.require_worker().AutogradBackward, pb.worker.AutogradBackwardRequest(
        session=conn.session, heads=[h.handle for h in heads], head_grads=hgrads,
        variables=[v.handle for v in variables], retain_graph=bool(retain_graph),
        is_train=bool(train_mode), create_graph=bool(create_graph)))
    return [NDArray._from_info(info, conn) for info in resp.grads]


def get_symbol(x):  # noqa: ARG001 (MXNet's signature)
    """Not supported: mxgrid's tape is not exported as a Symbol."""
    raise MXNetError("autograd.get_symbol is not supported by mxgrid: the tape on the worker "
                     "is not exported as a Symbol; build the graph with mx.sym instead")
