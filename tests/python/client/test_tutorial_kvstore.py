"""The MXNet Python tutorial's KVStore section (local store on the worker) and the dist
stores on the kvstore shards."""
import numpy as np
import pytest


def _devices(mx, n=4):
    """The tutorial's GPUs when there are enough, else n CPU contexts (distinct devices to
    the worker, all in host memory)."""
    if mx.context.num_gpus() >= n:
        return [mx.gpu(i) for i in range(n)]
    return [mx.cpu(i) for i in range(n)]


def test_tutorial_kvstore(mxw, capsys):
    mx = mxw
    kv = mx.kv.create("local")
    assert kv.type == "local" and kv.rank == 0 and kv.num_workers == 1
    shape = (2, 3)
    kv.init(3, mx.nd.ones(shape) * 2)
    a = mx.nd.zeros(shape)
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), np.full(shape, 2.0))

    kv.push(3, mx.nd.ones(shape) * 8)
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), np.full(shape, 8.0))

    gpus = _devices(mx)
    b = [mx.nd.ones(shape, gpu) for gpu in gpus]
    kv.push(3, b)
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), np.full(shape, 4.0))

    def update(key, input, stored):
        print("update on key: %d" % key)
        stored += input * 2
    kv._set_updater(update)
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), np.full(shape, 4.0))
    kv.push(3, mx.nd.ones(shape))
    assert capsys.readouterr().out == "update on key: 3\n"
    kv.pull(3, out=a)
    np.testing.assert_array_equal(a.asnumpy(), np.full(shape, 6.0))

    b = [mx.nd.ones(shape, gpu) for gpu in gpus]
    kv.pull(3, out=b)
    np.testing.assert_array_equal(b[1].asnumpy(), np.full(shape, 6.0))

    keys = [5, 7, 9]
    kv.init(keys, [mx.nd.ones(shape)] * len(keys))
    kv.push(keys, [mx.nd.ones(shape)] * len(keys))
    assert capsys.readouterr().out == "".join("update on key: %d\n" % k for k in keys)
    b = [mx.nd.zeros(shape)] * len(keys)
    kv.pull(keys, out=b)
    np.testing.assert_array_equal(b[1].asnumpy(), np.full(shape, 3.0))

    b = [[mx.nd.ones(shape, gpu) for gpu in gpus]] * len(keys)
    kv.push(keys, b)
    capsys.readouterr()
    kv.pull(keys, out=b)
    np.testing.assert_array_equal(b[1][1].asnumpy(), np.full(shape, 11.0))


def test_str_keys_and_optimizer(mxw):
    mx = mxw
    kv = mx.kv.create("local")
    kv.init("w", mx.nd.ones((2,)))
    kv.set_optimizer(mx.optimizer.create("sgd", learning_rate=0.5))
    kv.push("w", mx.nd.ones((2,)) * 2)
    out = mx.nd.zeros((2,))
    kv.pull("w", out=out)
    np.testing.assert_allclose(out.asnumpy(), [0.0, 0.0])  # 1 - 0.5 * 2


def test_pull_uninitialized_key_fails(mxw):
    mx = mxw
    kv = mx.kv.create("local")
    with pytest.raises(mx.MXNetError):
        kv.pull(12345, out=mx.nd.zeros((1,)))


def test_dist_sync_on_shards(mxw, local_cluster):
    mx = mxw
    kv = mx.kv.create("dist_sync")
    assert kv.type == "dist_sync" and kv.rank == 0 and kv.num_workers == 1
    keys = ["one", "two", "three", "four"]  # a store holds int or str keys
    kv.init(keys, [mx.nd.ones((2, 2)) * (i + 1) for i in range(len(keys))])
    outs = [mx.nd.zeros((2, 2)) for _ in keys]
    kv.pull(keys, out=outs)
    for i, o in enumerate(outs):
        np.testing.assert_array_equal(o.asnumpy(), np.full((2, 2), i + 1.0))
    kv.push("one", [mx.nd.ones((2, 2)), mx.nd.ones((2, 2)) * 3])
    kv.pull("one", out=outs[0])
    np.testing.assert_array_equal(outs[0].asnumpy(), np.full((2, 2), 4.0))  # assigned sum
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1))
    kv.push("three", mx.nd.ones((2, 2)))
    kv.pull("three", out=outs[2])
    np.testing.assert_allclose(outs[2].asnumpy(), np.full((2, 2), 2.9), rtol=1e-6)
    big = np.random.RandomState(0).rand(800, 1000).astype(np.float32)  # 3.2 MB: streams
    kv.init("big", mx.nd.array(big))
    got = mx.nd.zeros((800, 1000))
    kv.pull("big", out=got)
    np.testing.assert_array_equal(got.asnumpy(), big)


def test_push_list_across_cpu_ids(mxw):
    mx = mxw
    kv = mx.kv.create("local")
    kv.init(0, mx.nd.zeros((2,)))
    kv.push(0, [mx.nd.ones((2,), mx.cpu(i)) for i in range(3)])
    out = mx.nd.zeros((2,))
    kv.pull(0, out=out)
    np.testing.assert_array_equal(out.asnumpy(), [3.0, 3.0])
