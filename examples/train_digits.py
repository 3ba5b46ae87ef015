#!/usr/bin/env python3
"""Trains an MLP (64-128-64-10) on scikit-learn's 8x8 digits with mx.mod.Module.fit through
mxgrid, prints the held-out accuracy, then saves a checkpoint, reloads it and checks that the
reloaded model scores the same.

    PYTHONPATH=clients/python .venv/bin/python examples/train_digits.py

Connects through MXGRID_WORKER / MXGRID_COMPILER when set, else starts an embedded local
cluster from the built binaries (bazel build //services/...).

Distributed, as MXNet's examples: with ``--kv-store dist_sync`` (or dist_async) each rank
trains on its part of the training set (part kv.rank of kv.num_workers) and the optimizer
runs on the kvstore shards; rank 0 prints the held-out accuracy and checks the checkpoint:

    tools/launch -n 2 -s 2 .venv/bin/python examples/train_digits.py --kv-store dist_sync
"""
import argparse
import logging
import os
import tempfile

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import mxgrid as mx


def mlp():
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, num_hidden=128, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def accuracy(mod, it, labels):
    prob = mod.predict(it).asnumpy()
    return float((prob.argmax(axis=1) == labels).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kv-store", default="local",
                        help="local (default), dist_sync, dist_async, dist_device_sync")
    parser.add_argument("--num-epochs", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    np.random.seed(0)  # initial weights and shuffling
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixels 0..16 -> [0, 1]
    y = digits.target.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)
    kv = mx.kv.create(args.kv_store)
    # This rank's part of the training set (MXNet's num_parts / part_index).
    x_train = np.array_split(x_train, kv.num_workers)[kv.rank]
    y_train = np.array_split(y_train, kv.num_workers)[kv.rank]
    train = mx.io.NDArrayIter(x_train, y_train, batch_size=32, shuffle=True)
    test = mx.io.NDArrayIter(x_test, y_test, batch_size=32)

    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.fit(train, eval_data=test, eval_metric="acc", num_epoch=args.num_epochs, kvstore=kv,
            initializer=mx.init.Xavier(), optimizer="sgd",
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9})
    if kv.rank != 0:
        return
    acc = accuracy(mod, test, y_test)
    print("held-out accuracy: %.4f (%d test images)" % (acc, len(y_test)))
    assert acc >= 0.95, "expected >= 95%% held-out accuracy, got %.4f" % acc

    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "digits-mlp")
        mod.save_checkpoint(prefix, args.num_epochs)
        loaded = mx.mod.Module.load(prefix, args.num_epochs, context=mx.cpu())
        loaded.bind(data_shapes=test.provide_data, for_training=False)
        acc2 = accuracy(loaded, test, y_test)
    print("reloaded checkpoint accuracy: %.4f" % acc2)
    assert acc2 == acc, "reloaded model scores %.4f, trained one %.4f" % (acc2, acc)


if __name__ == "__main__":
    main()
