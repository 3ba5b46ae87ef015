"""The base of mx.rnn's symbolic cells: parameter containers, BaseRNNCell (stepping and
unrolling), ModifierCell, and the sequence helpers shared by every cell.

A cell builds graph nodes; it computes nothing itself. Parameters are ``mx.sym.Variable``s
named ``<prefix><name>`` and shared by every step a cell is called for; state symbols made by
``begin_state`` are named ``<prefix>begin_state_<i>``. Cells are not thread-safe (stepping
counts calls to name the nodes of each step).
"""
from .. import symbol


def _symbol_zeros():
    # mx.sym.zeros, looked up when a default begin state is built.
    return symbol.zeros


class RNNParams:
    """A cell's parameter variables by name, created on first use with ``prefix`` + name."""

    def __init__(self, prefix=""):
        self._prefix = prefix
        self._params = {}

    def get(self, name, **kwargs):
        """The variable ``prefix + name``; kwargs (init, shape, ...) apply on creation."""
        name = self._prefix + name
        if name not in self._params:
            self._params[name] = symbol.Variable(name, **kwargs)
        return self._params[name]


def _cells_state_info(cells):
    return sum([c.state_info for c in cells], [])


def _cells_begin_state(cells, **kwargs):
    return sum([c.begin_state(**kwargs) for c in cells], [])


def _cells_unpack_weights(cells, args):
    for cell in cells:
        args = cell.unpack_weights(args)
    return args


def _cells_pack_weights(cells, args):
    for cell in cells:
        args = cell.pack_weights(args)
    return args


def _normalize_sequence(length, inputs, layout, merge, in_layout=None):
    """``inputs`` (one symbol with a time axis, or one symbol per step) as a list of per-step
    symbols (merge False) or one symbol laid out as ``layout`` (merge True); None keeps the
    form. Returns (inputs, index of the time axis in layout)."""
    assert inputs is not None, \
        "unroll(inputs=None) has been deprecated. Please create input variables outside unroll."
    axis = layout.find("T")
    in_axis = in_layout.find("T") if in_layout is not None else axis
    if isinstance(inputs, symbol.Symbol):
        if merge is False:
            assert len(inputs) == 1, \
                "unroll doesn't allow grouped symbol as input. Please convert " \
                "to list with list(inputs) first or let unroll handle splitting."
            # MXNet calls it by its alias: the node's automatic name is split<N>.
            inputs = list(symbol.split(inputs, axis=in_axis, num_outputs=length,
                                       squeeze_axis=1))
    else:
        assert length is None or len(inputs) == length
        if merge is True:
            inputs = [symbol.expand_dims(i, axis=axis) for i in inputs]
            inputs = symbol.Concat(*inputs, dim=axis)
            in_axis = axis
    if isinstance(inputs, symbol.Symbol) and axis != in_axis:
        inputs = symbol.SwapAxis(inputs, dim1=axis, dim2=in_axis)
    return inputs, axis


def _get_activation(inputs, activation, **kwargs):
    if isinstance(activation, str):
        return symbol.Activation(inputs, act_type=activation, **kwargs)
    return activation(inputs, **kwargs)


class BaseRNNCell:
    """A recurrent cell: ``output, states = cell(inputs, states)`` builds one step;
    ``unroll`` builds ``length`` steps. ``params``: an RNNParams to share variables with
    another cell (then the prefix only names nodes)."""

    def __init__(self, prefix="", params=None):
        if params is None:
            params = RNNParams(prefix)
            self._own_params = True
        else:
            self._own_params = False
        self._prefix = prefix
        self._params = params
        self._modified = False
        self.reset()

    def reset(self):
        """Restarts the step and begin-state counters (call before building a new graph)."""
        self._init_counter = -1
        self._counter = -1
        for cell in getattr(self, "_cells", []):
            cell.reset()

    def __call__(self, inputs, states):
        """One step: (output symbol, list of next-state symbols)."""
        raise NotImplementedError()

    @property
    def params(self):
        """The cell's RNNParams; after this call the cell no longer owns them."""
        self._own_params = False
        return self._params

    @property
    def state_info(self):
        """One dict per state (shape with 0 for the batch, __layout__)."""
        raise NotImplementedError()

    @property
    def state_shape(self):
        return [ele["shape"] for ele in self.state_info]

    @property
    def _gate_names(self):
        return ()

    def begin_state(self, func=None, **kwargs):
        """The initial states, one ``func(name=..., **state_info, **kwargs)`` each; func
        defaults to mx.sym.zeros (mx.sym.Variable makes them inputs of the graph)."""
        assert not self._modified, \
            "After applying modifier cells (e.g. DropoutCell) the base cell cannot be " \
            "called directly. Call the modifier cell instead."
        if func is None:
            func = _symbol_zeros()
        states = []
        for info in self.state_info:
            self._init_counter += 1
            if info is None:
                state = func(name="%sbegin_state_%d" % (self._prefix, self._init_counter),
                             **kwargs)
            else:
                merged = dict(kwargs)
                merged.update(info)
                state = func(name="%sbegin_state_%d" % (self._prefix, self._init_counter),
                             **merged)
            states.append(state)
        return states

    def unpack_weights(self, args):
        """``args`` (name -> array) with each fused i2h/h2h weight and bias split per gate."""
        args = args.copy()
        if not self._gate_names:
            return args
        h = self._num_hidden
        for group in ["i2h", "h2h"]:
            weight = args.pop("%s%s_weight" % (self._prefix, group))
            bias = args.pop("%s%s_bias" % (self._prefix, group))
            for j, gate in enumerate(self._gate_names):
                args["%s%s%s_weight" % (self._prefix, group, gate)] = \
                    weight[j * h:(j + 1) * h].copy()
                args["%s%s%s_bias" % (self._prefix, group, gate)] = \
                    bias[j * h:(j + 1) * h].copy()
        return args

    def pack_weights(self, args):
        """The inverse of unpack_weights."""
        args = args.copy()
        if not self._gate_names:
            return args
        for group in ["i2h", "h2h"]:
            for kind in ["weight", "bias"]:
                parts = [args.pop("%s%s%s_%s" % (self._prefix, group, gate, kind))
                         for gate in self._gate_names]
                args["%s%s_%s" % (self._prefix, group, kind)] = _concat0(parts)
        return args

    def unroll(self, length, inputs, begin_state=None, layout="NTC", merge_outputs=None):
        """``length`` steps over ``inputs`` (one symbol laid out as ``layout``, or a list of
        per-step symbols). Returns (outputs, states): outputs one symbol (merge_outputs
        True) or a list (False; None keeps the inputs' form)."""
        self.reset()
        inputs, _ = _normalize_sequence(length, inputs, layout, False)
        if begin_state is None:
            begin_state = self.begin_state()
        states = begin_state
        outputs = []
        for i in range(length):
            output, states = self(inputs[i], states)
            outputs.append(output)
        outputs, _ = _normalize_sequence(length, outputs, layout, merge_outputs)
        return outputs, states


def _concat0(parts):
    """Concatenates NDArrays or numpy arrays along axis 0."""
    import numpy as np
    if all(isinstance(p, np.ndarray) for p in parts):
        return np.concatenate(parts, axis=0)
    from .. import ndarray
    return ndarray.concat(*parts, dim=0)


class ModifierCell(BaseRNNCell):
    """A cell wrapping ``base_cell`` (Dropout/Zoneout/Residual): it shares the base cell's
    parameters and states, and the base cell can no longer be called on its own."""

    def __init__(self, base_cell):
        super().__init__()
        base_cell._modified = True
        self.base_cell = base_cell

    @property
    def params(self):
        self._own_params = False
        return self.base_cell.params

    @property
    def state_info(self):
        return self.base_cell.state_info

    def begin_state(self, init_sym=None, **kwargs):
        """The base cell's begin states made by ``init_sym`` (also accepted as ``func``,
        the name every other cell takes; MXNet refuses it here)."""
        assert not self._modified, \
            "After applying modifier cells (e.g. DropoutCell) the base cell cannot be " \
            "called directly. Call the modifier cell instead."
        func = kwargs.pop("func", init_sym)
        self.base_cell._modified = False
        begin = self.base_cell.begin_state(func=func, **kwargs)
        self.base_cell._modified = True
        return begin

    def unpack_weights(self, args):
        return self.base_cell.unpack_weights(args)

    def pack_weights(self, args):
        return self.base_cell.pack_weights(args)

    def __call__(self, inputs, states):
        raise NotImplementedError
