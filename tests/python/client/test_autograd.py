"""mx.autograd against real MXNet 1.9.1: each test runs the same computation with mxgrid
(`mxw`) and with mxnet (`real_mx`) and compares the gradients."""
import numpy as np
import pytest

RNG = np.random.RandomState(7)
X = RNG.uniform(-1, 1, (4, 5)).astype(np.float32)
W1 = RNG.uniform(-1, 1, (6, 5)).astype(np.float32)
B1 = RNG.uniform(-1, 1, (6,)).astype(np.float32)
W2 = RNG.uniform(-1, 1, (3, 6)).astype(np.float32)
B2 = RNG.uniform(-1, 1, (3,)).astype(np.float32)
LABEL = np.array([0, 2, 1, 2], dtype=np.float32)


def both(mxw, real_mx, fn):
    """fn(mx) -> list of numpy arrays, for mxgrid and for MXNet."""
    return fn(mxw), fn(real_mx)


def assert_all_close(got, want, rtol=1e-5, atol=1e-6):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def test_mlp_loss_gradient_matches_mxnet(mxw, real_mx):
    def run(mx):
        params = [mx.nd.array(a) for a in (W1, B1, W2, B2)]
        for p in params:
            p.attach_grad()
        x, label = mx.nd.array(X), mx.nd.array(LABEL)
        with mx.autograd.record():
            h = mx.nd.Activation(mx.nd.FullyConnected(x, params[0], params[1], num_hidden=6),
                                 act_type="relu")
            out = mx.nd.FullyConnected(h, params[2], params[3], num_hidden=3)
            prob = mx.nd.softmax(out)
            picked = mx.nd.pick(mx.nd.log(prob), label, axis=1)
            loss = mx.nd.mean(-picked)
        loss.backward()
        return [loss.asnumpy()] + [p.grad.asnumpy() for p in params]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want, rtol=1e-4, atol=1e-6)


def test_softmax_output_loss_needs_no_head_gradient(mxw, real_mx):
    def run(mx):
        x, w = mx.nd.array(X), mx.nd.array(W2[:, :5])
        w.attach_grad()
        with mx.autograd.record():
            out = mx.nd.SoftmaxOutput(mx.nd.dot(x, w, transpose_b=True), mx.nd.array(LABEL))
        out.backward()
        return [w.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want, rtol=1e-4)


def test_broadcast_ops_reduce_their_gradients(mxw, real_mx):
    def run(mx):
        a = mx.nd.array(X)
        b = mx.nd.array(X[:1] + 2)       # (1, 5): broadcast over rows
        c = mx.nd.array(X[:, :1] - 3)    # (4, 1): broadcast over columns
        for v in (a, b, c):
            v.attach_grad()
        with mx.autograd.record():
            y = (a * b + c) / b - a ** 2 + 3 * c
            z = mx.nd.sum(y * y)
        z.backward()
        return [a.grad.asnumpy(), b.grad.asnumpy(), c.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want, rtol=1e-4, atol=1e-5)


def test_reused_input_and_head_gradient(mxw, real_mx):
    def run(mx):
        x = mx.nd.array(X)
        x.attach_grad()
        with mx.autograd.record():
            y = mx.nd.tanh(x) * x + mx.nd.exp(x) * x
        y.backward(mx.nd.array(X * 2 + 1))
        return [x.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want, rtol=1e-5)


def test_slicing_and_reshape_under_record(mxw, real_mx):
    def run(mx):
        x = mx.nd.array(X)
        x.attach_grad()
        with mx.autograd.record():
            top = x[1:3]
            row = x[3]
            y = mx.nd.sum(top * 2) + mx.nd.sum(row * row) + mx.nd.sum(x.reshape((5, 4))[0])
        y.backward()
        return [x.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want)


def test_grad_req_add_accumulates(mxw, real_mx):
    def run(mx):
        x = mx.nd.array(X)
        x.attach_grad(grad_req="add")
        for scale in (1.0, 2.0, 3.0):
            with mx.autograd.record():
                y = x * x * scale
            y.backward()
        return [x.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want)
    np.testing.assert_allclose(got[0], 12 * X, rtol=1e-5)


def test_grad_returns_new_arrays(mxw, real_mx):
    def run(mx):
        x, w = mx.nd.array(X), mx.nd.array(W1)
        x.attach_grad()
        w.attach_grad()
        with mx.autograd.record():
            y = mx.nd.sum(mx.nd.sigmoid(mx.nd.dot(x, w, transpose_b=True)))
        gx, gw = mx.autograd.grad(y, [x, w])
        return [gx.asnumpy(), gw.asnumpy(), x.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want, rtol=1e-5)
    assert not got[2].any()  # .grad untouched


def test_pause_stops_recording(mxw, real_mx):
    def run(mx):
        x = mx.nd.array(X)
        x.attach_grad()
        with mx.autograd.record():
            a = x * 2
            with mx.autograd.pause():
                assert not mx.autograd.is_recording()
                b = x * 5          # a constant for the tape
            y = a * b
        y.backward()
        return [x.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want)
    np.testing.assert_allclose(got[0], 10 * X, rtol=1e-6)


def test_detach_blocks_the_gradient(mxw):
    mx = mxw
    x = mx.nd.array(X)
    x.attach_grad()
    with mx.autograd.record():
        y = x * x.detach()
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), X, rtol=1e-6)


def test_flags_and_scopes(mxw, real_mx):
    def run(mx):
        ag = mx.autograd
        seen = [ag.is_recording(), ag.is_training()]
        with ag.record():
            seen += [ag.is_recording(), ag.is_training()]
            with ag.predict_mode():
                seen += [ag.is_recording(), ag.is_training()]
        with ag.record(train_mode=False):
            seen += [ag.is_training()]
            with ag.train_mode():
                seen += [ag.is_training()]
        seen += [ag.set_recording(True), ag.set_recording(False), ag.set_training(True),
                 ag.set_training(False), ag.is_recording(), ag.is_training()]
        return seen
    got, want = both(mxw, real_mx, run)
    assert got == want


def test_dropout_trains_inside_record_and_predicts_outside(mxw):
    mx = mxw
    x = mx.nd.ones((2000,))
    x.attach_grad()
    np.testing.assert_array_equal(mx.nd.Dropout(x, p=0.5).asnumpy(), 1.0)
    with mx.autograd.record():
        y = mx.nd.Dropout(x, p=0.5)
    with mx.autograd.record(train_mode=False):
        z = mx.nd.Dropout(x, p=0.5)
    np.testing.assert_array_equal(z.asnumpy(), 1.0)
    y.backward()
    out = y.asnumpy()
    assert 0.4 < (out == 0).mean() < 0.6
    np.testing.assert_array_equal(x.grad.asnumpy(), out)  # the forward mask, reused
    with mx.autograd.train_mode():
        assert (mx.nd.Dropout(x, p=0.5).asnumpy() == 0).any()


def test_batchnorm_uses_batch_statistics_inside_record(mxw, real_mx):
    def run(mx):
        x = mx.nd.array(X * 3 + 1)
        gamma, beta = mx.nd.ones((5,)), mx.nd.zeros((5,))
        mean, var = mx.nd.zeros((5,)), mx.nd.ones((5,))
        for v in (x, gamma, beta):
            v.attach_grad()
        with mx.autograd.record():
            y = mx.nd.BatchNorm(x, gamma, beta, mean, var, fix_gamma=False)
            z = mx.nd.sum(y * mx.nd.array(X))
        z.backward()
        return [y.asnumpy(), x.grad.asnumpy(), gamma.grad.asnumpy(), beta.grad.asnumpy(),
                mean.asnumpy(), var.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want, rtol=1e-3, atol=1e-4)


def test_retain_graph_and_second_backward_error(mxw, real_mx):
    for mx in (mxw, real_mx):
        x = mx.nd.array(X)
        x.attach_grad()
        with mx.autograd.record():
            y = mx.nd.sum(x * x)
        y.backward(retain_graph=True)
        y.backward()
        np.testing.assert_allclose(x.grad.asnumpy(), 2 * X, rtol=1e-6)
        with pytest.raises(mx.base.MXNetError):
            y.backward()


def test_errors(mxw):
    mx = mxw
    c = mx.nd.array(X)
    with pytest.raises(mx.MXNetError, match="not in a recorded computational graph"):
        c.backward()
    with mx.autograd.record():
        d = c * 2
    with pytest.raises(mx.MXNetError, match="no variable"):
        d.backward()
    x = mx.nd.array(X)
    x.attach_grad()
    with mx.autograd.record():
        y = x * 2
    with pytest.raises(mx.MXNetError, match="head gradient"):
        y.backward(mx.nd.ones((3,)))
    with pytest.raises(mx.MXNetError, match="create_graph"):
        mx.autograd.grad(y, [x], create_graph=True)
    with pytest.raises(mx.MXNetError, match="grad_req"):
        x.attach_grad(grad_req="sometimes")
    with pytest.raises(mx.MXNetError, match="get_symbol"):
        mx.autograd.get_symbol(y)
    y.backward()  # the failed calls left the graph usable
    np.testing.assert_allclose(x.grad.asnumpy(), 2.0)


def test_import_forms():
    import mxgrid
    import mxgrid.autograd as ag
    assert mxgrid.autograd is ag


def _function_classes(mx):
    class Sigmoid(mx.autograd.Function):
        def forward(self, x):
            y = 1 / (1 + mx.nd.exp(-x))
            self.save_for_backward(y)
            return y

        def backward(self, dy):
            y, = self.saved_tensors
            return dy * y * (1 - y)

    class MulAdd(mx.autograd.Function):  # two inputs, two outputs
        def forward(self, a, b):
            self.save_for_backward(a, b)
            return a * b, a + b

        def backward(self, d_prod, d_sum):
            a, b = self.saved_tensors
            return d_prod * b + d_sum, d_prod * a + d_sum
    return Sigmoid, MulAdd


def test_function_matches_mxnet(mxw, real_mx):
    def run(mx):
        Sigmoid, MulAdd = _function_classes(mx)
        x, w = mx.nd.array(X), mx.nd.array(W1[:4, :5])
        x.attach_grad()
        w.attach_grad(grad_req="add")
        with mx.autograd.record():
            h = Sigmoid()(x * 2)
            p, q = MulAdd()(h, w)
            s = Sigmoid()(p)           # a Function of a Function's output
            loss = mx.nd.sum(s * q) + mx.nd.sum(x * w)
        loss.backward()
        return [loss.asnumpy(), x.grad.asnumpy(), w.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want, rtol=1e-4, atol=1e-6)


def test_function_with_grad_and_outside_record(mxw, real_mx):
    def run(mx):
        Sigmoid, _ = _function_classes(mx)
        x = mx.nd.array(X)
        x.attach_grad()
        plain = Sigmoid()(x)          # not recording: just forward
        with mx.autograd.record():
            y = mx.nd.sum(Sigmoid()(x) * x)
        gx, = mx.autograd.grad(y, [x])
        return [plain.asnumpy(), gx.asnumpy(), x.grad.asnumpy()]
    got, want = both(mxw, real_mx, run)
    assert_all_close(got, want, rtol=1e-5)


def test_function_instance_is_single_use(mxw):
    mx = mxw
    Sigmoid, _ = _function_classes(mx)
    f = Sigmoid()
    f(mx.nd.ones((2,)))
    with pytest.raises(mx.MXNetError, match="only be called once"):
        f(mx.nd.ones((2,)))
