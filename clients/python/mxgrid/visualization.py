"""mx.viz: a layer table (print_summary) and a Graphviz drawing (plot_network) of a Symbol,
with the text, labels, colours and parameter counts of MXNet 1.9.1's mx.viz.

Both read the graph from ``symbol.tojson()``; shapes and types come from ``infer_shape`` /
``infer_type`` of ``symbol.get_internals()`` (compiler RPCs). MXNet's quirks are kept on
purpose, so the output of a script is the same under both: the summary's "is this node a
head" test looks at the numbers of the first head entry ([node, output, version]) rather than
at the head nodes, and a plotted edge out of a multi-output operator is labelled with the
shape of the operator's last output.

    mx.viz.print_summary(net, shape={"data": (1, 3, 32, 32)})
    dot = mx.viz.plot_network(net, shape={"data": (1, 3, 32, 32)})
    dot.render("net")  # needs the Graphviz binaries; dot.source does not

Thread-safety: the functions keep no state.
"""
import json
import re
import warnings

from .symbol import Symbol

__all__ = ["print_summary", "plot_network"]

# Fill colours of plot_network, as MXNet's palette (index: variable, conv/fc, activation,
# batchnorm, pooling, concat/flatten/reshape, softmax, anything else).
_PALETTE = ("#8dd3c7", "#fb8072", "#ffffb3", "#bebada", "#80b1d3",
            "#fdb462", "#b3de69", "#fccde5")
# Variables with these suffixes are parameters; plot_network does not draw them.
_PARAM_SUFFIXES = ("_weight", "_bias", "_beta", "_gamma",
                   "_moving_var", "_moving_mean", "_running_var", "_running_mean")


def _dims(text):
    """The numbers in a shape attribute, as strings: '(3, 3)' -> ['3', '3']."""
    return re.findall(r"\d+", text)


def _internal_shapes(symbol, shape):
    """{output name of every internal node: its inferred shape}."""
    internals = symbol.get_internals()
    _, out_shapes, _ = internals.infer_shape(**shape)
    if out_shapes is None:
        raise ValueError("Input shape is incomplete")
    return dict(zip(internals.list_outputs(), out_shapes))


def _internal_types(symbol, dtype):
    internals = symbol.get_internals()
    _, out_types, _ = internals.infer_type(**dtype)
    if out_types is None:
        raise ValueError("Input type is incomplete")
    return dict(zip(internals.list_outputs(), out_types))


# -- print_summary ---------------------------------------------------------------------------
def _format_row(fields, positions):
    """The fields left-aligned in columns ending at ``positions`` (each cut to fit)."""
    line = ""
    for field, end in zip(fields, positions):
        line = (line + str(field))[:end].ljust(end)
    return line


def _layer_params(node, in_channels, shapes):
    """Parameters MXNet's summary counts for one operator node: convolution and fully
    connected weights (+ bias), BatchNorm's gamma and beta, an embedding table."""
    op, attrs = node["op"], node.get("attrs", {})
    if op == "Convolution":
        count = in_channels * int(attrs["num_filter"]) // int(attrs.get("num_group", "1"))
        for k in _dims(attrs["kernel"]):
            count *= int(k)
        if attrs.get("no_bias") != "True":
            count += int(attrs["num_filter"])
        return count
    if op == "FullyConnected":
        bias = 0 if attrs.get("no_bias") == "True" else 1
        return (in_channels + bias) * int(attrs["num_hidden"])
    if op == "BatchNorm":
        return int(shapes[node["name"] + "_output"][1]) * 2 if shapes is not None else 0
    if op == "Embedding":
        return int(attrs["input_dim"]) * int(attrs["output_dim"])
    return 0


def _output_key(node):
    """The internals' output name of a single-output node (a variable's own name)."""
    return node["name"] if node["op"] == "null" else node["name"] + "_output"


def print_summary(symbol, shape=None, line_length=120, positions=(.44, .64, .74, 1.)):
    """Prints a table of the layers of ``symbol``: name (type), output shape without the
    batch axis (when ``shape``, {input name: shape}, is given), parameter count and the
    layers it reads, then the total parameter count. ``positions`` are the columns' right
    edges, as fractions of ``line_length`` or (when the last is > 1) in characters."""
    if not isinstance(symbol, Symbol):
        raise TypeError("symbol must be Symbol")
    shapes = _internal_shapes(symbol, shape) if shape is not None else None
    graph = json.loads(symbol.tojson())
    nodes = graph["nodes"]
    # MXNet's test: numbers of the first head entry, not node ids of the heads (see above).
    head_entry = set(graph["heads"][0])
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]

    print("_" * line_length)
    print(_format_row(["Layer (type)", "Output Shape", "Param #", "Previous Layer"],
                      positions))
    print("=" * line_length)
    total = 0
    for i, node in enumerate(nodes):
        if node["op"] == "null" and i > 0:
            continue
        out_shape = []
        if shapes is not None and (node["op"] != "null" or i in head_entry):
            out_shape = shapes.get(_output_key(node), [None])[1:]
        previous, in_channels = [], 0
        if node["op"] != "null":
            for entry in node["inputs"]:
                source = nodes[entry[0]]
                if source["op"] == "null" and entry[0] not in head_entry:
                    continue
                previous.append(source["name"])
                if shapes is not None and _output_key(source) in shapes:
                    in_channels += int(shapes[_output_key(source)][1:][0])
        params = _layer_params(node, in_channels, shapes)
        total += params
        print(_format_row(["%s(%s)" % (node["name"], node["op"]),
                           "x".join(str(d) for d in out_shape), params,
                           previous[0] if previous else ""], positions))
        for name in previous[1:]:
            print(_format_row(["", "", "", name], positions))
        print(("=" if i == len(nodes) - 1 else "_") * line_length)
    print("Total params: %d" % total)
    print("_" * line_length)


# -- plot_network ----------------------------------------------------------------------------
def _node_look(node):
    """(label, fill colour) of an operator node."""
    op, name, attrs = node["op"], node["name"], node.get("attrs") or {}
    if op == "Convolution":
        stride = "x".join(_dims(attrs["stride"])) if "stride" in attrs else "1"
        return ("Convolution\n%s/%s, %s" % ("x".join(_dims(attrs["kernel"])), stride,
                                           attrs["num_filter"]), _PALETTE[1])
    if op == "FullyConnected":
        return "FullyConnected\n%s" % attrs["num_hidden"], _PALETTE[1]
    if op == "BatchNorm":
        return name, _PALETTE[3]
    if op in ("Activation", "LeakyReLU"):
        act = attrs["act_type"] if op == "Activation" else attrs.get("act_type", "Leaky")
        return "%s\n%s" % (op, act), _PALETTE[2]
    if op == "Pooling":
        # MXNet reads pool_type unconditionally (KeyError when it was left at its default).
        kernel = "x".join(_dims(attrs["kernel"])) if "kernel" in attrs else "[]"
        stride = "x".join(_dims(attrs["stride"])) if "stride" in attrs else "1"
        return ("Pooling\n%s, %s/%s" % (attrs.get("pool_type", "max"), kernel, stride),
                _PALETTE[4])
    if op in ("Concat", "Flatten", "Reshape"):
        return name, _PALETTE[5]
    if op == "Softmax":
        return name, _PALETTE[6]
    return (attrs["op_type"] if op == "Custom" else name), _PALETTE[7]


def _edge_key(source):
    """The internals' output name an edge out of ``source`` is labelled with: a multi-output
    operator's last output (``num_outputs`` - 1), whichever output the edge carries."""
    if source["op"] == "null":
        return source["name"]
    key = source["name"] + "_output"
    if "num_outputs" in (source.get("attrs") or {}):
        key += str(int(source["attrs"]["num_outputs"]) - 1)
    return key


def _warn_repeated_names(nodes):
    seen, repeated = set(), []
    for node in nodes:
        if node["name"] in seen and node["name"] not in repeated:
            repeated.append(node["name"])
        seen.add(node["name"])
    if repeated:
        warnings.warn("There are multiple variables with the same name in your graph, this "
                      "may result in cyclic graph. Repeated names: " + ",".join(repeated),
                      RuntimeWarning)


def plot_network(symbol, title="plot", save_format="pdf", shape=None, dtype=None,
                 node_attrs=None, hide_weights=True):
    """A ``graphviz.Digraph`` of the graph computing ``symbol``: variables as ovals,
    operators as coloured boxes, edges from each operator back to its inputs, labelled with
    the input's shape (``shape``: {input name: shape}) and type (``dtype``: {input name:
    numpy type}) when given. ``node_attrs`` overrides Graphviz node attributes. Parameters
    (names ending in _weight, _bias, _gamma, ...) are never drawn as nodes; with
    ``hide_weights`` their edges are left out too."""
    try:
        from graphviz import Digraph
    except ImportError:
        raise ImportError("Draw network requires graphviz library") from None
    if not isinstance(symbol, Symbol):
        raise TypeError("symbol must be a Symbol")
    shapes = _internal_shapes(symbol, shape) if shape is not None else None
    types = _internal_types(symbol, dtype) if dtype is not None else None
    nodes = json.loads(symbol.tojson())["nodes"]
    _warn_repeated_names(nodes)

    base_attrs = {"shape": "box", "fixedsize": "true", "width": "1.3", "height": "0.8034",
                  "style": "filled"}
    base_attrs.update(node_attrs or {})
    dot = Digraph(name=title, format=save_format)
    hidden = set()
    for node in nodes:
        attrs = dict(base_attrs)
        if node["op"] == "null":
            if node["name"].endswith(_PARAM_SUFFIXES):
                if hide_weights:
                    hidden.add(node["name"])
                continue
            attrs["shape"] = "oval"
            label, attrs["fillcolor"] = node["name"], _PALETTE[0]
        else:
            label, attrs["fillcolor"] = _node_look(node)
        dot.node(name=node["name"], label=label, **attrs)

    for node in nodes:
        if node["op"] == "null":
            continue
        inputs = node["inputs"]
        if node["op"] == "_contrib_BilinearResize2D":
            inputs = inputs[:1]  # the size-like second input is not drawn
        for entry in inputs:
            source = nodes[entry[0]]
            if source["name"] in hidden:
                continue
            label = ""
            if shapes is not None:
                label = "x".join(str(d) for d in shapes[_edge_key(source)][1:])
            if types is not None:
                label += "(%s)" % types[_edge_key(source)].__name__
            dot.edge(tail_name=node["name"], head_name=source["name"], dir="back",
                     arrowtail="open", label=label)
    return dot
