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

``Function`` (forward and backward written in Python) runs its forward unrecorded; its outputs
become leaves of the tape. While such outputs are alive, backward and grad run in stages from
the client: the worker differentiates the heads with respect to the variables and those
outputs, the client calls each Function's backward (latest first) and differentiates its
inputs with the result, and the sums are written per grad_req at the end. The recorded graph
is then kept as with retain_graph=True (it is dropped once its arrays are).

Not supported: ``create_graph=True`` (higher-order gradients) and ``get_symbol``, which raise
MXNetError.
"""
import threading
import weakref

from ._proto import pb
from . import connection
from .base import MXNetError

__all__ = ["record", "pause", "train_mode", "predict_mode", "is_recording", "is_training",
           "set_recording", "set_training", "mark_variables", "backward", "grad",
           "get_symbol", "Function"]


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
        _remember_variable(v)


# The variables marked from this process, {id: weakref}, for the staged backward of
# Function (which writes their gradients itself). Guarded by the GIL.
_variables = {}


def _remember_variable(v):
    key = id(v)

    def forget(ref, key=key):
        if _variables.get(key) is ref:
            del _variables[key]
    _variables[key] = weakref.ref(v, forget)


def _live_variables():
    return [v for v in (r() for r in list(_variables.values()))
            if v is not None and v.__dict__.get("_grad_req", "null") != "null"]


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
    if _live_functions():
        _staged(heads, hgrads, None, train_mode)
        return
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
    if create_graph:
        raise MXNetError("create_graph (higher-order gradients) is not supported")
    if _live_functions():
        return _staged(heads, hgrads, variables, train_mode)
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


# -- Function -------------------------------------------------------------------------------
class _Call:
    """One Function call made while recording: the Function, its inputs (kept, as the tape
    keeps a recorded call's inputs) and weak references to its outputs."""

    __slots__ = ("fn", "inputs", "outputs")

    def __init__(self, fn, inputs, outputs):
        self.fn = fn
        self.inputs = inputs
        self.outputs = [weakref.ref(o) for o in outputs]


_calls = []  # _Call, in call order; dropped once no output is alive (guarded by the GIL)


def _live_functions():
    _calls[:] = [c for c in _calls if any(r() is not None for r in c.outputs)]
    return list(_calls)


class Function:
    """A differentiable function with a forward and a backward written in Python (MXNet's
    autograd.Function)::

        class sigmoid(mx.autograd.Function):
            def forward(self, x):
                y = 1 / (1 + mx.nd.exp(-x))
                self.save_for_backward(y)
                return y

            def backward(self, dy):
                y, = self.saved_tensors
                return dy * y * (1 - y)

    Each instance may be called once. backward takes one gradient per output of forward and
    returns one per input."""

    def __init__(self):
        self._used = False
        self.saved_tensors = ()

    def save_for_backward(self, *args):
        self.saved_tensors = args

    def __call__(self, *inputs):
        from .ndarray import NDArray
        if self._used:
            raise MXNetError("Each Function instance can only be called once. Please create "
                             "another instance.")
        self._used = True
        prev = set_recording(False)
        try:
            outputs = self.forward(*inputs)
        finally:
            set_recording(prev)
        if not prev:
            return outputs
        outs = [outputs] if isinstance(outputs, NDArray) else list(outputs)
        if not all(isinstance(o, NDArray) for o in outs):
            raise MXNetError("%s.forward must return NDArrays" % type(self).__name__)
        # An output that is an input would lose the input's place on the tape: a copy.
        outs = [o.copy() if any(o is i for i in inputs) else o for o in outs]
        # Leaves of the tape without a gradient of their own: the staged backward asks for
        # the heads' gradient with respect to them.
        mark_variables(outs, [None] * len(outs), "null")
        _calls.append(_Call(self, list(inputs), outs))
        return outs[0] if isinstance(outputs, NDArray) else outs

    def forward(self, *inputs):
        raise NotImplementedError

    def backward(self, *output_grads):
        raise NotImplementedError


def _grad_stage(heads, hgrads, targets, train_mode, total):
    """One worker pass: adds the gradients of ``heads`` with respect to ``targets`` into
    ``total`` ({target index: NDArray}) for the targets the heads depend on."""
    from .ndarray import NDArray
    conn = _conn_of(heads)
    resp = conn.call(conn.require_worker().AutogradBackward, pb.worker.AutogradBackwardRequest(
        session=conn.session, heads=[h.handle for h in heads], head_grads=hgrads,
        variables=[t.handle for t in targets], retain_graph=True, is_train=bool(train_mode)))
    for i, (info, reached) in enumerate(zip(resp.grads, resp.reached)):
        g = NDArray._from_info(info, conn)
        if reached:
            total[i] = g if i not in total else total[i] + g


def _staged(heads, hgrads, variables, train_mode):
    """backward (variables None: into the marked variables) or grad through Function calls;
    see the module comment."""
    from .ndarray import NDArray, zeros
    calls = _live_functions()
    outputs = [(c, k, r()) for c in calls for k, r in enumerate(c.outputs)]
    outputs = [(c, k, o) for c, k, o in outputs if o is not None]
    wanted = _live_variables() if variables is None else list(variables)
    targets = wanted + [o for _, _, o in outputs]
    index = {}
    for i, (c, k, _) in enumerate(outputs):
        index[(id(c), k)] = len(wanted) + i
    total = {}
    with _Scope(False, None):
        _grad_stage(heads, hgrads, targets, train_mode, total)
        for c in reversed(calls):
            slots = [index.get((id(c), k)) for k in range(len(c.outputs))]
            if not any(s in total for s in slots if s is not None):
                continue  # the heads do not depend on this call
            dys = []
            for k, s in enumerate(slots):
                o = c.outputs[k]()
                dys.append(total[s] if s in total else zeros(o.shape, ctx=o.context,
                                                               dtype=o.dtype))
            dxs = c.fn.backward(*dys)
            dxs = [dxs] if isinstance(dxs, NDArray) else list(dxs)
            if len(dxs) != len(c.inputs):
                raise MXNetError("%s.backward must return exactly as many NDArrays as forward "
                                 "takes: expected %d, got %d"
                                 % (type(c.fn).__name__, len(c.inputs), len(dxs)))
            for x, dx in zip(c.inputs, dxs):
                if not isinstance(x, NDArray):
                    continue
                try:
                    _grad_stage([x], [dx.handle], targets, train_mode, total)
                except MXNetError as e:
                    if "not in a recorded computational graph" not in str(e):
                        raise  # else a constant input: nothing to differentiate
        if variables is not None:
            return [total[i] if i in total else zeros(v.shape, ctx=v.context, dtype=v.dtype)
                    for i, v in enumerate(wanted)]
        if not any(i in total for i in range(len(wanted))):
            raise MXNetError("INVALID_ARGUMENT: the heads depend on no variable whose gradient "
                             "is wanted: call attach_grad() on the inputs and compute the heads "
                             "inside autograd.record()")
        for i, v in enumerate(wanted):
            if i not in total:
                continue
            if v._grad_req == "add":
                v._grad += total[i]
            else:
                total[i].copyto(v._grad)
    return None
