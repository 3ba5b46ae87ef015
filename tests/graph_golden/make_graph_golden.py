#!/usr/bin/env python3
"""Writes the Symbol/executor conformance fixtures of tests/graph_golden/data/ with MXNet 1.9.1.

Run from the repository root with the project venv:
    .venv/bin/python tests/graph_golden/make_graph_golden.py

Outputs (see README.md next to this file):
    data/<net>/    one directory per network (mlp, lenet, resblock, reshape_concat, non_loss):
                   symbol.json, manifest.json, args.params, aux.params, [head_grads.params],
                   outputs.params, outputs_infer.params, grads.params, aux_after.params,
                   aux_after_forward.params
    data/legacy/   hand-written pre-0.9 JSON graphs, what mx.sym.load makes of them
    data/naming/   MXNet's naming / list_* / tojson behaviour for small Symbol API snippets,
                   each evaluated in a fresh interpreter so the auto-name counters start at 0

All random values come from numpy with a fixed seed per network, so reruns give the same
inputs; outputs may differ only by float nondeterminism of MXNet's CPU kernels.
"""
import json
import os
import subprocess
import sys

# Record the plain graph: no MKLDNN subgraph fusion (conv+bn+relu) in the executor.
os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")

import mxnet as mx  # noqa: E402  (after the environment setting above)
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


# --------------------------------------------------------------------------------------
# Networks. Each builder returns (symbol, spec) where spec says how to fill the inputs.
#   input_shapes : what infer_shape is given (data only; labels are left to inference)
#   partial_given: a subset of shapes for infer_shape_partial (a 0 dim means "unknown")
#   partial_extra: more infer_shape_partial cases, recorded under "partial_extra"
#   classes      : {label argument name: number of classes} for softmax labels
#   head_grads   : True when the heads are not loss ops (backward needs head gradients)
# --------------------------------------------------------------------------------------

def build_mlp():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=data, name="fc1", num_hidden=16)
    net = mx.sym.Activation(data=net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(data=net, name="fc2", num_hidden=8)
    net = mx.sym.Activation(data=net, act_type="tanh")  # unnamed on purpose: auto name
    net = mx.sym.FullyConnected(data=net, name="fc3", num_hidden=5)
    net = mx.sym.SoftmaxOutput(data=net, name="softmax")
    return net, dict(input_shapes={"data": (4, 20)},
                     # Unknown batch size (0 = unknown dim): weights still inferred.
                     partial_given={"data": (0, 20)},
                     partial_extra=[{"fc1_weight": (16, 20)}, {"softmax_label": (4,)}],
                     classes={"softmax_label": 5}, head_grads=False, seed=101)


def build_lenet():
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data=data, name="conv1", kernel=(3, 3), num_filter=4)
    net = mx.sym.Activation(data=net, act_type="tanh")
    net = mx.sym.Pooling(data=net, pool_type="max", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Convolution(data=net, name="conv2", kernel=(3, 3), num_filter=6, pad=(1, 1))
    net = mx.sym.Activation(data=net, act_type="relu")
    net = mx.sym.Pooling(data=net, pool_type="avg", kernel=(2, 2), stride=(2, 2))
    net = mx.sym.Flatten(data=net)
    net = mx.sym.FullyConnected(data=net, num_hidden=10, name="fc1")
    net = mx.sym.Activation(data=net, act_type="tanh")
    net = mx.sym.FullyConnected(data=net, num_hidden=3, name="fc2")
    net = mx.sym.SoftmaxOutput(data=net, name="softmax")
    return net, dict(input_shapes={"data": (4, 1, 12, 12)},
                     # Unknown batch size: inference stops at Flatten (fc weights unknown).
                     partial_given={"data": (0, 1, 12, 12)},
                     partial_extra=[{"softmax_label": (4,)}],
                     classes={"softmax_label": 3}, head_grads=False, seed=202)


def build_resblock():
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data=data, name="conv1", kernel=(3, 3), pad=(1, 1),
                             num_filter=4, no_bias=True)
    net = mx.sym.BatchNorm(data=net, name="bn1", fix_gamma=False)
    net = mx.sym.Activation(data=net, act_type="relu")
    net = mx.sym.Convolution(data=net, name="conv2", kernel=(3, 3), pad=(1, 1),
                             num_filter=4, no_bias=True)
    net = mx.sym.BatchNorm(data=net, name="bn2")  # default fix_gamma=True
    net = net + data  # residual connection (elemwise_add)
    net = mx.sym.Activation(data=net, act_type="relu")
    net = mx.sym.Pooling(data=net, global_pool=True, pool_type="avg", kernel=(1, 1))
    net = mx.sym.Flatten(data=net)
    net = mx.sym.FullyConnected(data=net, num_hidden=3, name="fc")
    net = mx.sym.SoftmaxOutput(data=net, name="softmax")
    return net, dict(input_shapes={"data": (2, 4, 6, 6)},
                     # Unknown channel count: recovered through the residual elemwise_add.
                     partial_given={"data": (2, 0, 6, 6)},
                     partial_extra=[{"data": (0, 4, 6, 6)}, {"conv1_weight": (4, 4, 3, 3)}],
                     classes={"softmax_label": 3}, head_grads=False, seed=303)


def build_reshape_concat():
    data = mx.sym.Variable("data")                                     # (3, 12)
    r = mx.sym.Reshape(data=data, shape=(0, 3, 4), name="reshape")      # (3, 3, 4)
    split = mx.sym.SliceChannel(data=r, num_outputs=3, axis=1, name="split")  # 3 x (3, 1, 4)
    cat = mx.sym.Concat(split[0], split[2], dim=1, name="cat")          # (3, 2, 4)
    # Broadcast multiply by a per-sample row computed from the middle split output.
    row = mx.sym.sum(split[1], axis=1, name="rowsum")                   # (3, 4)
    row = mx.sym.expand_dims(row, axis=1, name="expand")                # (3, 1, 4)
    bm = mx.sym.broadcast_mul(cat, row, name="bmul")                    # (3, 2, 4)
    sl = mx.sym.slice_axis(r, axis=2, begin=1, end=3, name="slice")     # (3, 3, 2)
    tr = mx.sym.transpose(sl, axes=(0, 2, 1), name="transpose")         # (3, 2, 3)
    scaled = mx.sym.Flatten(tr, name="flat_tr") * 2.0                   # (3, 6) _mul_scalar
    avg = mx.sym.mean(r, axis=2, name="avg")                            # (3, 3)
    feat = mx.sym.Concat(mx.sym.Flatten(bm, name="flat_bm"), scaled, avg,
                         dim=1, name="cat2")                             # (3, 17)
    net = mx.sym.FullyConnected(data=feat, num_hidden=2, name="fc")     # (3, 2)
    net = mx.sym.LinearRegressionOutput(data=net, name="lro")           # label (3, 2) inferred
    return net, dict(input_shapes={"data": (3, 12)},
                     # Only the regression label: nothing else becomes known.
                     partial_given={"lro_label": (3, 2)},
                     # Unknown batch: MXNet 1.9.1's Concat skips inputs of unknown ndim when
                     # summing dim 1, so it reports fc_weight (2, 3) instead of (2, 17).
                     partial_extra=[{"data": (0, 12)}],
                     classes={}, head_grads=False, seed=404)


def build_non_loss():
    data = mx.sym.Variable("data")                                      # (4, 10)
    net = mx.sym.FullyConnected(data=data, num_hidden=6, name="fc")
    net = mx.sym.BatchNorm(data=net, name="bn", fix_gamma=False, use_global_stats=True)
    sig = mx.sym.Activation(data=net, act_type="sigmoid", name="sig")   # head 0: (4, 6)
    total = mx.sym.sum(sig, axis=1, name="total")                       # head 1: (4,)
    net = mx.sym.Group([sig, total])
    return net, dict(input_shapes={"data": (4, 10)},
                     partial_given={"data": (0, 10)},
                     partial_extra=[{"fc_weight": (6, 10)}],
                     classes={}, head_grads=True, seed=505)


NETS = [
    ("mlp", build_mlp),
    ("lenet", build_lenet),
    ("resblock", build_resblock),
    ("reshape_concat", build_reshape_concat),
    ("non_loss", build_non_loss),
]


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

def shapes(lst):
    """infer_shape results (tuples or None) as JSON lists; None (unknown) becomes null."""
    return [None if s is None else [int(d) for d in s] for s in lst]


def dtypes(lst):
    return [None if t is None else np.dtype(t).name for t in lst]


def fill_argument(rng, name, shape, classes):
    """A deterministic float32 value for one argument, scaled so activations stay moderate."""
    if name in classes:
        return rng.randint(0, classes[name], size=shape).astype(np.float32)
    if name.endswith("_weight"):
        fan_in = int(np.prod(shape[1:]))
        return (rng.randn(*shape) / np.sqrt(fan_in)).astype(np.float32)
    if name.endswith("_bias") or name.endswith("_beta"):
        return (0.1 * rng.randn(*shape)).astype(np.float32)
    if name.endswith("_gamma"):
        return (1.0 + 0.2 * rng.randn(*shape)).astype(np.float32)
    # data and regression labels
    return rng.randn(*shape).astype(np.float32)


def fill_aux(rng, name, shape):
    if name.endswith("_moving_var"):
        return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)  # strictly positive
    return (0.2 * rng.randn(*shape)).astype(np.float32)


def save(path, arrays):
    """mx.nd.save of a dict name -> numpy array (as float32 NDArrays)."""
    mx.nd.save(path, {k: mx.nd.array(v, dtype=np.float32) for k, v in arrays.items()})


def to_numpy_dict(nds):
    return {k: v.asnumpy() for k, v in nds.items()}


def bind(sym, args, aux, ctx=mx.cpu()):
    """Binds with a zero gradient buffer for every argument and grad_req='write'."""
    return sym.bind(ctx,
                    args={k: mx.nd.array(v) for k, v in args.items()},
                    args_grad={k: mx.nd.zeros(v.shape) for k, v in args.items()},
                    grad_req="write",
                    aux_states={k: mx.nd.array(v) for k, v in aux.items()})


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")


# --------------------------------------------------------------------------------------
# Per-network fixtures
# --------------------------------------------------------------------------------------

def write_net(name, builder):
    # A fresh NameManager restarts the auto-name counters (activation0, pooling0, ...) per
    # net, exactly as a fresh process would.
    with mx.name.NameManager():
        sym, spec = builder()
    out_dir = os.path.join(DATA, name)
    os.makedirs(out_dir, exist_ok=True)

    arg_names = sym.list_arguments()
    aux_names = sym.list_auxiliary_states()

    arg_shapes, out_shapes, aux_shapes = sym.infer_shape(**spec["input_shapes"])
    p_arg, p_out, p_aux = sym.infer_shape_partial(**spec["partial_given"])
    arg_types, out_types, aux_types = sym.infer_type(data="float32")
    partial_extra = []
    for given in spec.get("partial_extra", []):
        a, o, x = sym.infer_shape_partial(**given)
        partial_extra.append({"given": {k: list(v) for k, v in given.items()},
                              "arg_shapes": shapes(a), "out_shapes": shapes(o),
                              "aux_shapes": shapes(x)})

    # Inputs: all arguments (data, labels, weights) and aux states, from one seeded stream.
    rng = np.random.RandomState(spec["seed"])
    args = {n: fill_argument(rng, n, s, spec["classes"]) for n, s in zip(arg_names, arg_shapes)}
    aux = {n: fill_aux(rng, n, s) for n, s in zip(aux_names, aux_shapes)}
    heads = {}
    if spec["head_grads"]:
        heads = {"head%d" % i: rng.randn(*s).astype(np.float32)
                 for i, s in enumerate(out_shapes)}

    # Training pass: forward(is_train=True) then backward (with head gradients if needed).
    ex = bind(sym, args, aux)
    ex.forward(is_train=True)
    # MXNet 1.9.1's BatchNorm updates moving_mean / moving_var in its *backward* pass, so the
    # aux states are recorded both after forward alone and after forward + backward.
    aux_after_forward = to_numpy_dict(ex.aux_dict)
    if spec["head_grads"]:
        ex.backward([mx.nd.array(heads["head%d" % i]) for i in range(len(heads))])
    else:
        ex.backward()
    outputs = {"output%d" % i: o.asnumpy() for i, o in enumerate(ex.outputs)}
    grads = to_numpy_dict(ex.grad_dict)
    aux_after = to_numpy_dict(ex.aux_dict)

    # Inference pass on a fresh executor so the aux states are the original ones.
    ex_inf = bind(sym, args, aux)
    ex_inf.forward(is_train=False)
    outputs_infer = {"output%d" % i: o.asnumpy() for i, o in enumerate(ex_inf.outputs)}

    with open(os.path.join(out_dir, "symbol.json"), "w") as f:
        f.write(sym.tojson())
    save(os.path.join(out_dir, "args.params"), args)
    save(os.path.join(out_dir, "aux.params"), aux)
    if heads:
        save(os.path.join(out_dir, "head_grads.params"), heads)
    elif os.path.exists(os.path.join(out_dir, "head_grads.params")):
        os.remove(os.path.join(out_dir, "head_grads.params"))
    save(os.path.join(out_dir, "outputs.params"), outputs)
    save(os.path.join(out_dir, "grads.params"), grads)
    save(os.path.join(out_dir, "aux_after.params"), aux_after)
    save(os.path.join(out_dir, "aux_after_forward.params"), aux_after_forward)
    save(os.path.join(out_dir, "outputs_infer.params"), outputs_infer)

    manifest = {
        "arguments": arg_names,
        "outputs": sym.list_outputs(),
        "aux": aux_names,
        "inputs": sym.list_inputs(),
        "internals": sym.get_internals().list_outputs(),
        "input_shapes": {k: list(v) for k, v in spec["input_shapes"].items()},
        "arg_shapes": shapes(arg_shapes),
        "out_shapes": shapes(out_shapes),
        "aux_shapes": shapes(aux_shapes),
        "partial_given": {k: list(v) for k, v in spec["partial_given"].items()},
        "partial_arg_shapes": shapes(p_arg),
        "partial_out_shapes": shapes(p_out),
        "partial_aux_shapes": shapes(p_aux),
        "partial_extra": partial_extra,
        "type_given": {"data": "float32"},
        "arg_types": dtypes(arg_types),
        "out_types": dtypes(out_types),
        "aux_types": dtypes(aux_types),
        "is_train": True,
        "grad_req": "write",
        "has_head_grads": bool(spec["head_grads"]),
        "seed": spec["seed"],
    }
    write_json(os.path.join(out_dir, "manifest.json"), manifest)
    print("wrote", out_dir)


# --------------------------------------------------------------------------------------
# Legacy (pre-0.9) JSON graphs
# --------------------------------------------------------------------------------------

def legacy_node(op, name, inputs, param=None, attr=None):
    """One node in the pre-0.9 layout: "param" + "attr" dicts, 2-element input entries."""
    node = {"op": op, "param": param or {}, "name": name,
            "inputs": [[i, j] for i, j in inputs], "backward_source_id": -1}
    if attr is not None:
        node["attr"] = attr
    return node


def legacy_mlp():
    """data -> fc1(8) -> relu -> fc2(3) -> SoftmaxOutput, with per-node scheduling attrs."""
    g1 = {"ctx_group": "dev1"}
    nodes = [
        legacy_node("null", "data", [], attr=g1),
        legacy_node("null", "fc1_weight", [], attr={"ctx_group": "dev1", "lr_mult": "0.5"}),
        legacy_node("null", "fc1_bias", [], attr={"ctx_group": "dev1", "wd_mult": "0"}),
        legacy_node("FullyConnected", "fc1", [(0, 0), (1, 0), (2, 0)],
                    param={"no_bias": "False", "num_hidden": "8"}, attr=g1),
        legacy_node("Activation", "relu1", [(3, 0)], param={"act_type": "relu"}, attr=g1),
        legacy_node("null", "fc2_weight", [], attr={"ctx_group": "dev2"}),
        legacy_node("null", "fc2_bias", [], attr={"ctx_group": "dev2"}),
        legacy_node("FullyConnected", "fc2", [(4, 0), (5, 0), (6, 0)],
                    param={"no_bias": "False", "num_hidden": "3"},
                    attr={"ctx_group": "dev2", "weight_lr_mult": "2.0"}),
        legacy_node("null", "softmax_label", [], attr={"ctx_group": "dev2"}),
        legacy_node("SoftmaxOutput", "softmax", [(7, 0), (8, 0)],
                    param={"grad_scale": "1", "ignore_label": "-1", "multi_output": "False",
                           "normalization": "null", "use_ignore": "False"},
                    attr={"ctx_group": "dev2"}),
    ]
    return {"nodes": nodes, "arg_nodes": [0, 1, 2, 5, 6, 8], "heads": [[9, 0]]}


def legacy_batchnorm():
    """data -> fc(4) -> BatchNorm -> SoftmaxOutput. In the 0.8 layout the BatchNorm node lists
    only its three arguments: the loader must add the moving_mean / moving_var aux inputs."""
    nodes = [
        legacy_node("null", "data", []),
        legacy_node("null", "fc_weight", []),
        legacy_node("null", "fc_bias", []),
        legacy_node("FullyConnected", "fc", [(0, 0), (1, 0), (2, 0)],
                    param={"no_bias": "False", "num_hidden": "4"}),
        legacy_node("null", "bn_gamma", []),
        legacy_node("null", "bn_beta", []),
        legacy_node("BatchNorm", "bn", [(3, 0), (4, 0), (5, 0)],
                    param={"eps": "0.001", "fix_gamma": "True", "momentum": "0.9",
                           "use_global_stats": "False"}),
        legacy_node("null", "softmax_label", []),
        legacy_node("SoftmaxOutput", "softmax", [(6, 0), (7, 0)],
                    param={"grad_scale": "1", "multi_output": "False"}),
    ]
    return {"nodes": nodes, "arg_nodes": [0, 1, 2, 4, 5, 7], "heads": [[8, 0]]}


def write_legacy():
    out_dir = os.path.join(DATA, "legacy")
    os.makedirs(out_dir, exist_ok=True)
    manifest = {}
    for name, graph in [("mlp_legacy", legacy_mlp()), ("batchnorm_legacy", legacy_batchnorm())]:
        src = os.path.join(out_dir, name + ".json")
        with open(src, "w") as f:
            json.dump(graph, f, indent=2)
            f.write("\n")
        loaded = mx.sym.load(src)
        loaded_json = loaded.tojson()
        with open(os.path.join(out_dir, name + ".loaded.json"), "w") as f:
            f.write(loaded_json)
        manifest[name] = {
            "file": name + ".json",
            "loaded_file": name + ".loaded.json",
            "arguments": loaded.list_arguments(),
            "outputs": loaded.list_outputs(),
            "aux": loaded.list_auxiliary_states(),
            "attr_dict": loaded.attr_dict(),
        }
    write_json(os.path.join(out_dir, "manifest.json"), manifest)
    print("wrote", out_dir)


# --------------------------------------------------------------------------------------
# Naming cases: each snippet runs in its own interpreter and must leave its symbol in `out`.
# --------------------------------------------------------------------------------------

NAMING_CASES = [
    ("tutorial_mlp", """\
net = mx.symbol.Variable('data')
net = mx.symbol.FullyConnected(data=net, name='fc1', num_hidden=128)
net = mx.symbol.Activation(data=net, name='relu1', act_type="relu")
net = mx.symbol.FullyConnected(data=net, name='fc2', num_hidden=64)
net = mx.symbol.SoftmaxOutput(data=net, name='out')
out = net
"""),
    ("explicit_weight", """\
net = mx.symbol.Variable('data')
w = mx.symbol.Variable('myweight')
net = mx.symbol.FullyConnected(data=net, weight=w, name='fc1', num_hidden=128)
out = net
"""),
    ("sum_into_fc", """\
lhs = mx.symbol.Variable('data1')
rhs = mx.symbol.Variable('data2')
net = mx.symbol.FullyConnected(data=lhs + rhs, name='fc1', num_hidden=128)
out = net
"""),
    ("compose", """\
net = mx.symbol.Variable('data')
net = mx.symbol.FullyConnected(data=net, name='fc1', num_hidden=128)
net2 = mx.symbol.Variable('data2')
net2 = mx.symbol.FullyConnected(data=net2, name='net2', num_hidden=128)
out = net(data=net2, name='compose')
"""),
    ("arith_mixed", """\
a = mx.sym.Variable('a')
b = mx.sym.Variable('b')
out = (a + b) * 2 + a
"""),
    ("minus_scalar", """\
a = mx.sym.Variable('a')
out = a - 1
"""),
    ("rminus_scalar", """\
a = mx.sym.Variable('a')
out = 1 - a
"""),
    ("div", """\
a = mx.sym.Variable('a')
b = mx.sym.Variable('b')
out = a / b
"""),
    ("rdiv_scalar", """\
a = mx.sym.Variable('a')
out = 2 / a
"""),
    ("elemwise_all", """\
a = mx.sym.Variable('a')
b = mx.sym.Variable('b')
out = ((a + b) - (a * b)) / (b + 3) - 0.5 * a
"""),
    ("internals", """\
data = mx.sym.Variable('data')
net = mx.sym.FullyConnected(data=data, name='fc1', num_hidden=4)
net = mx.sym.Activation(data=net, name='relu1', act_type='relu')
net = mx.sym.FullyConnected(data=net, name='fc2', num_hidden=2)
out = net.get_internals()
"""),
    ("internals_pick", """\
data = mx.sym.Variable('data')
net = mx.sym.FullyConnected(data=data, name='fc1', num_hidden=4)
net = mx.sym.Activation(data=net, name='relu1', act_type='relu')
net = mx.sym.FullyConnected(data=net, name='fc2', num_hidden=2)
out = net.get_internals()['relu1_output']
"""),
    ("group", """\
a = mx.sym.Variable('a')
fc = mx.sym.FullyConnected(data=a, name='fc', num_hidden=3)
act = mx.sym.Activation(data=fc, name='act', act_type='tanh')
out = mx.sym.Group([fc, act, a])
"""),
    ("group_index", """\
a = mx.sym.Variable('a')
fc = mx.sym.FullyConnected(data=a, name='fc', num_hidden=3)
act = mx.sym.Activation(data=fc, name='act', act_type='tanh')
g = mx.sym.Group([fc, act, a])
out = g[1]
"""),
    ("slice_channel_outputs", """\
x = mx.sym.Variable('x')
out = mx.sym.SliceChannel(x, num_outputs=3, axis=1, name='split')
"""),
    ("batchnorm_aux", """\
data = mx.sym.Variable('data')
out = mx.sym.BatchNorm(data=data, name='bn', fix_gamma=False)
"""),
    ("batchnorm_unnamed", """\
data = mx.sym.Variable('data')
out = mx.sym.BatchNorm(data=data)
"""),
    ("unnamed_counters", """\
data = mx.sym.Variable('data')
net = mx.sym.FullyConnected(data=data, num_hidden=4)
net = mx.sym.Activation(data=net, act_type='relu')
net = mx.sym.Convolution(data=mx.sym.Reshape(net, shape=(0, 1, 2, 2)), kernel=(1, 1), num_filter=2)
net = mx.sym.Activation(data=net, act_type='relu')
net = mx.sym.FullyConnected(data=net, num_hidden=2)
out = net
"""),
    ("variable_attrs", """\
w = mx.sym.Variable('w', shape=(3, 4), lr_mult=0.5, wd_mult=0.0, dtype='float32',
                    init=mx.init.Uniform(0.1))
data = mx.sym.Variable('data')
out = mx.sym.FullyConnected(data=data, weight=w, name='fc', num_hidden=3)
"""),
]

# Child program: runs one snippet in a fresh interpreter and prints the record as JSON.
_CHILD = """\
import json, sys
import mxnet as mx
code = sys.stdin.read()
env = {"mx": mx}
exec(code, env)
out = env["out"]
print(json.dumps({"arguments": out.list_arguments(), "outputs": out.list_outputs(),
                  "aux": out.list_auxiliary_states(), "json": out.tojson()}))
"""


def write_naming():
    out_dir = os.path.join(DATA, "naming")
    os.makedirs(out_dir, exist_ok=True)
    cases = {}
    for name, code in NAMING_CASES:
        res = subprocess.run([sys.executable, "-c", _CHILD], input=code, capture_output=True,
                             text=True, check=True)
        rec = json.loads(res.stdout.strip().splitlines()[-1])
        cases[name] = {"code": code, **rec}
    write_json(os.path.join(out_dir, "manifest.json"), cases)
    print("wrote", out_dir)


def main():
    os.makedirs(DATA, exist_ok=True)
    for name, builder in NETS:
        write_net(name, builder)
    write_legacy()
    write_naming()


if __name__ == "__main__":
    main()
