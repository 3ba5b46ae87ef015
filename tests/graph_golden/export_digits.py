#!/usr/bin/env python3
"""Exports scikit-learn's bundled 8x8 digits data set as MXNet .params files.

Run from the repository root with the project venv:
    .venv/bin/python tests/graph_golden/export_digits.py

Writes tests/graph_golden/data/digits/{train,test}.params, each an mx.nd.save dict with
    "data"  : (N, 64) float32, pixel intensities scaled from 0..16 to [0, 1]
    "label" : (N,)    float32, the digit class 0..9
The 1,797 samples are shuffled with a fixed seed and split 1,437 train / 360 test.
load_digits reads a file shipped inside scikit-learn, so no network access is needed.
"""
import os

import mxnet as mx
import numpy as np
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "digits")
SEED = 20240601
N_TRAIN = 1437
N_TEST = 360


def main():
    digits = load_digits()
    x = digits.data.astype(np.float32) / 16.0   # (1797, 64), values in [0, 1]
    y = digits.target.astype(np.float32)        # (1797,)
    assert x.shape[0] == N_TRAIN + N_TEST

    order = np.random.RandomState(SEED).permutation(x.shape[0])
    x, y = x[order], y[order]

    os.makedirs(OUT, exist_ok=True)
    splits = {"train": slice(0, N_TRAIN), "test": slice(N_TRAIN, N_TRAIN + N_TEST)}
    for name, sl in splits.items():
        path = os.path.join(OUT, name + ".params")
        mx.nd.save(path, {"data": mx.nd.array(x[sl], dtype=np.float32),
                          "label": mx.nd.array(y[sl], dtype=np.float32)})
        print("wrote", path, x[sl].shape)


if __name__ == "__main__":
    main()
