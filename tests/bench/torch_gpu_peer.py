"""PyTorch side of tests/bench/gpu_bench.cc: the same work on the same GPU, as PyTorch's users
run it (eager mode, default settings: no cudnn.benchmark, float32 matmuls without TF32 unless
the metric says tf32). Prints {"metric": "torch_...", "value": ..., "unit": ...} lines.

Usage: torch_gpu_peer.py [sgemm|conv|mlp|lenet|transfer|tf32]
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DEV = torch.device("cuda:0")


def emit(metric, value, unit):
    print(json.dumps({"metric": metric, "value": value, "unit": unit}), flush=True)


def time_ms(fn, warmup, rounds, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    per_call = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        torch.cuda.synchronize()
        per_call.append((time.perf_counter() - start) * 1e3 / iters)
    return statistics.median(per_call)


def sgemm(tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    n = 8192
    x = torch.rand(n, n, device=DEV) * 2 - 1
    w = torch.rand(n, n, device=DEV) * 2 - 1
    b = torch.rand(n, device=DEV) * 2 - 1
    y = torch.empty(n, n, device=DEV)

    def step():
        torch.addmm(b, x, w.t(), out=y)  # F.linear's work: x w^T + b
    ms = time_ms(step, 3, 5, 5)
    emit("torch_sgemm_tf32_tflops" if tf32 else "torch_sgemm_tflops", 2.0 * n ** 3 / (ms * 1e-3) / 1e12,
         "TFLOP/s")


def conv():
    torch.backends.cudnn.allow_tf32 = False
    x = (torch.rand(64, 64, 56, 56, device=DEV) * 0.2 - 0.1).requires_grad_()
    w = (torch.rand(64, 64, 3, 3, device=DEV) * 0.2 - 0.1).requires_grad_()
    b = (torch.rand(64, device=DEV) * 0.2 - 0.1).requires_grad_()
    head = torch.rand(64, 64, 56, 56, device=DEV) * 2 - 1

    def step():
        y = F.conv2d(x, w, b, padding=1)
        y.backward(head)
    emit("torch_conv_fwd_bwd_ms", time_ms(step, 3, 5, 10), "ms")


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = (torch.nn.Linear(784, 128), torch.nn.Linear(128, 64),
                                        torch.nn.Linear(64, 10))

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = torch.nn.Conv2d(1, 20, 5), torch.nn.Conv2d(20, 50, 5)
        self.fc1, self.fc2 = torch.nn.Linear(50 * 4 * 4, 500), torch.nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(torch.tanh(self.conv1(x)), 2, 2)
        x = F.max_pool2d(torch.tanh(self.conv2(x)), 2, 2)
        return self.fc2(torch.tanh(self.fc1(x.flatten(1))))


def training(name, model, shape, iters):
    model = model.to(DEV)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    data = torch.rand(*shape, device=DEV) * 2 - 1
    label = torch.arange(shape[0], device=DEV) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(data), label, reduction="sum")
        loss.backward()
        opt.step()
    emit("torch_%s_step_ms" % name, time_ms(step, 10, 5, iters), "ms")


def transfers():
    nbytes = 256 << 20
    pinned = torch.ones(nbytes // 4, pin_memory=True)
    back = torch.empty(nbytes // 4, pin_memory=True)
    dev = torch.empty(nbytes // 4, device=DEV)
    up = time_ms(lambda: dev.copy_(pinned), 2, 7, 1)
    down = time_ms(lambda: back.copy_(dev), 2, 7, 1)
    emit("torch_upload_gbps", nbytes / (up * 1e-3) / 1e9, "GB/s")
    emit("torch_download_gbps", nbytes / (down * 1e-3) / 1e9, "GB/s")


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if only == "tf32":
        sgemm(True)
        return
    if only in ("", "sgemm"):
        sgemm(False)
    if only in ("", "conv"):
        conv()
    if only in ("", "mlp"):
        training("mlp128", Mlp(), (128, 784), 200)
        training("mlp8192", Mlp(), (8192, 784), 50)
    if only in ("", "lenet"):
        training("lenet128", LeNet(), (128, 1, 28, 28), 50)
        training("lenet1024", LeNet(), (1024, 1, 28, 28), 20)
    if only in ("", "transfer"):
        transfers()


if __name__ == "__main__":
    main()
