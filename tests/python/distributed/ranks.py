"""One rank of a distributed-training test scenario, run as its own process by
dist_helpers.Ranks with the environment tools/launch gives a script (MXGRID_WORKER,
MXGRID_KVSTORE, MXGRID_RANK, MXGRID_NUM_WORKERS, MXGRID_JOB).

    python ranks.py SCENARIO OUT_DIR [ARGS...]

Writes its results to OUT_DIR/rank<r>.json (and .npz for arrays); exits non-zero on any
error. Plain MXNet 1.x code under `import mxgrid as mx`.
"""
import json
import os
import sys
import time

import numpy as np

import mxgrid as mx

OUT = sys.argv[2]
ARGS = sys.argv[3:]


def write(rank_, **values):
    with open(os.path.join(OUT, "rank%d.json" % rank_), "w") as f:
        json.dump(values, f)


def hang():
    """Issue 11's hang: rank 0 pushes and pulls at once, rank 1 pushes 2 s later."""
    kv = mx.kv.create("dist_sync")
    kv.init(3, mx.nd.zeros((2, 3)))
    if kv.rank == 1:
        time.sleep(2.0)
    tic = time.monotonic()
    kv.push(3, mx.nd.ones((2, 3)) * (kv.rank + 1))
    out = mx.nd.zeros((2, 3))
    kv.pull(3, out=out)
    value = out.asnumpy()
    write(kv.rank, value=value.tolist(), seconds=time.monotonic() - tic,
          num_workers=kv.num_workers)


def init_every_rank():
    """Every rank inits with its own values: rank 0's are stored, for str keys, int keys (a
    second job) and a big array split across the shards."""
    kv = mx.kv.create("dist_sync")
    r = kv.rank
    kv.init(["a", "b"], [mx.nd.ones((3,)) * (10 + r), mx.nd.ones((2, 2)) * (20 + r)])
    big = np.random.RandomState(r).rand(1200, 1000).astype(np.float32)  # > 1e6 elements
    kv.init("big", mx.nd.array(big))
    outs = [mx.nd.zeros((3,)), mx.nd.zeros((2, 2)), mx.nd.zeros((1200, 1000))]
    kv.pull(["a", "b", "big"], out=outs)
    want_big = np.random.RandomState(0).rand(1200, 1000).astype(np.float32)
    os.environ["MXGRID_JOB"] += "-int"
    kv2 = mx.kv.create("dist_sync")
    kv2.init([5, 9], [mx.nd.ones((4,)) * (50 + r), mx.nd.ones((4,)) * (90 + r)])
    outs2 = [mx.nd.zeros((4,)), mx.nd.zeros((4,))]
    kv2.pull([5, 9], out=outs2)
    write(r, a=outs[0].asnumpy().tolist(), b=outs[1].asnumpy().tolist(),
          big_exact=bool(np.array_equal(outs[2].asnumpy(), want_big)),
          k5=outs2[0].asnumpy().tolist(), k9=outs2[1].asnumpy().tolist(),
          rank=kv.rank, rank2=kv2.rank, num_workers=kv.num_workers)


def _mlp():
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, num_hidden=32, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.float32)
    perm = np.random.RandomState(0).permutation(len(x))
    return x[perm], y[perm]


def train_sync():
    """ARGS: optimizer global_batch steps. Rank r of N trains on rows
    [s*G + r*G/N, s*G + (r+1)*G/N) of step s (G = global batch): the same examples per round
    whatever N is. Saves the weights after every step."""
    name, global_batch, steps = ARGS[0], int(ARGS[1]), int(ARGS[2])
    kv = mx.kv.create("dist_sync")
    local = global_batch // kv.num_workers
    x, y = _digits()
    net = _mlp()
    arg_shapes, _, _ = net.infer_shape(data=(local, 64))
    rng = np.random.RandomState(1)
    init = {n: mx.nd.array(rng.normal(0, 0.1, s).astype(np.float32))
            for n, s in zip(net.list_arguments(), arg_shapes) if n not in ("data",
                                                                           "softmax_label")}
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.bind(data_shapes=[("data", (local, 64))], label_shapes=[("softmax_label", (local,))])
    mod.init_params(arg_params=init)
    params = {"learning_rate": 0.1, "momentum": 0.9} if name == "sgd" else \
        {"learning_rate": 0.01}
    mod.init_optimizer(kvstore=kv, optimizer=name, optimizer_params=params)
    saved = {}
    metric = mx.metric.create("acc")
    for step in range(steps):
        lo = step * global_batch + kv.rank * local
        batch = mx.io.DataBatch(data=[mx.nd.array(x[lo:lo + local])],
                                label=[mx.nd.array(y[lo:lo + local])])
        mod.forward_backward(batch)
        mod.update()
        mod.update_metric(metric, batch.label)
        args, _ = mod.get_params()
        for n, v in args.items():
            saved["s%d/%s" % (step, n)] = v.asnumpy()
    np.savez(os.path.join(OUT, "rank%d.npz" % kv.rank), **saved)
    write(kv.rank, num_workers=kv.num_workers, rescale_grad=mod._optimizer.rescale_grad,
          metric=metric.get_name_value(), examples=metric.num_inst)


def _sgd_module(kv, local, init=None, load=None):
    """The small MLP bound for ``local`` rows, SGD momentum on the store ``kv``; its
    parameters from ``init`` or from checkpoint ``load`` = (prefix, epoch) with the
    optimizer state."""
    if load is not None:
        mod = mx.mod.Module.load(load[0], load[1], load_optimizer_states=True,
                                 context=mx.cpu())
    else:
        mod = mx.mod.Module(_mlp(), context=mx.cpu())
    mod.bind(data_shapes=[("data", (local, 64))], label_shapes=[("softmax_label", (local,))])
    if init is not None:
        mod.init_params(arg_params=init)
    mod.init_optimizer(kvstore=kv, optimizer="sgd",
                       optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    return mod


def module_checkpoint():
    """Job A trains 3 sync steps; rank 0 saves a checkpoint with the optimizer state (from
    the shards); job B loads it (Module.load(load_optimizer_states=True)); one more step of
    the same batch in both jobs must give the same weights (the momentum was restored)."""
    kv_a = mx.kv.create("dist_sync")
    local = 16
    x, y = _digits()
    net = _mlp()
    arg_shapes, _, _ = net.infer_shape(data=(local, 64))
    rng = np.random.RandomState(1)
    init = {n: mx.nd.array(rng.normal(0, 0.1, s).astype(np.float32))
            for n, s in zip(net.list_arguments(), arg_shapes) if n not in ("data",
                                                                           "softmax_label")}

    def batch(step):
        lo = step * 2 * local + kv_a.rank * local
        return mx.io.DataBatch(data=[mx.nd.array(x[lo:lo + local])],
                               label=[mx.nd.array(y[lo:lo + local])])
    mod_a = _sgd_module(kv_a, local, init=init)
    for step in range(3):
        mod_a.forward_backward(batch(step))
        mod_a.update()
    prefix = os.path.join(OUT, "ckpt")
    if kv_a.rank == 0:
        mod_a.save_checkpoint(prefix, 3, save_optimizer_states=True)
    kv_a._barrier()
    os.environ["MXGRID_JOB"] += "-b"
    kv_b = mx.kv.create("dist_sync")
    mod_b = _sgd_module(kv_b, local, load=(prefix, 3))
    for mod in (mod_a, mod_b):
        mod.forward_backward(batch(3))
        mod.update()
    wa, wb = mod_a.get_params()[0], mod_b.get_params()[0]
    diff = max(float(np.abs(wa[n].asnumpy() - wb[n].asnumpy()).max()) for n in wa)
    states = sorted(mx.nd.load(prefix + "-0003.states")) if kv_a.rank == 0 else []
    write(kv_a.rank, max_diff=diff, states=states)


def train_async():
    """ARGS: epochs. dist_async Module.fit on this rank's half; rank 0 scores held out."""
    epochs = int(ARGS[0])
    kv = mx.kv.create("dist_async")
    x, y = _digits()
    x_train, y_train, x_test, y_test = x[:1350], y[:1350], x[1350:], y[1350:]
    x_part = np.array_split(x_train, kv.num_workers)[kv.rank]
    y_part = np.array_split(y_train, kv.num_workers)[kv.rank]
    np.random.seed(kv.rank)
    train = mx.io.NDArrayIter(x_part, y_part, batch_size=32, shuffle=True)
    net = _mlp()
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(train, num_epoch=epochs, kvstore=kv, initializer=mx.init.Xavier(),
            optimizer="sgd", optimizer_params={"learning_rate": 0.05, "momentum": 0.9},
            progress_bar=False)
    # Async ranks finish at different times: score the shards' final weights, after both.
    kv._barrier()
    acc = None
    if kv.rank == 0:
        arg_params, aux_params = mod.get_params()
        for name, value in arg_params.items():
            kv.pull(name, out=value)
        mod.set_params(arg_params, aux_params)
        test = mx.io.NDArrayIter(x_test, y_test, batch_size=32)
        acc = dict(mod.score(test, "acc"))["accuracy"]
    write(kv.rank, accuracy=acc)


def optimizer_states():
    """SGD momentum on the shards; rank 0 saves the state after round 1 and loads it back
    after round 2, so round 3 starts from round 1's momentum."""
    kv = mx.kv.create("dist_sync")
    r = kv.rank
    kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.1, momentum=0.9, rescale_grad=1.0))
    kv.init(["w", "v"], [mx.nd.zeros((4,)), mx.nd.zeros((2, 3))])
    out = mx.nd.zeros((4,))
    fname = os.path.join(OUT, "states.params")
    values = []
    for rnd in range(3):
        kv.push(["w", "v"], [mx.nd.ones((4,)), mx.nd.ones((2, 3)) * 2])
        kv.pull("w", out=out)
        values.append(out.asnumpy().tolist())
        kv._barrier()
        if rnd == 0 and r == 0:
            kv.save_optimizer_states(fname)
        if rnd == 1 and r == 0:
            kv.load_optimizer_states(fname)
        kv._barrier()
    saved = {}
    if r == 0:
        saved = {k: v.asnumpy().tolist() for k, v in mx.nd.load(fname).items()}
    refused = ""
    try:
        kv._set_updater(lambda key, grad, weight: None)
    except mx.MXNetError as err:
        refused = str(err)
    write(r, values=values, saved=saved, refused=refused)


def killed_worker():
    """Rank 1 is killed (with its worker) by the test after init; rank 0 then pushes and
    pulls, which must fail naming rank 1, not hang."""
    kv = mx.kv.create("dist_sync")
    kv.init(7, mx.nd.zeros((5,)))
    out = mx.nd.zeros((5,))
    kv.push(7, mx.nd.ones((5,)))
    kv.pull(7, out=out)
    out.asnumpy()
    open(os.path.join(OUT, "ready%d" % kv.rank), "w").close()
    if kv.rank == 1:
        time.sleep(600)  # killed by the test
        return
    go = os.path.join(OUT, "go")
    while not os.path.exists(go):  # the test kills rank 1's worker, then creates it
        time.sleep(0.05)
    tic = time.monotonic()
    error = None
    try:
        kv.push(7, mx.nd.ones((5,)))
        kv.pull(7, out=out)
        out.asnumpy()
    except mx.MXNetError as err:
        error = str(err)
    write(0, error=error, seconds=time.monotonic() - tic)


def unequal():
    """Rank r runs 3 + 3r sync rounds; a rank that is done leaves (its process exits) and
    the others' rounds go on without it."""
    kv = mx.kv.create("dist_sync")
    kv.init(1, mx.nd.zeros((3,)))
    out = mx.nd.zeros((3,))
    values = []
    for _ in range(3 + 3 * kv.rank):
        kv.push(1, mx.nd.ones((3,)) * (kv.rank + 1))
        kv.pull(1, out=out)
        values.append(float(out.asnumpy()[0]))
    write(kv.rank, values=values)


def sparse():
    """row_sparse pushes from both ranks (rank r stores rows {r, 2}) are summed on the
    shards; each rank pulls the whole value and row_sparse_pulls rows [2, 3]."""
    kv = mx.kv.create("dist_sync")
    r = kv.rank
    kv.init("emb", mx.nd.zeros((4, 3), stype="row_sparse"))
    grad = np.zeros((4, 3), dtype=np.float32)
    grad[[r, 2]] = r + 1
    kv.push("emb", mx.nd.array(grad).tostype("row_sparse"))
    dense = mx.nd.zeros((4, 3))
    kv.pull("emb", out=dense)
    rows = mx.nd.zeros((4, 3), stype="row_sparse")
    kv.row_sparse_pull("emb", out=rows, row_ids=mx.nd.array([3, 2], dtype=np.int64))
    write(r, dense=dense.asnumpy().tolist(), rows=rows.asnumpy().tolist(),
          row_ids=rows.indices.asnumpy().tolist(), stype=rows.stype)


if __name__ == "__main__":
    {"hang": hang, "init": init_every_rank, "train_sync": train_sync,
     "train_async": train_async, "states": optimizer_states,
     "module_checkpoint": module_checkpoint, "killed": killed_worker,
     "unequal": unequal, "sparse": sparse}[sys.argv[1]]()
