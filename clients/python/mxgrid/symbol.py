"""mx.sym: symbolic graphs, built and inspected by the compiler, as MXNet -symbol.json text.

A Symbol is an immutable graph. Composition (operators, ``net(data=net2)``, Group, indexing)
and inspection (list_arguments, infer_shape, infer_type) are compiler RPCs; the client only
keeps MXNet's name counters (mx.name) so auto names match MXNet's. A composed symbol stays on
the compiler, which returns a handle (mxgrid.v1.Symbol.ref): the client holds the handle and
the recipe that built it (rebuilt from it should the compiler drop the handle) and fetches the
JSON only when it is needed (tojson, bind, attributes). Compositions the client can check
against the operators' schemas (parameter names, required ones, enum choices, number, boolean
and tuple types; input names) wait in a burst under handles the client picks and go to the
compiler in one ComposeBurst call when a compiler call needs them; the rest are calls of their
own, so their refusals raise at the call, as in MXNet. A refusal only the compiler can make
(num_hidden=-3) raises where the symbol is first used. Every operator the compiler lists is a
function of this module (``mx.sym.FullyConnected(data=net, num_hidden=8)``).

Thread-safety: Symbols are immutable and may be shared between threads (the handle, JSON and
lists they fetch lazily are filled in by plain assignments; two threads may both fetch them).
"""
import itertools
import json
import numbers
import os
import warnings

import grpc
import numpy as np

from . import _fluent
from . import _ops
from . import _symbol_wire
from . import connection
from . import util
from ._proto import pb
from .base import MXNetError, NotImplementedForSymbol
from .context import current_context
from .name import NameManager, AttrScope
from .ndarray import NDArray, dtype_to_pb, dtype_from_pb, _NP_TO_PB

__all__ = ["Symbol", "Variable", "var", "Group", "load", "load_json"]

_GRAD_REQ = {"null": pb.graph.OP_REQ_NULL, "write": pb.graph.OP_REQ_WRITE_TO,
             "add": pb.graph.OP_REQ_ADD_TO, "inplace": pb.graph.OP_REQ_WRITE_INPLACE}


# Attributes MXNet stores as __key__ and also lists as key.
_HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")
# Parameter names a user may mistake for them (weight_lr_mult=...), refused.
_HIDDEN_SUFFIXES = tuple("_" + k for k in _HIDDEN_KEYS)


def _hide_keys(attrs):
    """attrs with each hidden key (lr_mult, ...) stored as MXNet stores it: __lr_mult__."""
    return {("__%s__" % k if k in _HIDDEN_KEYS else k): str(v) for k, v in attrs.items()}


def _with_hidden_keys(attrs):
    """attrs plus each __hidden__ key also under its plain name, as MXNet lists them."""
    out = dict(attrs)
    for key in _HIDDEN_KEYS:
        if "__%s__" % key in attrs:
            out.setdefault(key, attrs["__%s__" % key])
    return out


def _compiler():
    conn = connection.get()
    return conn, conn.require_compiler()


def _group_contexts(symbol, ctx, group2ctx):
    """{variable name: context} for the variables whose ctx_group ``group2ctx`` places on
    another context than ``ctx`` (MXNet's model-parallel placement). Every CPU context is the
    worker's host memory, so groups spread over CPUs bind as labels on the same memory;
    MXNetError for a placement that would need another device."""
    if not group2ctx:
        return {}
    placed = {}
    for name, attrs in symbol.attr_dict().items():
        group = attrs.get("__ctx_group__", attrs.get("ctx_group"))
        target = group2ctx.get(group) if group is not None else None
        if target is None or target == ctx:
            continue
        if target.device_type not in ("cpu", "cpu_pinned", "cpu_shared") or \
                ctx.device_type not in ("cpu", "cpu_pinned", "cpu_shared"):
            raise MXNetError(
                "group2ctx places ctx_group '%s' on %s but the executor is bound to %s: the "
                "mxgrid worker places groups across its CPU contexts only (one graph runs on "
                "one GPU); bind one graph per GPU" % (group, target, ctx))
        placed[name] = target
    return placed


def _check_group2ctx(symbol, ctx, group2ctx):
    """Raises MXNetError for a ctx_group placement the worker cannot make (see
    _group_contexts)."""
    _group_contexts(symbol, ctx, group2ctx)


def _sym_json_pb(sym):
    """``sym`` as its JSON (what workers take)."""
    return pb.graph.Symbol(json=sym._json)


def _is_stale_ref(err):
    return err.code == grpc.StatusCode.NOT_FOUND and "symbol reference" in str(err)


def _compiler_call(method, build, symbols):
    """Calls the compiler's ``method`` with the request ``build(pb_of)`` makes, where
    ``pb_of(s)`` gives each of ``symbols`` as the compiler should get it (its handle when the
    compiler holds it). A handle the compiler no longer holds (it restarted, or dropped it from
    its bounded cache) marks every handle of the connection stale: the symbols are rebuilt
    from their recipes and the call made again; should the cache be too small to hold even
    that, the symbols are rebuilt as JSON and sent whole."""
    conn, stub = _compiler()
    _flush(conn)
    for attempt in range(3):
        try:
            if attempt < 2:
                for s in symbols:
                    s._ensure_held(conn)
                pb_of = lambda s: s._compiler_pb(conn)  # noqa: E731
            else:
                for s in symbols:
                    s._ensure_json(conn)
                pb_of = _sym_json_pb
            return conn.call(getattr(stub, method), build(pb_of))
        except MXNetError as err:
            if attempt == 2 or not _is_stale_ref(err):
                raise
            conn.symbol_generation = connection.next_symbol_generation()
    raise AssertionError("unreachable")


# Compositions the client has validated wait in a burst, sent as one ComposeBurst call under
# handles the client picked, when a compiler call needs them or the burst reaches
# _BURST_STEPS steps or _BURST_BYTES bytes (a step whose input is a symbol's JSON can be
# large). Each step is written in protobuf's wire format when it is composed
# (_symbol_wire); the burst is sent as those bytes. (Sending bursts without waiting for their
# answers, as futures, was measured: a gRPC Python future costs more than the wait it saves.)
_BURST_STEPS = 1024
_BURST_BYTES = 1 << 20

# The handles this process picks: 16 random hex digits (new in a forked child) and a
# counter, 32 hex digits as the compiler takes them.
_ref_prefix = os.urandom(8).hex()
_ref_counter = itertools.count()


def _new_prefix():
    global _ref_prefix
    _ref_prefix = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_prefix)


def _new_ref():
    return "%s%016x" % (_ref_prefix, next(_ref_counter))


def _flush(conn):
    """Sends ``conn``'s waiting compositions and waits until the compiler holds them. Should
    it refuse one, every symbol of the burst is left unheld: using one rebuilds it from its
    recipe by plain calls, which raise the refusal there."""
    with conn.symbol_lock:
        burst, conn.symbol_burst = conn.symbol_burst, []
        conn.symbol_burst_bytes = 0
        if not burst:
            return
        payload = _symbol_wire.burst([sym._step for sym in burst])
        for sym in burst:
            sym._step = None
        try:
            conn.call(conn.compose_burst_bytes, payload)
        except MXNetError:
            for sym in burst:
                sym._held = None


def _all_sendable(conn, inputs):
    """Whether every one of ``inputs`` is held by ``conn``'s compiler or has its JSON."""
    for s in inputs:
        if s._json_text is None and not s._holds(conn):
            return False
    return True


def _build(method, spec, inputs, deferred=False):
    """A new Symbol from the compiler's ``method`` (Compose or Transform) on ``inputs``, kept
    by the compiler: the client holds its handle and its recipe ((method,) + spec; the
    request _request makes from it), from which it is rebuilt if the compiler drops it.
    ``deferred``: the client has checked the request as far as it can (its refusal would be
    an error raised at the call in MXNet), so it joins the connection's burst (_encode writes
    its step) instead of being a call of its own. A recipe is one tuple of plain data, not
    closures, and the held handle a tuple of plain values (Symbol._held): a graph of an
    unrolled RNN has a thousand symbols, and every object each one keeps for the garbage
    collector to track adds to its work (the collections MXNet's handles never trigger)."""
    recipe = (method,) + spec
    conn = connection.get()
    if deferred and _BURST_STEPS > 0 and conn.compiler is not None and \
            _all_sendable(conn, inputs):
        sym = Symbol(None)
        sym._recipe = recipe
        ref = _new_ref()
        sym._held = (conn.symbol_generation, ref)
        sym._step = step = _encode(method, spec, ref, conn)
        with conn.symbol_lock:
            conn.symbol_burst.append(sym)
            conn.symbol_burst_bytes += len(step)
            full = len(conn.symbol_burst) >= _BURST_STEPS or \
                conn.symbol_burst_bytes >= _BURST_BYTES
        if full:
            _flush(conn)
        return sym
    resp = _compiler_call(method, lambda pb_of: _request(method, spec, pb_of), inputs)
    sym = Symbol(resp.symbol.json or None)
    sym._recipe = recipe
    if resp.symbol.ref:
        sym._held = (conn.symbol_generation, resp.symbol.ref)
    return sym


def _recipe_inputs(recipe):
    """The symbols a recipe (Symbol._recipe) was built from."""
    if recipe[0] == "Compose":
        call, positional, named = recipe[1], recipe[2], recipe[4]
        return ((call,) if call is not None else ()) + positional + named
    return recipe[1]


def _inputs_in_order(positional, named):
    """(positional, input names, named) as a recipe keeps them: tuples, the named inputs
    sorted by name."""
    if not named:
        return tuple(positional), (), ()
    names = tuple(sorted(named))
    return tuple(positional), names, tuple([named[k] for k in names])


def _defer_op(op, attrs, name, positional, named):
    """_compose(op=op, attrs=attrs, name=name, positional=positional, named=named,
    deferred=True), the path of nearly every operator call while a graph is built, in one
    function: the same recipe and step, without the layers' calls and argument packing.
    ``positional`` is a list, ``named`` a dict of Symbols."""
    conn = connection.get()
    if _BURST_STEPS <= 0 or conn.compiler is None:
        return _compose(op=op, attrs=attrs, name=name, positional=positional, named=named,
                        deferred=True)
    positional, names, named = _inputs_in_order(positional, named)
    inputs = positional + named
    gen = conn.symbol_generation
    bodies = []
    for s in inputs:
        held = s._held
        if held is not None and held[0] == gen:
            body = s._ref_body  # s._wire_body(conn), its common case inline
            if body is None or body[0] is not held[1]:
                body = s._ref_body = (held[1], _symbol_wire.symbol_ref(held[1]))
            bodies.append(body[1])
        elif s._json_text is not None or s._holds(conn):
            bodies.append(s._wire_body(conn))
        else:  # an input to rebuild first: the general path does that
            return _compose(op=op, attrs=attrs, name=name, positional=positional,
                            named=dict(zip(names, named)), deferred=True)
    sym = Symbol(None)
    sym._recipe = ("Compose", None, positional, names, named, op, None, attrs, name)
    ref = _new_ref()
    sym._held = (gen, ref)
    n = len(positional)
    sym._step = step = _symbol_wire.op_step(ref, op, attrs, name, bodies[:n], names, bodies[n:])
    with conn.symbol_lock:
        burst = conn.symbol_burst
        burst.append(sym)
        conn.symbol_burst_bytes += len(step)
        full = len(burst) >= _BURST_STEPS or conn.symbol_burst_bytes >= _BURST_BYTES
    if full:
        _flush(conn)
    return sym


def _request(method, spec, pb_of):
    """The ComposeRequest or TransformRequest of a recipe (see _compose, _transform), with
    each input symbol ``s`` given as ``pb_of(s)``."""
    if method == "Compose":
        call, positional, names, named, op, variable, attrs, name = spec
        req = pb.compiler.ComposeRequest(
            by_ref=True, positional=[pb_of(s) for s in positional],
            named={k: pb_of(s) for k, s in zip(names, named)}, attrs=attrs, name=name)
        if op is not None:
            req.op = op
        elif variable is not None:
            req.variable = variable
        else:
            req.call.CopyFrom(pb_of(call))
        return req
    symbols, key, value = spec
    return pb.compiler.TransformRequest(by_ref=True, symbols=[pb_of(s) for s in symbols],
                                        **{key: value})


def _encode(method, spec, ref, conn):
    """The ComposeBurst step of a recipe under handle ``ref`` (_symbol_wire)."""
    if method == "Compose":
        call, positional, names, named, op, variable, attrs, name = spec
        return _symbol_wire.compose_step(
            ref, [s._wire_body(conn) for s in positional],
            {k: s._wire_body(conn) for k, s in zip(names, named)},
            variable=variable, op=op, attrs=attrs,
            call=call._wire_body(conn) if call is not None else None, name=name)
    symbols, key, value = spec
    return _symbol_wire.transform_step(ref, [s._wire_body(conn) for s in symbols],
                                       **{key: value})


def _compose(call=None, positional=(), named=None, deferred=False, op=None, variable=None,
             attrs=None, name=""):
    """A composition: operator ``op``, variable ``variable`` or symbol ``call`` called, on
    ``positional`` and ``named`` inputs (see _build)."""
    positional, names, named = _inputs_in_order(positional, named)
    inputs = ((call,) if call is not None else ()) + positional + named
    return _build("Compose", (call, positional, names, named, op, variable, attrs or {}, name),
                  inputs, deferred)


def _transform(symbols, deferred=False, **op):
    """A Transform of ``symbols``: one of group=True, internals=True, output_index=i,
    output_name=n (see _build)."""
    symbols = tuple(symbols)
    (key, value), = op.items()
    return _build("Transform", (symbols, key, value), symbols, deferred)


def _output_of(parent, index):
    """parent[index]. While the compiler holds ``parent`` by its own handle, the selection is
    no compiler step: the symbol is sent as that handle and the output (Symbol.output), and
    its recipe (a Transform) rebuilds it should the handle go; otherwise a Transform."""
    if parent._handle(connection.get()) is None:
        sym = _transform([parent], output_index=index, deferred=True)
    else:
        sym = Symbol(None)
        sym._recipe = ("Transform", (parent,), "output_index", index)
        sym._select = (parent, index)
    sym._num_outputs = 1
    return sym


def _legacy_shape(ps):
    """A partial shape as infer_shape_partial returns it: legacy rules, unknown dims 0 and
    an unknown shape (); under np_shape(True), -1 and None."""
    if util.is_np_shape():
        return tuple(int(d) for d in ps.dims) if ps.known else None
    if not ps.known:
        return ()
    return tuple(0 if d < 0 else int(d) for d in ps.dims)


def _shape_dims(shape):
    """Dims to send for a user's shape: 0 means unknown (-1) unless np_shape(True)."""
    if util.is_np_shape():
        return [int(d) for d in shape]
    return [-1 if int(d) == 0 else int(d) for d in shape]


class Symbol:
    """A symbolic graph (MXNet JSON). Build with mx.sym.Variable and the operator functions.

    A symbol built by composition lives on the compiler: the client holds its handle (no JSON
    travels while a graph is built, so building N operators costs O(N)) and its recipe, the
    request that built it, to rebuild it should the compiler drop it. Its JSON is fetched once,
    when first needed (tojson, bind, attributes)."""

    def __init__(self, json_text):
        self._json_text = json_text
        # (its connection's symbol generation, the compiler's handle); generations are unique
        # in the process (connection.next_symbol_generation), so they name the connection too
        self._held = None
        self._recipe = None  # (method,) + spec: see _build
        self._step = None    # its ComposeBurst step while it waits to be sent (_build)
        self._ref_body = None  # see _wire_body
        self._select = None    # (parent, output index): this is parent[index] (_output_of)
        self._desc = None
        self._graph = None
        self._num_outputs = None

    @property
    def _json(self):
        if self._json_text is None:
            self._describe(want_json=True)
        return self._json_text

    def _handle(self, conn):
        """This symbol's own handle at ``conn``'s compiler, or None."""
        held = self._held
        if held is not None and held[0] == conn.symbol_generation:
            return held[1]
        return None

    def _parent_output(self, conn):
        """(the parent's handle, output index) when the compiler gets this symbol as an
        output of a held parent (see _output_of), else None."""
        if self._held is None and self._select is not None:
            parent, index = self._select
            ref = parent._handle(conn)
            if ref is not None:
                return ref, index
        return None

    def _holds(self, conn):
        """Whether ``conn``'s compiler holds this symbol: by its own handle, or (an output
        selected by __getitem__) by its parent's."""
        return self._handle(conn) is not None or self._parent_output(conn) is not None

    def _compiler_pb(self, conn):
        """This symbol as the compiler takes it: its handle while held (its parent's and
        the output, for a selected output), else its JSON."""
        ref = self._handle(conn)
        if ref is not None:
            return pb.graph.Symbol(ref=ref)
        selected = self._parent_output(conn)
        if selected is not None:
            return pb.graph.Symbol(ref=selected[0], output=selected[1])
        return pb.graph.Symbol(json=self._json_text)

    def _wire_body(self, conn):
        """As _compiler_pb, in protobuf's wire format (_symbol_wire)."""
        ref = self._handle(conn)
        if ref is not None:
            body = self._ref_body  # (handle, its Symbol body), made once per handle
            if body is None or body[0] is not ref:
                body = self._ref_body = (ref, _symbol_wire.symbol_ref(ref))
            return body[1]
        selected = self._parent_output(conn)
        if selected is not None:
            return _symbol_wire.select_output(_symbol_wire.symbol_ref(selected[0]),
                                              selected[1])
        return _symbol_wire.symbol_json(self._json_text)

    def _ensure_held(self, conn):
        """Rebuilds, from their recipes, this symbol and the inputs it was built from whose
        handles ``conn``'s compiler does not hold (and that have no JSON), inputs first."""
        def replay(sym):
            method, spec = sym._recipe[0], sym._recipe[1:]
            resp = conn.call(getattr(conn.require_compiler(), method),
                             _request(method, spec, lambda s: s._compiler_pb(conn)))
            if resp.symbol.ref:
                sym._held = (conn.symbol_generation, resp.symbol.ref)
            else:
                sym._json_text = resp.symbol.json
        self._rebuild(conn, lambda s: s._json_text is not None or s._holds(conn), replay)

    def _ensure_json(self, conn):
        """Rebuilds, from their recipes and as JSON (no handles involved), this symbol and
        the inputs it was built from that have no JSON, inputs first."""
        def replay(sym):
            method, spec = sym._recipe[0], sym._recipe[1:]
            req = _request(method, spec, _sym_json_pb)
            req.by_ref = False
            sym._json_text = conn.call(getattr(conn.require_compiler(), method),
                                       req).symbol.json
        self._rebuild(conn, lambda s: s._json_text is not None, replay)

    def _rebuild(self, conn, done, replay):
        """``replay(sym)`` for this symbol and each input it was built from (transitively)
        for which ``done(sym)`` is false, inputs first; iterative, for deep graphs."""
        if done(self):
            return
        _flush(conn)
        stack = [(self, False)]
        while stack:
            sym, inputs_done = stack.pop()
            if done(sym):
                continue
            if not inputs_done:
                stack.append((sym, True))
                stack.extend((i, False) for i in _recipe_inputs(sym._recipe))
                continue
            replay(sym)

    # -- inspection -----------------------------------------------------------------------
    def _describe(self, want_json=False):
        if self._desc is None or (want_json and self._json_text is None):
            def build(pb_of):
                return pb.compiler.DescribeRequest(
                    symbol=pb_of(self), skip_canonical=not want_json)
            desc = _compiler_call("Describe", build, [self])
            if want_json:
                self._json_text = desc.canonical.json
            self._desc = desc
        return self._desc

    def _parsed(self):
        if self._graph is None:
            self._graph = json.loads(self._json)
        return self._graph

    def list_arguments(self):
        return list(self._describe().arguments)

    def list_outputs(self):
        return list(self._describe().outputs)

    def list_auxiliary_states(self):
        return list(self._describe().aux_states)

    def list_inputs(self):
        return list(self._describe().inputs)

    def _head_node(self):
        """The node every output comes from (a multi-output operator's too), or None for a
        group of several nodes."""
        g = self._parsed()
        if len({head[0] for head in g["heads"]}) != 1:
            return None
        return g["nodes"][g["heads"][0][0]]

    @property
    def name(self):
        node = self._head_node()
        return None if node is None else node["name"]

    def _head_attrs(self):
        node = self._head_node()
        if node is None:
            return {}
        return dict(node.get("attrs") or node.get("attr") or node.get("param") or {})

    def attr(self, key):
        attrs = self._head_attrs()
        if key not in attrs and key in _HIDDEN_KEYS:
            return attrs.get("__%s__" % key)
        return attrs.get(key)

    def list_attr(self, recursive=False):
        """The head node's attributes; hidden keys (``__lr_mult__``) also without
        underscores, as MXNet lists them."""
        if recursive:
            raise DeprecationWarning("Symbol.list_attr with recursive=True has been deprecated. "
                                     "Please use attr_dict instead.")
        return _with_hidden_keys(self._head_attrs())

    def attr_dict(self):
        """{node name: its attributes} of every node that has some (hidden keys also
        without underscores, as list_attr)."""
        out = {}
        for node in self._parsed()["nodes"]:
            attrs = node.get("attrs") or node.get("attr") or node.get("param")
            if attrs:
                out[node["name"]] = _with_hidden_keys(attrs)
        return out

    def tojson(self):
        """The graph as MXNet -symbol.json text; under np_shape(True) its attrs carry
        is_np_shape = 1, as MXNet writes (a file without it is read with 0 as an unknown
        dimension)."""
        if not util.is_np_shape():
            return self._json
        graph = json.loads(self._json)
        graph.setdefault("attrs", {})["is_np_shape"] = ["int", 1]
        return json.dumps(graph)

    def save(self, fname, remove_amp_cast=True):
        with open(fname, "w") as f:
            f.write(self.tojson())

    def __repr__(self):
        name = self.name
        if name is None:
            return "<Symbol group [%s]>" % ", ".join(o for o in self.list_outputs())
        return "<Symbol %s>" % name

    def __getstate__(self):
        return {"handle": self._json}

    def __setstate__(self, state):
        self.__init__(state["handle"])

    def __copy__(self):
        # Graphs are immutable: a copy may share this one's nodes, handle and recipe.
        other = Symbol(self._json_text)
        other._held, other._recipe, other._desc = self._held, self._recipe, self._desc
        other._select = self._select
        other._num_outputs = self._num_outputs
        return other

    def __deepcopy__(self, _memo):
        return self.__copy__()

    # -- structure ------------------------------------------------------------------------
    def __bool__(self):
        raise NotImplementedForSymbol(self.__bool__, "bool")

    def __len__(self):
        if self._num_outputs is None:
            self._num_outputs = len(self.list_outputs())
        return self._num_outputs

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        if isinstance(index, str):
            outputs = self.list_outputs()
            if index not in outputs:
                # MXNet also accepts a unique output name prefix match, e.g. 'fc1' -> 'fc1_output'
                matches = [o for o in outputs if o == index + "_output"]
                if len(matches) != 1:
                    raise ValueError("There is no output named %s in %s" % (index, outputs))
                index = matches[0]
            return _transform([self], output_name=index, deferred=True)
        if isinstance(index, slice):
            return Group([self[i] for i in range(len(self))[index]])
        if not isinstance(index, numbers.Integral):
            raise TypeError("Symbol only supports integer or string indexing")
        n = len(self)
        if not -n <= index < n:
            raise IndexError("index %d out of range for %d outputs" % (index, n))
        return _output_of(self, int(index) % n)

    def get_internals(self):
        return _transform([self], internals=True, deferred=True)

    def _gen_atomic_symbol(self):
        """The head operator with its own attributes (parameters and __hidden__ keys) but
        no inputs and no name: an atomic symbol, to be called on new inputs, as MXNet's.
        MXNetError for a group of several nodes or a variable."""
        g = self._parsed()
        head_nodes = {head[0] for head in g["heads"]}
        if len(head_nodes) != 1:
            raise MXNetError("Generating atomic symbol from other symbol only works for "
                             "nongrouped symbol.")
        node = g["nodes"][head_nodes.pop()]
        if node["op"] == "null":
            raise MXNetError("_gen_atomic_symbol: '%s' is a variable, not an operator"
                             % node["name"])
        attrs = dict(node.get("attrs") or node.get("attr") or node.get("param") or {})
        prefix = node["name"] + "_"
        outputs = [o[len(prefix):] if o.startswith(prefix) else o
                   for o in self.list_outputs()]
        return _AtomicSymbol(node["op"], attrs, outputs)

    def get_children(self):
        """The inputs of the head nodes (of every output, for a group), as one grouped
        symbol; None when they have none (variables)."""
        g = self._parsed()
        head_nodes = list(dict.fromkeys(head[0] for head in g["heads"]))  # each node once
        inputs = [i for nid in head_nodes for i in g["nodes"][nid].get("inputs") or []]
        if not inputs:
            return None
        internals = self.get_internals()
        names = internals.list_outputs()
        kids = []
        for nid, idx, *_ in inputs:
            child = g["nodes"][nid]
            out_name = child["name"] if child["op"] == "null" else None
            if out_name is None:
                inner = Symbol(json.dumps({**g, "heads": [[nid, idx, 0]]}))
                out_name = inner.list_outputs()[0]
            kids.append(internals[names.index(out_name)])
        return Group(kids)

    def __call__(self, *args, **kwargs):
        """Composition by call: replaces this symbol's variables by the given symbols."""
        name = kwargs.pop("name", None)
        for a in list(args) + list(kwargs.values()):
            if not isinstance(a, Symbol):
                raise TypeError("Compose expects Symbol arguments, got %s" % type(a))
        return _compose(call=self, name=name or "", positional=args, named=kwargs)

    # -- arithmetic -----------------------------------------------------------------------
    def _binary(self, other, array_op, scalar_op):
        if isinstance(other, Symbol):
            return _op_symbol(array_op)(self, other)
        if isinstance(other, (numbers.Number, np.generic)):
            return _op_symbol(scalar_op)(self, scalar=other)
        raise TypeError("type %s not supported" % str(type(other)))

    def __add__(self, o): return self._binary(o, "_Plus", "_PlusScalar")
    def __radd__(self, o): return self._binary(o, "_Plus", "_PlusScalar")
    def __sub__(self, o): return self._binary(o, "_Minus", "_MinusScalar")
    def __rsub__(self, o): return self._binary(o, "_Minus", "_RMinusScalar")
    def __mul__(self, o): return self._binary(o, "_Mul", "_MulScalar")
    def __rmul__(self, o): return self._binary(o, "_Mul", "_MulScalar")
    def __truediv__(self, o): return self._binary(o, "_Div", "_DivScalar")
    def __rtruediv__(self, o): return self._binary(o, "_Div", "_RDivScalar")
    def __pow__(self, o): return self._binary(o, "_Power", "_PowerScalar")
    def __rpow__(self, o): return self._binary(o, "_Power", "_RPowerScalar")
    __div__, __rdiv__ = __truediv__, __rtruediv__

    def __neg__(self):
        return self.__mul__(-1.0)

    def __abs__(self):
        return _op_symbol("abs")(self)

    # -- inference ------------------------------------------------------------------------
    def _shape_request(self, args, kwargs):
        if args and kwargs:
            raise ValueError("Can only specify known argument shapes either by positional or "
                             "kwargs way.")
        known = {}
        if args:
            for name, shape in zip(self.list_arguments(), args):
                if shape is not None:
                    known[name] = shape
        else:
            known = {k: v for k, v in kwargs.items() if v is not None}
        shapes = {}
        for name, shape in known.items():
            if isinstance(shape, numbers.Integral):
                shape = (shape,)
            shapes[name] = pb.compiler.PartialShape(known=True, dims=_shape_dims(shape))
        return _compiler_call("InferShape", lambda pb_of: pb.compiler.InferShapeRequest(
            symbol=pb_of(self), shapes=shapes), [self])

    def infer_shape(self, *args, **kwargs):
        """(arg_shapes, out_shapes, aux_shapes) as lists of tuples, or (None, None, None)
        when some shape cannot be decided."""
        resp = self._shape_request(args, kwargs)
        if not resp.complete:
            unknown = [n for n, s in zip(self.list_arguments(), resp.arg_shapes)
                       if not s.known or any(d < 0 for d in s.dims)]
            warnings.warn("Cannot decide shape for the following arguments (0s in shape means "
                          "unknown dimensions). Consider providing them as input:\n\t"
                          + "\n\t".join("%s: %s" % (n, ()) for n in unknown[:10]),
                          stacklevel=2)
            return None, None, None
        conv = lambda lst: [tuple(int(d) for d in s.dims) for s in lst]  # noqa: E731
        return conv(resp.arg_shapes), conv(resp.out_shapes), conv(resp.aux_shapes)

    def infer_shape_partial(self, *args, **kwargs):
        resp = self._shape_request(args, kwargs)
        conv = lambda lst: [_legacy_shape(s) for s in lst]  # noqa: E731
        return conv(resp.arg_shapes), conv(resp.out_shapes), conv(resp.aux_shapes)

    def _type_request(self, args, kwargs):
        if args and kwargs:
            raise ValueError("Can only specify known argument types either by positional or "
                             "kwargs way.")
        known = dict(zip(self.list_arguments(), args)) if args else kwargs
        dtypes = {k: dtype_to_pb(v) for k, v in known.items() if v is not None}
        return _compiler_call("InferType", lambda pb_of: pb.compiler.InferTypeRequest(
            symbol=pb_of(self), dtypes=dtypes), [self])

    def infer_type(self, *args, **kwargs):
        """(arg_types, out_types, aux_types) as numpy types, or (None, None, None)."""
        resp = self._type_request(args, kwargs)
        if not resp.complete:
            return None, None, None
        conv = lambda lst: [dtype_from_pb(t).type for t in lst]  # noqa: E731
        return conv(resp.arg_types), conv(resp.out_types), conv(resp.aux_types)

    def infer_type_partial(self, *args, **kwargs):
        """As infer_type, with None for each type inference could not decide."""
        resp = self._type_request(args, kwargs)
        conv = lambda lst: [dtype_from_pb(t).type if t else None for t in lst]  # noqa: E731
        return conv(resp.arg_types), conv(resp.out_types), conv(resp.aux_types)

    # -- binding --------------------------------------------------------------------------
    def bind(self, ctx, args, args_grad=None, grad_req="write", aux_states=None,
             group2ctx=None, shared_exec=None):
        from .executor import Executor
        _check_group2ctx(self, ctx or current_context(), group2ctx)
        return Executor._bind(self, ctx, args, args_grad, grad_req, aux_states)

    def simple_bind(self, ctx=None, grad_req="write", type_dict=None, stype_dict=None,
                    group2ctx=None, shared_arg_names=None, shared_exec=None,
                    shared_buffer=None, **kwargs):
        from .executor import Executor
        placed = _group_contexts(self, ctx or current_context(), group2ctx)
        if placed:
            return Executor._simple_bind_placed(self, ctx or current_context(), grad_req,
                                                type_dict, kwargs, placed)
        return Executor._simple_bind(self, ctx, grad_req, type_dict, kwargs)

    def eval(self, ctx=None, **kwargs):
        exe = self.bind(ctx, kwargs)
        exe.forward()
        return exe.outputs


class _AtomicSymbol(Symbol):
    """An operator with its attributes and no inputs yet (Symbol._gen_atomic_symbol). It has
    no arguments; calling it on symbols (positionally in the operator's input order, or by
    input name) composes the operator, as MXNet's atomic symbols do."""

    def __init__(self, op, attrs, outputs):
        graph = {"nodes": [{"op": op, "name": "", "attrs": attrs, "inputs": []}],
                 "arg_nodes": [], "node_row_ptr": [0, len(outputs)],
                 "heads": [[0, i, 0] for i in range(len(outputs))],
                 "attrs": {"mxnet_version": ["int", 10901]}}
        super().__init__(json.dumps(graph))
        self._op = op
        self._attrs = attrs
        self._outputs = list(outputs)

    def list_arguments(self):
        return []

    def list_auxiliary_states(self):
        return []

    def list_inputs(self):
        return []

    def list_outputs(self):
        return list(self._outputs)

    def get_internals(self):
        return self

    def __call__(self, *args, **kwargs):
        name = kwargs.pop("name", None)
        for a in list(args) + list(kwargs.values()):
            if not isinstance(a, Symbol):
                raise TypeError("Compose expects Symbol arguments, got %s" % type(a))
        return _compose(op=self._op, attrs=self._attrs,
                        name=NameManager.current().get(name, self._op.lower()),
                        positional=args, named=kwargs)


def _format_attrs(kwargs):
    return {k: _ops.format_attr(v) for k, v in kwargs.items()}


def _inputs_fit(known, variadic, positional, named):
    """Whether ``positional`` and ``named`` inputs fit an operator's listed inputs ``known``
    (a tuple; none given twice, no unknown name); variadic operators take positional inputs
    only."""
    if variadic:
        return not named
    if not named:
        return len(positional) <= len(known)
    return len(positional) <= len(known) and all(k in known for k in named) and \
        not set(known[:len(positional)]) & set(named)


# op name -> (its OpInfo, its function): operators called by symbol arithmetic (a + b) and
# by name are made once per operator schema.
_OP_FUNCTIONS = {}


def _op_symbol(op_name):
    """The Python function of operator ``op_name`` for symbols (hint = op_name.lower())."""
    info = _ops.lookup(op_name)
    if info is None:
        raise AttributeError("module 'mxgrid.symbol' has no attribute or operator '%s'"
                             % op_name)
    made = _OP_FUNCTIONS.get(op_name)
    if made is not None and made[0] is info:
        return made[1]
    fn = _make_op_symbol(op_name, info)
    _OP_FUNCTIONS[op_name] = (info, fn)
    return fn


def _make_op_symbol(op_name, info):
    param_names = [p.name for p in info.params]
    known_inputs = tuple(info.inputs) + tuple(info.aux_states)
    input_names = frozenset(known_inputs)
    variadic_param = info.variadic_param
    hint = op_name.lower()
    format_attr = _ops.format_attr
    refuses = _ops.refuses
    num_outputs = _ops.num_outputs

    def fn(*args, name=None, attr=None, **kwargs):
        positional, attrs = [], {}
        for a in args:
            if isinstance(a, Symbol):
                positional.append(a)
            elif isinstance(a, (list, tuple)) and a and all(isinstance(x, Symbol) for x in a):
                positional.extend(a)
            else:
                if len(attrs) >= len(param_names):
                    raise TypeError("%s: too many positional arguments" % op_name)
                attrs[param_names[len(attrs)]] = format_attr(a)
        named = {}
        for k, v in kwargs.items():
            if isinstance(v, Symbol):
                named[k] = v
            elif v is None and k in input_names:
                continue  # None for an input means "not given", as in MXNet
            elif k in _HIDDEN_KEYS:  # an attribute of the node (lr_mult=1), not a parameter
                attrs["__%s__" % k] = str(v)
            elif k.endswith(_HIDDEN_SUFFIXES):
                hidden = [h for h in _HIDDEN_KEYS if k.endswith("_" + h)][0]
                raise ValueError(
                    "setting variable attributes with %s is deprecated: use w = Variable(%s=%s)"
                    " and %s(%s=w)" % (k, hidden, v, op_name, k[:-len(hidden) - 1]))
            else:
                attrs[k] = v if type(v) is str else format_attr(v)
        if variadic_param and variadic_param not in attrs:
            attrs[variadic_param] = str(len(positional) + len(named))
        scope = AttrScope.current()
        if attr or scope._attr:
            attrs.update(_hide_keys(scope.get(attr)))
        node_name = NameManager.current().get(name, hint)
        # What the client can check joins the burst; anything else is a call of its own, so
        # that its refusal raises here, as in MXNet.
        checked = not refuses(op_name, attrs) and \
            _inputs_fit(known_inputs, variadic_param, positional, named)
        if not checked:
            return _compose(op=op_name, attrs=attrs, name=node_name, positional=positional,
                            named=named)
        sym = _defer_op(op_name, attrs, node_name, positional, named)
        sym._num_outputs = num_outputs(op_name, attrs)
        return sym

    fn.__name__ = op_name
    fn.__doc__ = info.description
    return fn


def Variable(name, attr=None, shape=None, lr_mult=None, wd_mult=None, dtype=None, init=None,
             stype=None, **kwargs):
    """A free variable (an argument of the graph), as mx.sym.Variable."""
    if not isinstance(name, str):
        raise TypeError("Expect a string for variable `name`")
    attrs = _hide_keys(AttrScope.current().get(attr))
    if shape is not None:
        attrs["__shape__"] = str(tuple(shape) if not isinstance(shape, int) else (shape,))
    if lr_mult is not None:
        attrs["__lr_mult__"] = str(lr_mult)
    if wd_mult is not None:
        attrs["__wd_mult__"] = str(wd_mult)
    if dtype is not None:
        attrs["__dtype__"] = str(_NP_TO_PB[np.dtype(dtype)] - 1)
    if init is not None:
        attrs["__init__"] = init if isinstance(init, str) else init.dumps()
    if stype is not None:
        attrs["__storage_type__"] = str({"default": 0, "row_sparse": 1, "csr": 2}[stype])
    for k, v in kwargs.items():
        if k.startswith("__") and k.endswith("__"):
            attrs[k] = str(v)
        else:
            raise ValueError("Attribute name=%s is not supported. Additional attributes must "
                             "start and end with double underscores, e.g, __yourattr__" % k)
    return _compose(variable=name, attrs=attrs, deferred=bool(name))


var = Variable


def Group(symbols):
    """One symbol whose outputs are all outputs of ``symbols``, in order."""
    if not symbols or any(not isinstance(s, Symbol) for s in symbols):
        raise TypeError("Expected a list of symbols as input")
    return _transform(list(symbols), group=True, deferred=True)


def load_json(json_str):
    """A Symbol from MXNet -symbol.json text (validated by the compiler)."""
    if not isinstance(json_str, str):
        raise TypeError("fname required to be string")
    sym = Symbol(json_str)
    sym._describe()  # raises MXNetError for bad JSON
    return sym


def load(fname):
    with open(fname) as f:
        return load_json(f.read())


# -- module functions MXNet's symbol.py defines over the operators ---------------------------
def _scalar_dispatch(lhs, rhs, array_op, scalar_op, rscalar_op, pyfn):
    """MXNet's _ufunc_helper: array_op for two symbols, scalar_op(lhs, scalar=rhs) or
    rscalar_op(rhs, scalar=lhs) with one number, pyfn for two numbers."""
    if isinstance(lhs, numbers.Number) and isinstance(rhs, numbers.Number):
        return pyfn(lhs, rhs)
    if isinstance(lhs, Symbol) and isinstance(rhs, Symbol):
        return _op_symbol(array_op)(lhs, rhs)
    if isinstance(lhs, Symbol) and isinstance(rhs, (numbers.Number, np.generic)):
        return _op_symbol(scalar_op)(lhs, scalar=float(rhs))
    if isinstance(rhs, Symbol) and isinstance(lhs, (numbers.Number, np.generic)):
        return _op_symbol(rscalar_op)(rhs, scalar=float(lhs))
    raise TypeError("types (%s, %s) not supported" % (type(lhs), type(rhs)))


def maximum(left, right):
    """Element-wise maximum of symbols and/or scalars, as mx.sym.maximum."""
    return _scalar_dispatch(left, right, "_Maximum", "_MaximumScalar", "_MaximumScalar",
                            lambda a, b: a if a > b else b)


def minimum(left, right):
    """Element-wise minimum of symbols and/or scalars, as mx.sym.minimum."""
    return _scalar_dispatch(left, right, "_Minimum", "_MinimumScalar", "_MinimumScalar",
                            lambda a, b: a if a < b else b)


def power(base, exp):
    """base ** exp for symbols and/or scalars, as mx.sym.power."""
    return _scalar_dispatch(base, exp, "_Power", "_PowerScalar", "_RPowerScalar",
                            lambda a, b: a ** b)


def pow(base, exp):  # noqa: A001 (MXNet's name)
    """Alias of power (mx.sym.pow)."""
    return power(base, exp)


def hypot(left, right):
    """sqrt(left^2 + right^2) of symbols and/or scalars, as mx.sym.hypot."""
    return _scalar_dispatch(left, right, "_Hypot", "_HypotScalar", "_HypotScalar", np.hypot)


def linspace(start, stop, num, endpoint=True, name=None, dtype=None):
    """``num`` evenly spaced values from start to stop, as mx.sym.linspace."""
    return _op_symbol("_linspace")(start=start, stop=stop, num=num, endpoint=endpoint,
                                   name=name, dtype=np.float32 if dtype is None else dtype)


def eye(N, M=0, k=0, dtype=None, **kwargs):
    """An N x M (M 0: N) symbol with ones on diagonal ``k``, as mx.sym.eye."""
    return _op_symbol("_eye")(N=N, M=M, k=k, dtype=np.float32 if dtype is None else dtype,
                              **kwargs)


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """Splits ``ary`` into sections (an int) or at indices (a tuple), as mx.sym.split_v2."""
    return _op_symbol("_split_v2")(ary, **_fluent.split_v2_attrs(indices_or_sections, axis,
                                                                 squeeze_axis))


def zeros(shape, dtype=None, **kwargs):
    """A symbol of zeros of ``shape`` (float32 unless dtype is given), as mx.sym.zeros."""
    return _op_symbol("_zeros")(shape=shape, dtype=np.float32 if dtype is None else dtype,
                                **kwargs)


def ones(shape, dtype=None, **kwargs):
    """A symbol of ones of ``shape``, as mx.sym.ones."""
    return _op_symbol("_ones")(shape=shape, dtype=np.float32 if dtype is None else dtype,
                               **kwargs)


def full(shape, val, dtype=None, **kwargs):
    """A symbol of ``shape`` filled with ``val``, as mx.sym.full."""
    return _op_symbol("_full")(shape=shape, value=float(val),
                               dtype=np.float32 if dtype is None else dtype, **kwargs)


def arange(start, stop=None, step=1.0, repeat=1, infer_range=False, name=None, dtype=None):
    """Evenly spaced values in [start, stop), each repeated ``repeat`` times (mx.sym.arange)."""
    return _op_symbol("_arange")(start=start, stop=stop, step=step, repeat=repeat,
                                 infer_range=infer_range, name=name,
                                 dtype=np.float32 if dtype is None else dtype)


# Operators as module functions, generated on first access from ListOperators.
__getattr__, _dir = _ops.module_functions(_op_symbol)
# Every operator, as MXNet's mx.sym._internal; and the fluent methods (data.sum(axis=1)).
_internal = _fluent.internal_namespace(__name__ + "._internal", _op_symbol)
_fluent.install(Symbol, _op_symbol)
_fluent.install_split_v2(Symbol, split_v2)


def __dir__():
    return _dir(globals())
