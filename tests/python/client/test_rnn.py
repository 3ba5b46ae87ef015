"""mx.rnn cells and the fused RNN operator against MXNet 1.9.1: the same weights and inputs
give the same outputs and gradients; FusedRNNCell equals its unfused stack; weights survive
unpack/pack; a small bucketing LSTM language model learns."""
import numpy as np
import pytest

T, N, C, H = 4, 3, 5, 6


def _bind_run(lib, sym, arrays, out_grads, grad_names):
    """Forward (training) and backward of ``sym`` with ``lib`` (mxgrid or mxnet):
    (outputs, {name: gradient}) as numpy."""
    args = {k: lib.nd.array(v) for k, v in arrays.items()}
    grads = {k: lib.nd.zeros(v.shape) for k, v in arrays.items() if k in grad_names}
    req = {k: ("write" if k in grad_names else "null") for k in arrays}
    ex = sym.bind(lib.cpu(), args=args, args_grad=grads, grad_req=req)
    outs = [o.asnumpy() for o in ex.forward(is_train=True)]
    ex.backward([lib.nd.array(g) for g in out_grads])
    return outs, {k: v.asnumpy() for k, v in grads.items()}


def _rnn_sym(lib, mode, layers, bidirectional, state_outputs):
    kwargs = dict(data=lib.sym.Variable("data"), parameters=lib.sym.Variable("params"),
                  state=lib.sym.Variable("h0"), state_size=H, num_layers=layers,
                  bidirectional=bidirectional, state_outputs=state_outputs, mode=mode,
                  name="rnn")
    if mode == "lstm":
        kwargs["state_cell"] = lib.sym.Variable("c0")
    return lib.sym.RNN(**kwargs)


@pytest.mark.parametrize("mode,layers,bidirectional,state_outputs", [
    ("lstm", 1, False, False),
    ("lstm", 2, True, True),
    ("gru", 2, True, True),
    ("gru", 1, False, True),
    ("rnn_tanh", 2, False, True),
    ("rnn_relu", 1, True, False),
])
def test_rnn_op_matches_mxnet(mxw, real_mx, mode, layers, bidirectional, state_outputs):
    rng = np.random.RandomState(7)
    ours = _rnn_sym(mxw, mode, layers, bidirectional, state_outputs)
    theirs = _rnn_sym(real_mx, mode, layers, bidirectional, state_outputs)
    shapes = {"data": (T, N, C), "h0": (layers * (1 + bidirectional), N, H)}
    if mode == "lstm":
        shapes["c0"] = shapes["h0"]
    arg_shapes, out_shapes, _ = theirs.infer_shape(**shapes)
    our_args, our_outs, _ = ours.infer_shape(**shapes)
    assert [tuple(s) for s in our_args] == [tuple(s) for s in arg_shapes]
    assert [tuple(s) for s in our_outs] == [tuple(s) for s in out_shapes]
    assert ours.list_arguments() == theirs.list_arguments()
    assert ours.list_outputs() == theirs.list_outputs()
    arrays = {n: rng.uniform(-0.5, 0.5, s).astype(np.float32)
              for n, s in zip(theirs.list_arguments(), arg_shapes)}
    out_grads = [rng.uniform(-1, 1, s).astype(np.float32) for s in out_shapes]
    names = set(arrays)
    got, got_grads = _bind_run(mxw, ours, arrays, out_grads, names)
    want, want_grads = _bind_run(real_mx, theirs, arrays, out_grads, names)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    for k in names:
        np.testing.assert_allclose(got_grads[k], want_grads[k], rtol=1e-3, atol=1e-4,
                                   err_msg=k)


def test_rnn_op_refuses_unsupported_options(mxw):
    data = mxw.nd.ones((2, 1, 3))
    params = mxw.nd.ones((2 * (3 * (3 + 3) + 2 * 3),))
    state = mxw.nd.zeros((1, 1, 3))
    with pytest.raises(mxw.MXNetError, match="projection_size"):
        mxw.nd.RNN(data, params, state, state, state_size=3, num_layers=1, mode="lstm",
                   projection_size=2)
    with pytest.raises(mxw.MXNetError, match="use_sequence_length"):
        mxw.nd.RNN(data, params, state, state_size=3, num_layers=1, mode="gru",
                   use_sequence_length=True)
    with pytest.raises(mxw.MXNetError, match="parameters"):
        mxw.nd.RNN(data, mxw.nd.ones((5,)), state, state_size=3, num_layers=1,
                   mode="gru").asnumpy()


def _stack(lib, kind, layers=2):
    stack = lib.rnn.SequentialRNNCell()
    for i in range(layers):
        prefix = "%s_l%d_" % (kind, i)
        if kind == "lstm":
            stack.add(lib.rnn.LSTMCell(num_hidden=H, prefix=prefix))
        elif kind == "gru":
            stack.add(lib.rnn.GRUCell(num_hidden=H, prefix=prefix))
        else:
            stack.add(lib.rnn.RNNCell(num_hidden=H, activation="relu", prefix=prefix))
    return stack


def _unrolled(lib, cell, layout="NTC", merge=True):
    begin = cell.begin_state(func=lib.sym.Variable)
    outputs, states = cell.unroll(T, inputs=lib.sym.Variable("data"), begin_state=begin,
                                  layout=layout, merge_outputs=merge)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    flat = []
    for s in states:  # BidirectionalCell's states are [l_states, r_states]
        flat.extend(s if isinstance(s, (list, tuple)) else [s])
    return lib.sym.Group(list(outputs) + flat), [b.name for b in begin]


def _random_args(real_mx, sym, shapes, seed):
    rng = np.random.RandomState(seed)
    arg_shapes, out_shapes, _ = sym.infer_shape(**shapes)
    arrays = {n: rng.uniform(-0.5, 0.5, s).astype(np.float32)
              for n, s in zip(sym.list_arguments(), arg_shapes)}
    out_grads = [rng.uniform(-1, 1, s).astype(np.float32) for s in out_shapes]
    return arrays, out_grads


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_cell_unroll_matches_mxnet(mxw, real_mx, kind):
    ours, state_names = _unrolled(mxw, _stack(mxw, kind))
    theirs, their_states = _unrolled(real_mx, _stack(real_mx, kind))
    assert state_names == their_states
    assert sorted(ours.list_arguments()) == sorted(theirs.list_arguments())
    shapes = {"data": (N, T, C)}
    shapes.update({s: (N, H) for s in state_names})
    arrays, out_grads = _random_args(real_mx, theirs, shapes, 3)
    names = set(arrays)
    got, got_grads = _bind_run(mxw, ours, arrays, out_grads, names)
    want, want_grads = _bind_run(real_mx, theirs, arrays, out_grads, names)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    for k in names:
        np.testing.assert_allclose(got_grads[k], want_grads[k], rtol=1e-3, atol=1e-4,
                                   err_msg=k)


def test_bidirectional_cell_matches_mxnet(mxw, real_mx):
    def build(lib):
        cell = lib.rnn.BidirectionalCell(lib.rnn.LSTMCell(H, prefix="l_"),
                                         lib.rnn.GRUCell(H, prefix="r_"))
        return _unrolled(lib, cell, layout="TNC", merge=False)
    ours, state_names = build(mxw)
    theirs, _ = build(real_mx)
    shapes = {"data": (T, N, C)}
    shapes.update({s: (N, H) for s in state_names})
    arrays, out_grads = _random_args(real_mx, theirs, shapes, 4)
    got, got_grads = _bind_run(mxw, ours, arrays, out_grads, set(arrays))
    want, want_grads = _bind_run(real_mx, theirs, arrays, out_grads, set(arrays))
    assert len(got) == len(want) == T + 3  # per-step outputs, lstm h, c, gru h
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    for k in arrays:
        np.testing.assert_allclose(got_grads[k], want_grads[k], rtol=1e-3, atol=1e-4,
                                   err_msg=k)


@pytest.mark.parametrize("mode,bidirectional", [("lstm", True), ("gru", False),
                                                ("rnn_tanh", True)])
def test_fused_cell_matches_mxnet_and_its_unfused_stack(mxw, real_mx, mode, bidirectional):
    def fused(lib):
        return lib.rnn.FusedRNNCell(H, num_layers=2, mode=mode, bidirectional=bidirectional,
                                    get_next_state=True, prefix="f_")
    ours, state_names = _unrolled(mxw, fused(mxw), layout="TNC")
    theirs, _ = _unrolled(real_mx, fused(real_mx), layout="TNC")
    shapes = {"data": (T, N, C)}
    shapes.update({s: (2 * (1 + bidirectional), N, H) for s in state_names})
    arrays, out_grads = _random_args(real_mx, theirs, shapes, 5)
    got, got_grads = _bind_run(mxw, ours, arrays, out_grads, {"f_parameters", "data"})
    want, want_grads = _bind_run(real_mx, theirs, arrays, out_grads, {"f_parameters", "data"})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
    for k in got_grads:
        np.testing.assert_allclose(got_grads[k], want_grads[k], rtol=1e-3, atol=1e-4)

    # The unfused stack with the unpacked weights gives the same sequence output.
    cell = fused(mxw)
    stack = cell.unfuse()
    begin = stack.begin_state(func=mxw.sym.Variable)
    out, _ = stack.unroll(T, inputs=mxw.sym.Variable("data"), begin_state=begin,
                          layout="TNC", merge_outputs=True)
    weights = cell.unpack_weights({"f_parameters": arrays["f_parameters"]})
    unfused_args = {"data": arrays["data"]}
    unfused_args.update(stack.pack_weights(weights))
    # Fused states are (layers*dirs, N, H) rows; unfused cells take one (N, H) each, in
    # state_info order: layer, then direction, then (h, c).
    per_state = 2 if mode == "lstm" else 1
    fused_states = [arrays[s] for s in state_names]
    names = [b.name for b in begin]
    k = 0
    for row in range(2 * (1 + bidirectional)):
        for s in range(per_state):
            unfused_args[names[k]] = fused_states[s][row]
            k += 1
    assert k == len(names)
    ex = out.bind(mxw.cpu(), {n: mxw.nd.array(v) for n, v in unfused_args.items()})
    np.testing.assert_allclose(ex.forward()[0].asnumpy(), got[0], rtol=1e-4, atol=1e-5)

    packed = cell.pack_weights(weights)
    np.testing.assert_array_equal(packed["f_parameters"], arrays["f_parameters"])


def test_lstm_unpack_pack_roundtrip_matches_mxnet(mxw, real_mx):
    rng = np.random.RandomState(0)
    args = {"lstm_i2h_weight": rng.rand(4 * H, C), "lstm_h2h_weight": rng.rand(4 * H, H),
            "lstm_i2h_bias": rng.rand(4 * H), "lstm_h2h_bias": rng.rand(4 * H)}
    ours = mxw.rnn.LSTMCell(H).unpack_weights(args)
    theirs = real_mx.rnn.LSTMCell(H).unpack_weights(
        {k: real_mx.nd.array(v) for k, v in args.items()})
    assert sorted(ours) == sorted(theirs)
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k].asnumpy(), rtol=1e-6)
    packed = mxw.rnn.LSTMCell(H).pack_weights(ours)
    for k in args:
        np.testing.assert_array_equal(packed[k], args[k])


def test_encode_sentences_and_bucket_iter(mxw):
    sentences = [["a", "b", "c"], ["b", "c"], ["c", "a", "a", "b"], ["a"]] * 4
    coded, vocab = mxw.rnn.encode_sentences(sentences, invalid_label=-1, start_label=1)
    assert vocab == {"\n": -1, "a": 1, "b": 2, "c": 3}
    assert coded[0] == [1, 2, 3] and coded[2] == [3, 1, 1, 2]
    it = mxw.rnn.BucketSentenceIter(coded, batch_size=4, buckets=[2, 4], invalid_label=-1)
    assert it.default_bucket_key == 4
    keys = []
    for batch in it:
        data = batch.data[0].asnumpy()
        label = batch.label[0].asnumpy()
        assert data.shape == (4, batch.bucket_key)
        np.testing.assert_array_equal(label[:, :-1], data[:, 1:])
        assert (label[:, -1] == -1).all()
        keys.append(batch.bucket_key)
    assert sorted(keys) == [2, 2, 4, 4]


@pytest.mark.parametrize("fused", [False, True])
def test_bucketing_lstm_language_model_learns(mxw, fused):
    """Sentences count upward modulo V; an LSTM trained with BucketingModule on two
    buckets learns to predict the next word (perplexity far below V's)."""
    vocab, hidden, batch = 8, 16, 8
    rng = np.random.RandomState(1)
    sentences = []
    for _ in range(96):
        length, start = rng.choice([3, 6]), rng.randint(vocab)
        sentences.append([str((start + i) % vocab) for i in range(length)])
    coded, words = mxw.rnn.encode_sentences(sentences, start_label=0, invalid_label=-1)
    it = mxw.rnn.BucketSentenceIter(coded, batch, buckets=[3, 6], invalid_label=-1)
    if fused:
        cell = mxw.rnn.FusedRNNCell(hidden, num_layers=1, mode="lstm", prefix="lm_")
        state_names = ["lm_begin_state_0", "lm_begin_state_1"]
    else:
        cell = mxw.rnn.SequentialRNNCell()
        cell.add(mxw.rnn.LSTMCell(hidden, prefix="lm_l0_"))
        state_names = ["lm_l0_begin_state_0", "lm_l0_begin_state_1"]

    def sym_gen(seq_len):
        data = mxw.sym.Variable("data")
        label = mxw.sym.Variable("softmax_label")
        embed = mxw.sym.Embedding(data=data, input_dim=len(words), output_dim=8, name="embed")
        cell.reset()
        begin = cell.begin_state(func=mxw.sym.Variable)
        assert [b.name for b in begin] == state_names
        outputs, _ = cell.unroll(seq_len, inputs=embed, begin_state=begin, merge_outputs=True)
        pred = mxw.sym.Reshape(outputs, shape=(-1, hidden))
        pred = mxw.sym.FullyConnected(data=pred, num_hidden=len(words), name="pred")
        label = mxw.sym.Reshape(label, shape=(-1,))
        pred = mxw.sym.SoftmaxOutput(data=pred, label=label, name="softmax",
                                     use_ignore=True, ignore_label=-1)
        return pred, ("data",), ("softmax_label",)

    mod = mxw.mod.BucketingModule(sym_gen, default_bucket_key=it.default_bucket_key,
                                  state_names=state_names)
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params(initializer=mxw.init.Xavier(factor_type="in", magnitude=2.34))
    mod.set_states(value=0)
    mod.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.02})
    metric = mxw.metric.Perplexity(-1)
    for _ in range(12):
        it.reset()
        metric.reset()
        for batch in it:
            mod.forward(batch, is_train=True)
            mod.update_metric(metric, batch.label)
            mod.backward()
            mod.update()
    # Only the first word of a sentence is unpredictable.
    assert metric.get()[1] < 2.5


def _forward(lib, sym, arrays, is_train=False):
    ex = sym.bind(lib.cpu(), args={k: lib.nd.array(v) for k, v in arrays.items()})
    return [o.asnumpy() for o in ex.forward(is_train=is_train)]


def test_modifier_cells_match_mxnet_in_inference(mxw, real_mx):
    """ResidualCell adds the input; ZoneoutCell and DropoutCell are the identity outside
    training."""
    def build(lib):
        stack = lib.rnn.SequentialRNNCell()
        stack.add(lib.rnn.ResidualCell(lib.rnn.GRUCell(C, prefix="res_")))
        stack.add(lib.rnn.DropoutCell(0.5, prefix="drop_"))
        stack.add(lib.rnn.ZoneoutCell(lib.rnn.LSTMCell(H, prefix="zo_"), zoneout_outputs=0.3,
                                      zoneout_states=0.2))
        # (MXNet's modifier cells refuse begin_state(func=...): the states are made here.)
        begin = [lib.sym.Variable(n) for n in state_names]
        outputs, states = stack.unroll(T, inputs=lib.sym.Variable("data"), begin_state=begin,
                                       merge_outputs=False)
        return lib.sym.Group(list(outputs) + list(states))
    state_names = ["res_begin_state_0", "zo_begin_state_0", "zo_begin_state_1"]
    ours = build(mxw)
    theirs = build(real_mx)
    shapes = {"data": (N, T, C), "res_begin_state_0": (N, C), "zo_begin_state_0": (N, H),
              "zo_begin_state_1": (N, H)}
    arrays, _ = _random_args(real_mx, theirs, shapes, 6)
    got = _forward(mxw, ours, arrays)
    want = _forward(real_mx, theirs, arrays)
    assert len(got) == len(want) == T + 3
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_zoneout_keeps_previous_values_in_training(mxw):
    """With zoneout probability 1 every step keeps the previous output (zero at the
    start) and the begin states."""
    cell = mxw.rnn.ZoneoutCell(mxw.rnn.RNNCell(H, prefix="z_"), zoneout_outputs=1.0,
                               zoneout_states=1.0)
    sym, names = _unrolled(mxw, cell, merge=False)
    arrays = {"data": np.ones((N, T, C), np.float32),
              names[0]: np.full((N, H), 0.5, np.float32),
              "z_i2h_weight": np.ones((H, C), np.float32),
              "z_i2h_bias": np.zeros(H, np.float32),
              "z_h2h_weight": np.ones((H, H), np.float32),
              "z_h2h_bias": np.zeros(H, np.float32)}
    outs = _forward(mxw, sym, arrays, is_train=True)
    for step in outs[:T]:
        np.testing.assert_array_equal(step, np.zeros((N, H)))
    np.testing.assert_array_equal(outs[T], arrays[names[0]])


def test_rnn_checkpoint_saves_unpacked_and_loads_packed(mxw, real_mx, tmp_path):
    cell = mxw.rnn.FusedRNNCell(H, num_layers=1, mode="gru", prefix="ck_")
    out, _ = cell.unroll(T, inputs=mxw.sym.Variable("data"),
                         begin_state=cell.begin_state(func=mxw.sym.Variable), layout="TNC")
    flat = np.arange(3 * H * (C + H) + 6 * H, dtype=np.float32)
    prefix = str(tmp_path / "ck")
    mxw.rnn.save_rnn_checkpoint(cell, prefix, 3, out, {"ck_parameters": mxw.nd.array(flat)},
                                {})
    # The file holds per-gate arrays, readable by MXNet itself.
    saved = real_mx.nd.load(prefix + "-0003.params")
    assert "arg:ck_l0_i2h_r_weight" in saved and "arg:ck_parameters" not in saved
    np.testing.assert_array_equal(saved["arg:ck_l0_i2h_r_weight"].asnumpy().ravel(),
                                  flat[:H * C])
    _, args, _ = mxw.rnn.load_rnn_checkpoint(cell, prefix, 3)
    np.testing.assert_array_equal(args["ck_parameters"].asnumpy(), flat)
    callback = mxw.rnn.do_rnn_checkpoint(cell, prefix, period=2)
    callback(1, out, {"ck_parameters": mxw.nd.array(flat)}, {})
    assert (tmp_path / "ck-0002.params").exists()


def test_fused_dropout_between_layers(mxw, real_mx):
    """dropout=1 drops the whole lower layer in training (the data gets no gradient);
    outside training the fused op matches MXNet's."""
    def build(lib):
        cell = lib.rnn.FusedRNNCell(H, num_layers=2, mode="rnn_tanh", dropout=1.0,
                                    prefix="d_")
        out, _ = cell.unroll(T, inputs=lib.sym.Variable("data"),
                             begin_state=[lib.sym.Variable("d_h0")], layout="TNC",
                             merge_outputs=True)
        return out
    ours, theirs = build(mxw), build(real_mx)
    shapes = {"data": (T, N, C), "d_h0": (2, N, H)}
    arrays, out_grads = _random_args(real_mx, theirs, shapes, 8)
    np.testing.assert_allclose(_forward(mxw, ours, arrays), _forward(real_mx, theirs, arrays),
                               rtol=1e-4, atol=1e-5)
    got, grads = _bind_run(mxw, ours, arrays, out_grads, {"data", "d_parameters"})
    assert not np.allclose(got[0], _forward(mxw, ours, arrays)[0])
    np.testing.assert_array_equal(grads["data"], 0)
    assert np.abs(grads["d_parameters"]).max() > 0


def test_initializers_set_the_lstm_forget_bias(mxw):
    """LSTMCell's i2h bias starts at forget_bias on the f gate (LSTMBias); FusedRNNCell's
    flat vector gets it on every f bias (FusedRNN) and the global initializer elsewhere."""
    for cell, state_shape in [(mxw.rnn.LSTMCell(H, prefix="u_", forget_bias=2.5), (N, H)),
                              (mxw.rnn.FusedRNNCell(H, num_layers=2, mode="lstm",
                                                    bidirectional=True, forget_bias=2.5,
                                                    prefix="f_"), (4, N, H))]:
        begin = cell.begin_state(func=mxw.sym.Variable)
        out, _ = cell.unroll(T, inputs=mxw.sym.Variable("data"), begin_state=begin,
                             layout="TNC", merge_outputs=True)
        mod = mxw.mod.Module(out, data_names=["data"], label_names=None,
                             state_names=[b.name for b in begin])
        mod.bind(data_shapes=[("data", (T, N, C))], for_training=False)
        mod.init_params(initializer=mxw.init.Uniform(0.1))
        args = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
        gates = cell.unpack_weights(args)
        f_biases = [k for k in gates if k.endswith("_f_bias")]
        assert f_biases
        for k in f_biases:
            if isinstance(cell, mxw.rnn.LSTMCell) and "h2h" in k:
                np.testing.assert_array_equal(gates[k], 0)
            else:
                np.testing.assert_array_equal(gates[k], 2.5)
        weights = [v for k, v in gates.items() if k.endswith("_weight")]
        assert all(0 < np.abs(w).max() <= 0.1 for w in weights)
