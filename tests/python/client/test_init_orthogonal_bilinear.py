"""mx.init.Orthogonal (uniform and normal draws from mx.random) and mx.init.Bilinear, through
Module.init_params and direct calls, against real MXNet 1.9.1 (Bilinear's values; Orthogonal's
properties, since the two generators differ) and reproducible for a seed."""
import numpy as np
import pytest


def _init_values(m, init, shape, seed=42):
    arr = m.nd.zeros(shape)
    m.random.seed(seed)
    init(m.init.InitDesc("deconv_weight"), arr)
    return arr.asnumpy()


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (3, 2, 3, 3)])
@pytest.mark.parametrize("rand_type", ["uniform", "normal"])
def test_orthogonal_as_mxnet(mxw, real_mx, shape, rand_type):
    for m in (mxw, real_mx):
        got = _init_values(m, m.init.Orthogonal(scale=1.5, rand_type=rand_type), shape)
        flat = got.reshape(shape[0], -1)
        small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        np.testing.assert_allclose(small, 1.5 ** 2 * np.eye(small.shape[0]), atol=1e-4)
    init = mxw.init.Orthogonal(rand_type=rand_type)
    np.testing.assert_array_equal(_init_values(mxw, init, shape, 7),
                                  _init_values(mxw, init, shape, 7))
    assert not np.allclose(_init_values(mxw, init, shape, 7), _init_values(mxw, init, shape, 8))


@pytest.mark.parametrize("shape", [(2, 1, 4, 4), (1, 3, 5, 3)])
def test_bilinear_matches_mxnet(mxw, real_mx, shape):
    got = _init_values(mxw, mxw.init.Bilinear(), shape)
    want = _init_values(real_mx, real_mx.init.Bilinear(), shape)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.max() > 0


def test_created_by_name_and_in_module(mxw):
    assert isinstance(mxw.init.create("orthogonal"), mxw.init.Orthogonal)
    x = mxw.sym.Variable("data")
    net = mxw.sym.FullyConnected(x, num_hidden=3, name="fc")
    mod = mxw.mod.Module(net, label_names=None)
    mod.bind(data_shapes=[("data", (2, 5))])
    mod.init_params(initializer=mxw.init.Orthogonal())
    w = mod.get_params()[0]["fc_weight"].asnumpy()
    np.testing.assert_allclose(w @ w.T, 1.414 ** 2 * np.eye(3), atol=1e-4)
    with pytest.raises(ValueError, match="random type"):
        _init_values(mxw, mxw.init.Orthogonal(rand_type="gamma"), (2, 2))
