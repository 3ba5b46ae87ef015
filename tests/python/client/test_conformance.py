"""Same calls, same values: operators and executors through mxgrid vs real MXNet 1.9.1."""
import numpy as np
import pytest

RNG = np.random.RandomState(42)
X = RNG.uniform(-1, 1, (4, 5)).astype(np.float32)
Y = RNG.uniform(0.5, 1.5, (4, 5)).astype(np.float32)
W = RNG.uniform(-1, 1, (3, 5)).astype(np.float32)
B = RNG.uniform(-1, 1, (3,)).astype(np.float32)
ROW = RNG.uniform(-1, 1, (1, 5)).astype(np.float32)
IMG = RNG.uniform(-1, 1, (2, 3, 6, 6)).astype(np.float32)
KER = RNG.uniform(-1, 1, (4, 3, 3, 3)).astype(np.float32)

# (name, function of the module m (mx.nd of either library) and its inputs)
CASES = [
    ("FullyConnected", lambda nd, a: nd.FullyConnected(a(X), a(W), a(B), num_hidden=3)),
    ("FullyConnected_no_bias",
     lambda nd, a: nd.FullyConnected(a(X), a(W), num_hidden=3, no_bias=True)),
    ("Activation_relu", lambda nd, a: nd.Activation(a(X), act_type="relu")),
    ("Activation_tanh", lambda nd, a: nd.Activation(a(X), act_type="tanh")),
    ("Activation_sigmoid", lambda nd, a: nd.Activation(data=a(X), act_type="sigmoid")),
    ("softmax", lambda nd, a: nd.softmax(a(X))),
    ("softmax_axis0", lambda nd, a: nd.softmax(a(X), axis=0)),
    ("log_softmax", lambda nd, a: nd.log_softmax(a(X))),
    ("dot", lambda nd, a: nd.dot(a(X), a(W.T.copy()))),
    ("dot_transpose_b", lambda nd, a: nd.dot(a(X), a(W), transpose_b=True)),
    ("broadcast_add", lambda nd, a: nd.broadcast_add(a(X), a(ROW))),
    ("broadcast_mul", lambda nd, a: nd.broadcast_mul(a(X), a(ROW))),
    ("broadcast_sub", lambda nd, a: nd.broadcast_sub(a(X), a(ROW))),
    ("broadcast_div", lambda nd, a: nd.broadcast_div(a(X), a(Y))),
    ("broadcast_maximum", lambda nd, a: nd.broadcast_maximum(a(X), a(ROW))),
    ("Concat", lambda nd, a: nd.Concat(a(X), a(Y), dim=0)),
    ("concat_dim1", lambda nd, a: nd.concat(a(X), a(Y), dim=1)),
    ("slice_axis", lambda nd, a: nd.slice_axis(a(X), axis=1, begin=1, end=4)),
    ("transpose", lambda nd, a: nd.transpose(a(X))),
    ("transpose_axes", lambda nd, a: nd.transpose(a(IMG), axes=(0, 2, 3, 1))),
    ("sum_axis", lambda nd, a: nd.sum(a(X), axis=1)),
    ("sum_keepdims", lambda nd, a: nd.sum(a(X), axis=0, keepdims=True)),
    ("sum_all", lambda nd, a: nd.sum(a(X))),
    ("mean_axis", lambda nd, a: nd.mean(a(X), axis=1)),
    ("max_axis", lambda nd, a: nd.max(a(X), axis=0)),
    ("argmax", lambda nd, a: nd.argmax(a(X), axis=1)),
    ("exp", lambda nd, a: nd.exp(a(X))),
    ("log", lambda nd, a: nd.log(a(Y))),
    ("sqrt", lambda nd, a: nd.sqrt(a(Y))),
    ("square", lambda nd, a: nd.square(a(X))),
    ("abs", lambda nd, a: nd.abs(a(X))),
    ("clip", lambda nd, a: nd.clip(a(X), a_min=-0.5, a_max=0.5)),
    ("Reshape", lambda nd, a: nd.Reshape(a(X), shape=(5, 4))),
    ("Flatten", lambda nd, a: nd.Flatten(a(IMG))),
    ("Convolution", lambda nd, a: nd.Convolution(a(IMG), a(KER), kernel=(3, 3), num_filter=4,
                                                 no_bias=True)),
    ("Pooling_max", lambda nd, a: nd.Pooling(a(IMG), kernel=(2, 2), stride=(2, 2),
                                             pool_type="max")),
    ("Pooling_avg_global", lambda nd, a: nd.Pooling(a(IMG), kernel=(1, 1), global_pool=True,
                                                    pool_type="avg")),
    ("add_n", lambda nd, a: nd.add_n(a(X), a(Y), a(X))),
    ("elemwise_add", lambda nd, a: nd.elemwise_add(a(X), a(Y))),
    ("where", lambda nd, a: nd.where(a((X > 0).astype(np.float32)), a(X), a(Y))),
    ("one_hot", lambda nd, a: nd.one_hot(a(np.array([0, 2, 1], np.float32)), depth=3)),
    ("scalar_arith", lambda nd, a: (a(X) * 2 + 1) / 4 - 0.5),
    ("rscalar_arith", lambda nd, a: 1 / a(Y) + (3 - a(X))),
]

# Unary math (unary_math.cc): X in (-1, 1), Y in (0.5, 1.5), 3 * X spans the rounding cases.
CASES += [(f, (lambda f: lambda nd, a: getattr(nd, f)(a(X)))(f))
          for f in ["sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
                    "arcsinh", "arctanh", "degrees", "radians", "erf", "erfinv", "expm1",
                    "logical_not"]]
CASES += [(f + "_pos", (lambda f: lambda nd, a: getattr(nd, f)(a(Y)))(f))
          for f in ["rsqrt", "cbrt", "rcbrt", "gamma", "gammaln", "log1p", "log2", "log10"]]
CASES += [(f + "_x3", (lambda f: lambda nd, a: getattr(nd, f)(a(X * 3)))(f))
          for f in ["floor", "ceil", "round", "rint", "fix", "trunc"]]
HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.0], np.float32)
CASES += [
    ("arccosh", lambda nd, a: nd.arccosh(a(Y + 1))),
    ("round_halves", lambda nd, a: nd.round(a(HALVES))),
    ("rint_halves", lambda nd, a: nd.rint(a(HALVES))),
    ("fix_halves", lambda nd, a: nd.fix(a(HALVES))),
    ("logical_not_zeros", lambda nd, a: nd.logical_not(a(HALVES))),
    ("sin_float64", lambda nd, a: nd.sin(a(X.astype(np.float64)))),
    ("gamma_float16", lambda nd, a: nd.gamma(a(Y.astype(np.float16)))),
    ("degrees_int32", lambda nd, a: nd.degrees(a(np.array([1, 2, -3], np.int32)))),
]

# Shape and index ops (shape_ops.cc, take_pick.cc, argmin in reduce.cc).
IDX = np.array([[0, 3], [5, -1]], np.float32)
CASES += [
    ("tile", lambda nd, a: nd.tile(a(X), reps=(2, 1))),
    ("tile_longer_reps", lambda nd, a: nd.tile(a(B), reps=(2, 2))),
    ("repeat_axis", lambda nd, a: nd.repeat(a(X), repeats=2, axis=1)),
    ("repeat_flat", lambda nd, a: nd.repeat(a(W), repeats=3)),
    ("reverse", lambda nd, a: nd.reverse(a(IMG), axis=(0, 2))),
    ("flip", lambda nd, a: nd.flip(a(X), axis=1)),
    ("SwapAxis", lambda nd, a: nd.SwapAxis(a(IMG), dim1=1, dim2=3)),
    ("swapaxes", lambda nd, a: nd.swapaxes(a(X), dim1=0, dim2=1)),
    ("broadcast_axis", lambda nd, a: nd.broadcast_axis(a(ROW), axis=0, size=3)),
    ("broadcast_axes", lambda nd, a: nd.broadcast_axes(a(X.reshape(4, 1, 5)), axis=(1,),
                                                       size=(2,))),
    ("stack", lambda nd, a: nd.stack(a(X), a(Y), a(X), axis=1)),
    ("stack_default", lambda nd, a: nd.stack(a(W), a(W))),
    ("take_clip", lambda nd, a: nd.take(a(X), a(IDX))),
    ("take_wrap_axis1", lambda nd, a: nd.take(a(X), a(IDX), axis=1, mode="wrap")),
    ("pick", lambda nd, a: nd.pick(a(X), a(np.array([0, 4, 9, -2], np.float32)), axis=1)),
    ("pick_keepdims_wrap", lambda nd, a: nd.pick(a(X), a(np.array([1, -1, 7, 2, 0],
                                                                   np.float32)),
                                                 axis=0, keepdims=True, mode="wrap")),
    ("batch_take", lambda nd, a: nd.batch_take(a(X), a(np.array([0, 4, 9, -2], np.int32)))),
    ("prod", lambda nd, a: nd.prod(a(Y), axis=1)),
    ("prod_all_keepdims", lambda nd, a: nd.prod(a(Y), keepdims=True)),
    ("nansum", lambda nd, a: nd.nansum(a(np.where(X > 0.5, np.nan, X).astype(np.float32)),
                                       axis=0)),
    ("nanprod", lambda nd, a: nd.nanprod(a(np.where(X > 0.5, np.nan, Y).astype(np.float32)),
                                         axis=1, keepdims=True)),
    ("gather_nd", lambda nd, a: nd.gather_nd(a(X), a(np.array([[0, 3, -1], [4, 1, -5]],
                                                               np.float32)))),
    ("gather_nd_rows", lambda nd, a: nd.gather_nd(a(IMG), a(np.array([[1, 0]], np.int32)))),
    ("scatter_nd", lambda nd, a: nd.scatter_nd(a(B), a(np.array([[0, 2, 1], [3, 0, 1]],
                                                                np.float32)), shape=(3, 4))),
    ("diag", lambda nd, a: nd.diag(a(X))),
    ("diag_k", lambda nd, a: nd.diag(a(X), k=2)),
    ("diag_build", lambda nd, a: nd.diag(a(B), k=-1)),
    ("diag_axes", lambda nd, a: nd.diag(a(IMG), k=1, axis1=3, axis2=1)),
    ("norm", lambda nd, a: nd.norm(a(X))),
    ("norm_l1_axis", lambda nd, a: nd.norm(a(X), ord=1, axis=1)),
    ("norm_axes_keepdims", lambda nd, a: nd.norm(a(IMG), axis=(2, 3), keepdims=True)),
    ("slice_like", lambda nd, a: nd.slice_like(a(X), a(W))),
    ("slice_like_axes", lambda nd, a: nd.slice_like(a(KER), a(IMG), axes=(0, -3))),
    ("argmin", lambda nd, a: nd.argmin(a(X), axis=1)),
    ("argmin_keepdims", lambda nd, a: nd.argmin(a(IMG), axis=-1, keepdims=True)),
]

# Ordering ops (sort.cc).
CASES += [
    ("topk_default", lambda nd, a: nd.topk(a(X))),
    ("topk_value_k3", lambda nd, a: nd.topk(a(X), k=3, ret_typ="value")),
    ("topk_mask_axis0", lambda nd, a: nd.topk(a(X), axis=0, k=2, ret_typ="mask")),
    ("topk_indices_int32_asc", lambda nd, a: nd.topk(a(IMG), axis=1, k=2, is_ascend=True,
                                                     dtype="int32")),
    ("topk_flat_all", lambda nd, a: nd.topk(a(X), axis=None, k=0, ret_typ="value")),
    ("topk_both_values", lambda nd, a: nd.topk(a(X), k=2, ret_typ="both")[0]),
    ("topk_both_indices", lambda nd, a: nd.topk(a(X), k=2, ret_typ="both")[1]),
    ("sort", lambda nd, a: nd.sort(a(X))),
    ("sort_desc_axis0", lambda nd, a: nd.sort(a(X), axis=0, is_ascend=False)),
    ("sort_flat", lambda nd, a: nd.sort(a(IMG), axis=None)),
    ("argsort", lambda nd, a: nd.argsort(a(X))),
    ("argsort_int64_desc", lambda nd, a: nd.argsort(a(IMG), axis=2, is_ascend=False,
                                                    dtype="int64")),
]

# nn: LayerNorm, MakeLoss, smooth_l1.
GAMMA = RNG.uniform(0.5, 1.5, (5,)).astype(np.float32)
BETA = RNG.uniform(-1, 1, (5,)).astype(np.float32)
CASES += [
    ("LayerNorm", lambda nd, a: nd.LayerNorm(a(X), a(GAMMA), a(BETA))),
    ("LayerNorm_axis1_eps", lambda nd, a: nd.LayerNorm(a(X.reshape(2, 5, 2)), a(GAMMA), a(BETA),
                                                       axis=1, eps=1e-3)),
    ("LayerNorm_mean", lambda nd, a: nd.LayerNorm(a(X), a(GAMMA), a(BETA),
                                                  output_mean_var=True)[1]),
    ("LayerNorm_std", lambda nd, a: nd.LayerNorm(a(X), a(GAMMA), a(BETA),
                                                 output_mean_var=True)[2]),
    ("InstanceNorm", lambda nd, a: nd.InstanceNorm(a(IMG), a(GAMMA[:3]), a(BETA[:3]))),
    ("InstanceNorm_eps", lambda nd, a: nd.InstanceNorm(a(X.reshape(2, 2, 5)), a(GAMMA[:2]),
                                                       a(BETA[:2]), eps=1e-5)),
    ("L2Normalization", lambda nd, a: nd.L2Normalization(a(X))),
    ("L2Normalization_channel", lambda nd, a: nd.L2Normalization(a(IMG), mode="channel")),
    ("L2Normalization_spatial", lambda nd, a: nd.L2Normalization(a(IMG), mode="spatial",
                                                                 eps=1e-6)),
    ("LRN", lambda nd, a: nd.LRN(a(IMG), nsize=3)),
    ("LRN_params", lambda nd, a: nd.LRN(a(IMG), nsize=5, alpha=0.5, beta=0.5, knorm=1.0)),
    ("MakeLoss", lambda nd, a: nd.MakeLoss(a(X), grad_scale=2.0)),
    ("make_loss", lambda nd, a: nd.make_loss(a(Y))),
    ("smooth_l1", lambda nd, a: nd.smooth_l1(a(X * 3))),
    ("smooth_l1_sigma", lambda nd, a: nd.smooth_l1(a(X * 3), scalar=2.0)),
]

# Sequence ops: X as (time 4, batch 5), IMG as (batch 2, time 3, 6, 6) for axis=1.
SEQ_LEN = np.array([1, 4, 2, 3, 4], np.float32)
CASES += [
    ("SequenceMask", lambda nd, a: nd.SequenceMask(a(X))),
    ("SequenceMask_len", lambda nd, a: nd.SequenceMask(a(X), a(SEQ_LEN),
                                                       use_sequence_length=True, value=-2.0)),
    ("SequenceMask_axis1", lambda nd, a: nd.SequenceMask(
        a(IMG), a(np.array([2, 1], np.float32)), use_sequence_length=True, axis=1)),
    ("SequenceLast", lambda nd, a: nd.SequenceLast(a(X))),
    ("SequenceLast_len", lambda nd, a: nd.SequenceLast(a(X), a(SEQ_LEN),
                                                       use_sequence_length=True)),
    ("SequenceLast_axis1", lambda nd, a: nd.SequenceLast(
        a(IMG), a(np.array([3, 1], np.float32)), use_sequence_length=True, axis=1)),
    ("Pad_constant", lambda nd, a: nd.Pad(a(IMG), mode="constant", constant_value=0.5,
                                          pad_width=(0, 0, 0, 0, 1, 2, 2, 1))),
    ("Pad_edge", lambda nd, a: nd.Pad(a(IMG), mode="edge", pad_width=(0, 0, 0, 0, 2, 0, 1, 3))),
    ("pad_reflect", lambda nd, a: nd.pad(a(IMG), mode="reflect",
                                         pad_width=(0, 0, 0, 0, 3, 1, 2, 5))),
    ("UpSampling", lambda nd, a: nd.UpSampling(a(IMG), scale=2, sample_type="nearest")),
    ("UpSampling_concat", lambda nd, a: nd.UpSampling(a(IMG), a(IMG[:, :1, ::2, ::2].copy()),
                                                      scale=2, sample_type="nearest",
                                                      num_args=2)),
    ("UpSampling_sum", lambda nd, a: nd.UpSampling(a(IMG), a(IMG), scale=3,
                                                   sample_type="nearest",
                                                   multi_input_mode="sum", num_args=2)),
    ("SequenceReverse", lambda nd, a: nd.SequenceReverse(a(IMG))),
    ("SequenceReverse_len", lambda nd, a: nd.SequenceReverse(a(X), a(SEQ_LEN),
                                                             use_sequence_length=True)),
]


@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
def test_operator_matches_mxnet(mxw, real_mx, name, fn):
    ours = fn(mxw.nd, lambda v: mxw.nd.array(v, dtype=v.dtype))
    ref = fn(real_mx.nd, lambda v: real_mx.nd.array(v, dtype=v.dtype))
    assert ours.shape == ref.shape, name
    assert ours.dtype == ref.dtype, name
    np.testing.assert_allclose(ours.asnumpy(), ref.asnumpy(), rtol=1e-5, atol=1e-6,
                               err_msg=name)


def test_out_argument_writes_in_place(mxw):
    mx = mxw
    a = mx.nd.array(X)
    out = mx.nd.zeros((4, 5))
    r = mx.nd.exp(a, out=out)
    assert r is out
    np.testing.assert_allclose(out.asnumpy(), np.exp(X), rtol=1e-6)


def _mlp(m):
    data = m.sym.Variable("data")
    net = m.sym.FullyConnected(data, num_hidden=6, name="fc1")
    net = m.sym.Activation(net, act_type="relu", name="relu1")
    net = m.sym.FullyConnected(net, num_hidden=3, name="fc2")
    return m.sym.SoftmaxOutput(net, name="softmax")


def _mlp_values():
    rng = np.random.RandomState(7)
    return {"data": rng.uniform(-1, 1, (4, 5)).astype(np.float32),
            "fc1_weight": rng.uniform(-0.5, 0.5, (6, 5)).astype(np.float32),
            "fc1_bias": rng.uniform(-0.1, 0.1, (6,)).astype(np.float32),
            "fc2_weight": rng.uniform(-0.5, 0.5, (3, 6)).astype(np.float32),
            "fc2_bias": rng.uniform(-0.1, 0.1, (3,)).astype(np.float32),
            "softmax_label": np.array([0, 2, 1, 2], np.float32)}


def _run_mlp(m):
    net = _mlp(m)
    vals = _mlp_values()
    args = {k: m.nd.array(v) for k, v in vals.items()}
    grads = {k: m.nd.zeros(v.shape) for k, v in vals.items() if k not in ("data",
                                                                          "softmax_label")}
    exe = net.bind(m.cpu(), args=args, args_grad=grads)
    exe.forward(is_train=True)
    exe.backward()
    return ({k: v.asnumpy() for k, v in exe.output_dict.items()},
            {k: v.asnumpy() for k, v in exe.grad_dict.items() if v is not None})


def test_mlp_bind_forward_backward_matches_mxnet(mxw, real_mx):
    outs, grads = _run_mlp(mxw)
    ref_outs, ref_grads = _run_mlp(real_mx)
    assert sorted(outs) == sorted(ref_outs) and sorted(grads) == sorted(ref_grads)
    for k in ref_outs:
        np.testing.assert_allclose(outs[k], ref_outs[k], rtol=1e-5, atol=1e-6)
    for k in ref_grads:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_simple_bind_forward_with_kwargs_matches_mxnet(mxw, real_mx):
    vals = _mlp_values()

    def run(m):
        exe = _mlp(m).simple_bind(m.cpu(), data=(4, 5))
        for k, v in vals.items():
            if k != "data":
                exe.arg_dict[k][:] = v
        exe.forward(is_train=True, data=m.nd.array(vals["data"]))
        exe.backward()
        return exe.outputs[0].asnumpy(), exe.grad_dict["fc1_weight"].asnumpy()
    ours, ref = run(mxw), run(real_mx)
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-4, atol=1e-6)
