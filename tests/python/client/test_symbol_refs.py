"""Symbols composed by handle (mxgrid.v1.Symbol's ref): the compiler keeps the graphs it
builds and the client holds handles and recipes, so no JSON travels while a graph grows; a
handle the compiler dropped (its bounded cache, a restart, another compiler) is rebuilt from
the recipe transparently. Checked against the JSON the same code builds on the shared
cluster, and against real MXNet 1.9.1's lists."""
import contextlib

import numpy as np
import pytest

import mxgrid as mx
from mxgrid import connection
from mxgrid import cluster as mxcluster


def _have(service):
    try:
        mxcluster.find_binary(service)
        return True
    except mx.MXNetError:
        return False


@contextlib.contextmanager
def _compiler(tmp_path_factory, name, cache_entries):
    """A connection to a compiler of its own holding at most ``cache_entries`` symbols, the
    default connection while the block runs."""
    if not _have("compiler"):
        pytest.skip("mxgrid-compiler not built (bazel build //services/...)")
    c = mxcluster.LocalCluster(
        num_workers=0, num_kvstore=0, log_dir=str(tmp_path_factory.mktemp(name)),
        extra_flags={"compiler": ["--symbol_cache_entries=%d" % cache_entries]})
    c.start()
    conn = connection.Connection(None, c.compiler)
    with connection._lock:
        old, connection._current = connection._current, conn
    try:
        yield conn
    finally:
        with connection._lock:
            connection._current = old
        conn.close()
        c.stop()


def _lstm(num_layers, seq_len, names):
    """mx.rnn's stacked LSTM unrolled, as MXNet's test_executor_group builds it."""
    with names:
        stack = mx.rnn.SequentialRNNCell()
        for i in range(num_layers):
            stack.add(mx.rnn.LSTMCell(num_hidden=8, prefix="lstm_l%d_" % i))
        embed = mx.sym.Embedding(data=mx.sym.Variable("data"), input_dim=20, output_dim=6,
                                 name="embed")
        outputs, _ = stack.unroll(seq_len, inputs=embed, merge_outputs=True)
        pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, 8)), num_hidden=20,
                                     name="pred")
        return mx.sym.SoftmaxOutput(pred, name="softmax")


def test_composition_sends_no_json(mx):
    x = mx.sym.Variable("x")
    y = mx.sym.FullyConnected(x * 2 + x, num_hidden=3, name="fc")
    assert y._json_text is None and y._held is not None  # only a handle so far
    assert y.list_arguments() == ["x", "fc_weight", "fc_bias"]
    assert y._json_text is None  # listing needs no JSON either
    assert '"fc"' in y.tojson()  # fetched once, when asked for


def test_a_small_symbol_cache_rebuilds_dropped_handles(mx, tmp_path_factory):
    expected = _lstm(2, 6, mx.name.NameManager())
    expected_json = expected.tojson()
    with _compiler(tmp_path_factory, "refs_small_cache", cache_entries=4):
        sym = _lstm(2, 6, mx.name.NameManager())  # ~150 symbols through a 4-entry cache
        assert sym.list_arguments() == expected.list_arguments()
        arg_shapes, out_shapes, _ = sym.infer_shape(data=(3, 6))
        assert out_shapes == [(18, 20)]
        assert sym.tojson() == expected_json
        # Every intermediate symbol stays usable: one from the middle of the graph.
        inner = sym.get_internals()["lstm_l0_t2_out_output"]
        assert inner.infer_shape(data=(3, 6))[1] == [(3, 8)]


def test_symbols_outlive_their_compiler(mx, tmp_path_factory):
    with _compiler(tmp_path_factory, "refs_first", cache_entries=1024):
        sym = _lstm(1, 4, mx.name.NameManager())
        arguments = sym.list_arguments()
        assert sym._json_text is None
    # The compiler that built it is gone: the shared cluster's rebuilds it from its recipe.
    assert sym.list_arguments() == arguments
    head = mx.sym.Activation(sym, act_type="relu", name="head")
    assert head.list_outputs() == ["head_output"]
    assert head.infer_shape(data=(2, 4))[1] == [(8, 20)]


def test_lists_match_mxnet(mx, real_mx):
    ours = _lstm(2, 5, mx.name.NameManager())
    with real_mx.name.NameManager():
        stack = real_mx.rnn.SequentialRNNCell()
        for i in range(2):
            stack.add(real_mx.rnn.LSTMCell(num_hidden=8, prefix="lstm_l%d_" % i))
        embed = real_mx.sym.Embedding(data=real_mx.sym.Variable("data"), input_dim=20,
                                      output_dim=6, name="embed")
        outputs, _ = stack.unroll(5, inputs=embed, merge_outputs=True)
        pred = real_mx.sym.FullyConnected(real_mx.sym.Reshape(outputs, shape=(-1, 8)),
                                          num_hidden=20, name="pred")
        theirs = real_mx.sym.SoftmaxOutput(pred, name="softmax")
    assert ours.list_arguments() == theirs.list_arguments()
    assert ours.list_outputs() == theirs.list_outputs()
    assert ours.get_internals().list_outputs() == theirs.get_internals().list_outputs()
    assert ours.infer_shape(data=(3, 5)) == theirs.infer_shape(data=(3, 5))


def test_identity_is_kept_like_mxnet(mx, real_mx):
    # Two variables of the same name are two arguments in MXNet; one variable used twice is
    # one argument.
    for lib in (mx, real_mx):
        a, b = lib.sym.Variable("x"), lib.sym.Variable("x")
        assert (a + b).list_arguments() == ["x", "x"], lib
        assert (a + a).list_arguments() == ["x"], lib


def test_bound_symbol_trains_through_a_worker(mxw):
    data = mxw.sym.Variable("data")
    net = mxw.sym.FullyConnected(data, num_hidden=2, name="fc")
    ex = net.simple_bind(mxw.cpu(), data=(4, 3))
    ex.arg_dict["data"][:] = np.ones((4, 3), np.float32)
    ex.arg_dict["fc_weight"][:] = np.ones((2, 3), np.float32)
    ex.arg_dict["fc_bias"][:] = np.zeros((2,), np.float32)
    out = ex.forward()[0].asnumpy()
    np.testing.assert_allclose(out, np.full((4, 2), 3.0))


def test_compositions_wait_in_a_burst(mx):
    x = mx.sym.Variable("x")
    y = mx.sym.Activation(x, act_type="relu", name="act")
    conn = mx.connection.get()
    assert y in conn.symbol_burst  # checked by the client: no call yet
    assert y.list_arguments() == ["x"]  # a compiler call sends the burst first
    assert not conn.symbol_burst


def test_selecting_an_output_is_no_compiler_step(mx, real_mx):
    conn = mx.connection.get()
    graphs = []
    for lib in (mx, real_mx):
        with lib.name.NameManager():
            x = lib.sym.Variable("x")
            parts = lib.sym.SliceChannel(x, num_outputs=3, axis=1, name="s")
            if lib is mx:
                steps = len(conn.symbol_burst)
            second, last = parts[1], parts[2]
            if lib is mx:
                assert len(conn.symbol_burst) == steps  # selections add no step
                assert second._select == (parts, 1) and last._select == (parts, 2)
            same = second[0]  # an output of a selection: a Transform of its own
            out = lib.sym.Group([lib.sym.Activation(second, act_type="relu", name="a"),
                                 last * 2, same + list(parts)[0]])
            graphs.append(out)
            assert second.list_outputs() == ["s_output1"]
            assert same.list_outputs() == ["s_output1"]
            assert last.infer_shape(x=(2, 6))[1] == [(2, 2)]
    ours, theirs = graphs
    assert ours.list_outputs() == theirs.list_outputs()
    assert ours.infer_shape(x=(2, 6)) == theirs.infer_shape(x=(2, 6))
    assert [n["inputs"] for n in ours._parsed()["nodes"]] == \
        [n["inputs"] for n in mx.sym.load_json(theirs.tojson())._parsed()["nodes"]]
    with pytest.raises(IndexError):
        parts[3]


def test_a_refusal_the_client_cannot_check_raises_at_first_use(mx):
    good = mx.sym.Activation(mx.sym.Variable("e"), act_type="relu", name="act_e")
    # An integer, as the schema asks, but one the compiler refuses: it joins the burst.
    bad = mx.sym.FullyConnected(mx.sym.Variable("d"), num_hidden=-3, name="fc_d")
    after = mx.sym.Activation(mx.sym.Variable("f"), act_type="relu", name="act_f")
    with pytest.raises(mx.MXNetError, match="num_hidden"):
        bad.list_arguments()
    # The burst's other symbols are rebuilt when used.
    assert good.list_arguments() == ["e"]
    assert after.infer_shape(f=(2, 3))[1] == [(2, 3)]
    # What the client can check raises at the call, as in MXNet.
    with pytest.raises(mx.MXNetError, match="num_hidden"):
        mx.sym.FullyConnected(mx.sym.Variable("d"), num_hidden="many")
    with pytest.raises(mx.MXNetError):
        mx.sym.FullyConnected(mx.sym.Variable("d"), num_hidden=2, nosuchparam=1)


def test_full_bursts_keep_their_order_and_their_refusals(mx, monkeypatch):
    from mxgrid import symbol as sym_mod
    conn = mx.connection.get()
    n = 3 * sym_mod._BURST_STEPS + 7  # several bursts, each sent when full
    x = mx.sym.Variable("x")
    chain = [x]
    for i in range(n):
        chain.append(mx.sym.Activation(chain[-1], act_type="relu", name="r%d" % i))
    assert len(conn.symbol_burst) < sym_mod._BURST_STEPS  # the rest went out already
    assert chain[-1].list_arguments() == ["x"]
    assert not conn.symbol_burst and conn.symbol_burst_bytes == 0
    assert chain[-1].infer_shape(x=(2, 3))[1] == [(2, 3)]
    assert chain[sym_mod._BURST_STEPS + 1].name == "r%d" % sym_mod._BURST_STEPS

    # A burst is also sent when its steps' bytes reach _BURST_BYTES: symbols from JSON as
    # inputs make large steps.
    monkeypatch.setattr(sym_mod, "_BURST_BYTES", 20000)
    loaded = mx.sym.load_json(chain[200].tojson())
    assert len(loaded.tojson()) > 20000
    small = mx.sym.Activation(x, act_type="relu", name="small")
    assert conn.symbol_burst == [small]
    big = mx.sym.Activation(loaded, act_type="relu", name="big")  # one step > 20000 bytes
    assert not conn.symbol_burst and conn.symbol_burst_bytes == 0
    assert big.list_arguments() == ["x"] and small.list_arguments() == ["x"]

    # A refusal in a burst sent when full raises at the first use of a symbol built on it
    # (here: composing on it once its burst was refused); those before it and independent
    # ones still work.
    before = mx.sym.Activation(mx.sym.Variable("e"), act_type="relu", name="before")
    bad = mx.sym.FullyConnected(mx.sym.Variable("d"), num_hidden=-3, name="fc_bad")
    tail = [bad]
    with pytest.raises(mx.MXNetError, match="num_hidden"):
        for i in range(2 * sym_mod._BURST_STEPS):
            tail.append(mx.sym.Activation(tail[-1], act_type="relu", name="t%d" % i))
    assert 1 < len(tail) <= sym_mod._BURST_STEPS + 1
    with pytest.raises(mx.MXNetError, match="num_hidden"):
        tail[-1].list_arguments()
    other = mx.sym.Activation(mx.sym.Variable("f"), act_type="relu", name="other")
    assert before.list_arguments() == ["e"]
    assert other.infer_shape(f=(4,))[1] == [(4,)]


def test_handles_the_client_picks_are_unique_and_new_after_a_fork(mx):
    from mxgrid import symbol as sym_mod
    refs = {sym_mod._new_ref() for _ in range(1000)}
    assert len(refs) == 1000
    assert all(len(r) == 32 and int(r, 16) >= 0 for r in refs)
    prefix = sym_mod._ref_prefix
    sym_mod._new_prefix()  # what a forked child runs (os.register_at_fork)
    assert sym_mod._ref_prefix != prefix and sym_mod._new_ref()[:16] == sym_mod._ref_prefix
    # Operators called by symbol arithmetic are made once per schema.
    a, b = mx.sym.Variable("a"), mx.sym.Variable("b")
    a + b
    assert sym_mod._op_symbol("elemwise_add") is sym_mod._op_symbol("elemwise_add")
