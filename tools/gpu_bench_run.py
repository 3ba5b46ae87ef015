#!/usr/bin/env python3
"""Runs the GPU benchmarks the fair way on a GPU machine: tests/bench/gpu_bench (mxgrid's C++
core) and tests/bench/torch_gpu_peer.py (PyTorch eager), each in its own fresh process, runs
alternated (the order flips every round), medians with their spread. Writes RUN_DIR/medians.jsonl
rows for tools/bench_report.py --partial (machine: the GPU's name) and prints a table.

Usage: gpu_bench_run.py GPU_BENCH_BINARY RUN_DIR [--runs N]
"""
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "tests", "bench", "torch_gpu_peer.py")

# (row name, unit, mxgrid metric, peer name, peer metric, scale): both metrics are
# throughputs (higher is better) after multiplying by `scale` (ms -> per second figures).
ROWS = [
    ("SGEMM through FullyConnected forward, 8192x8192x8192 + bias, float32 (target >= 0.95)",
     "TFLOP/s", "sgemm_tflops", "PyTorch torch.addmm (F.linear's work), float32, no TF32",
     "torch_sgemm_tflops", None),
    ("SGEMM through FullyConnected forward, 8192x8192x8192 + bias, TF32 "
     "(MXGRID_GPU_ALLOW_TF32=1)", "TFLOP/s", "sgemm_tf32_tflops",
     "PyTorch torch.addmm with allow_tf32", "torch_sgemm_tf32_tflops", None),
    ("Convolution forward+backward, batch 64, 64x56x56 -> 64 3x3 pad 1, float32 "
     "(target >= 0.95)", "passes/s", "conv_fwd_bwd_ms",
     "PyTorch F.conv2d + backward (cuDNN, no TF32)", "torch_conv_fwd_bwd_ms", 1000.0),
    ("MLP 784-128-64-10 training step (fwd + bwd + SGD), batch 128 (target >= 0.9)",
     "samples/s", "mlp128_step_ms", "PyTorch eager (nn.Linear, cross_entropy, optim.SGD)",
     "torch_mlp128_step_ms", 128000.0),
    ("MLP 784-128-64-10 training step (fwd + bwd + SGD), batch 8192 (target >= 0.9)",
     "samples/s", "mlp8192_step_ms", "PyTorch eager (nn.Linear, cross_entropy, optim.SGD)",
     "torch_mlp8192_step_ms", 8192000.0),
    ("LeNet training step (fwd + bwd + SGD), batch 128 (target >= 0.9)", "samples/s",
     "lenet128_step_ms", "PyTorch eager (Conv2d, max_pool2d, optim.SGD)",
     "torch_lenet128_step_ms", 128000.0),
    ("LeNet training step (fwd + bwd + SGD), batch 1024 (target >= 0.9)", "samples/s",
     "lenet1024_step_ms", "PyTorch eager (Conv2d, max_pool2d, optim.SGD)",
     "torch_lenet1024_step_ms", 1024000.0),
    ("upload 256 MiB from pageable host memory into a GPU NDArray (target >= 0.8)", "GB/s",
     "upload_gbps", "cudaMemcpy from pinned memory (PyTorch copy_)", "torch_upload_gbps", None),
    ("download 256 MiB from a GPU NDArray into pageable host memory (target >= 0.8)", "GB/s",
     "download_gbps", "cudaMemcpy into pinned memory (PyTorch copy_)", "torch_download_gbps",
     None),
]


def run(argv, env=None):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, timeout=600)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit("gpu_bench_run: %s exited with %d" % (argv, proc.returncode))
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            out[obj["metric"]] = obj["value"]
    return out


def gpu_name():
    try:
        name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              stdout=subprocess.PIPE, text=True).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        name = "GPU"
    return "%s, %d host cores" % (name, os.cpu_count())


def main():
    binary, run_dir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    os.makedirs(run_dir, exist_ok=True)
    tf32_env = dict(os.environ, MXGRID_GPU_ALLOW_TF32="1")
    sides = {
        "mxgrid": [lambda: run([binary]), lambda: run([binary], tf32_env)],
        "peer": [lambda: run([sys.executable, PEER]), lambda: run([sys.executable, PEER, "tf32"])],
    }
    samples = {}
    for r in range(runs):
        order = ["mxgrid", "peer"] if r % 2 == 0 else ["peer", "mxgrid"]
        for side in order:
            for fn in sides[side]:
                for metric, value in fn().items():
                    samples.setdefault(metric, []).append(value)
        print("round %d done" % (r + 1), flush=True)
    machine = gpu_name()
    rows = []
    for name, unit, mine, peer, peer_metric, scale in ROWS:
        if mine not in samples or peer_metric not in samples:
            continue
        conv = (lambda v: scale / v) if scale else (lambda v: v)
        m = [conv(v) for v in samples[mine]]
        p = [conv(v) for v in samples[peer_metric]]
        rows.append({"name": name, "unit": unit, "mxgrid": statistics.median(m), "peer": peer,
                     "peer_value": statistics.median(p), "better": "higher",
                     "spread": {"mxgrid": [min(m), max(m)], "peer": [min(p), max(p)],
                                "runs": min(len(m), len(p))},
                     "machine": machine})
    with open(os.path.join(run_dir, "medians.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    with open(os.path.join(run_dir, "samples.json"), "w") as f:
        json.dump(samples, f, indent=1)
    print("\n%-80s %12s %12s %7s" % ("benchmark (" + machine + ")", "mxgrid", "PyTorch", "ratio"))
    for row in rows:
        print("%-80s %12.4g %12.4g %7.3f" % (row["name"][:80], row["mxgrid"], row["peer_value"],
                                             row["mxgrid"] / row["peer_value"]))
    if "cuda_malloc_per_step" in samples:
        print("cudaMalloc calls per MLP training step once warm (target 0): %g"
              % max(samples["cuda_malloc_per_step"]))


if __name__ == "__main__":
    main()
