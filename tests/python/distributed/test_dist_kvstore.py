"""Distributed training through the Python client (issue 11), with real processes on
loopback: two mxgrid-kvstore shards, two mxgrid-workers (each the parameter-server client of
its rank) and one process per rank running a scenario of ranks.py. Every rank process has a
timeout: a hang fails the test instead of hanging the suite.
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import dist_helpers as dh

pytestmark = pytest.mark.skipif(bool(dh.missing_binaries()),
                                reason="server binaries not built: %s (bazel build "
                                "//services/...)" % dh.missing_binaries())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two workers and two shards, shared by the tests (each test runs its own job)."""
    c = dh.start_cluster(tmp_path_factory.mktemp("dist-cluster"))
    yield c
    ended = c.stop()
    crashed = {n: rc for n, (rc, killed) in ended.items() if rc not in (0, -15) or killed}
    assert not crashed, "servers did not stop cleanly: %s (logs in %s)" % (crashed, c.log_dir)


def test_pull_waits_for_the_late_rank(cluster, tmp_path):
    """Rank 0 pushes and pulls at once, rank 1 pushes 2 s later: rank 0's pull returns the
    sum once rank 1 has pushed (it used to hang)."""
    res = dh.run_ok(cluster, "hang", tmp_path, dh.new_job("hang"), 2, timeout=45)
    for r in (0, 1):
        assert res[r]["num_workers"] == 2
        np.testing.assert_array_equal(res[r]["value"], np.full((2, 3), 3.0))
    assert res[0]["seconds"] >= 1.5, "rank 0's pull returned before rank 1 pushed"


def test_every_rank_inits_rank0_wins(cluster, tmp_path):
    res = dh.run_ok(cluster, "init", tmp_path, dh.new_job("init"), 2, timeout=60)
    for r in (0, 1):
        assert res[r]["rank"] == r and res[r]["rank2"] == r and res[r]["num_workers"] == 2
        assert res[r]["a"] == [10.0] * 3
        assert res[r]["b"] == [[20.0, 20.0], [20.0, 20.0]]
        assert res[r]["big_exact"], "rank %d: the split big array did not reassemble" % r
        assert res[r]["k5"] == [50.0] * 4 and res[r]["k9"] == [90.0] * 4


def test_row_sparse_push_and_row_sparse_pull(cluster, tmp_path):
    res = dh.run_ok(cluster, "sparse", tmp_path, dh.new_job("sparse"), 2, timeout=60)
    want = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3], [0, 0, 0]], dtype=np.float32)
    for r in (0, 1):
        np.testing.assert_array_equal(res[r]["dense"], want)
        assert res[r]["stype"] == "row_sparse" and res[r]["row_ids"] == [2, 3]
        np.testing.assert_array_equal(res[r]["rows"], want * [[0], [0], [1], [1]])


def _weights(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_sync_training_equals_one_worker_with_twice_the_batch(cluster, tmp_path, optimizer):
    """1 worker x batch 2B and 2 workers x batch B see the same examples per round: with
    rescale_grad = 1/(B x num_workers) the weights agree after every round."""
    steps, global_batch = 6, 32
    one = dh.Ranks(cluster, "train_sync", tmp_path / "one", dh.new_job("one-" + optimizer), 1,
                   args=(optimizer, global_batch, steps), timeout=90)
    two = dh.Ranks(cluster, "train_sync", tmp_path / "two", dh.new_job("two-" + optimizer), 2,
                   args=(optimizer, global_batch, steps), timeout=90)
    one.wait_ok()
    two.wait_ok()
    assert one.result(0)["rescale_grad"] == pytest.approx(1.0 / global_batch)
    assert two.result(0)["rescale_grad"] == pytest.approx(1.0 / global_batch)
    # update_metric after update (the values the update's step brought back): every example.
    assert one.result(0)["examples"] == steps * global_batch
    assert two.result(1)["examples"] == steps * global_batch // 2
    w1 = _weights(tmp_path / "one" / "rank0.npz")
    w2 = [_weights(tmp_path / "two" / ("rank%d.npz" % r)) for r in (0, 1)]
    assert set(w1) == set(w2[0]) == set(w2[1]) and len(w1) == steps * 4
    initial = None
    for key in sorted(w1):
        np.testing.assert_array_equal(w2[0][key], w2[1][key],
                                      err_msg="ranks differ at %s" % key)
        np.testing.assert_allclose(w2[0][key], w1[key], rtol=1e-4, atol=2e-5,
                                   err_msg="2 x B and 1 x 2B differ at %s" % key)
        if key.startswith("s0/fc1_weight"):
            initial = w1[key]
    last = w1["s%d/fc1_weight" % (steps - 1)]
    assert not np.allclose(initial, last), "the weights did not change: nothing was tested"


def test_async_training_reaches_95_percent(cluster, tmp_path):
    res = dh.run_ok(cluster, "train_async", tmp_path, dh.new_job("async"), 2, args=(12,),
                    timeout=90)
    print("dist_async held-out accuracy: %.4f" % res[0]["accuracy"])
    assert res[0]["accuracy"] >= 0.95, res[0]


def test_optimizer_states_save_and_load(cluster, tmp_path):
    res = dh.run_ok(cluster, "states", tmp_path, dh.new_job("states"), 2, timeout=45)
    # SGD lr 0.1, momentum 0.9, the round's gradient 2 (two ranks push ones):
    # round 1 mom -0.2 -> w -0.2; round 2 mom -0.38 -> w -0.58; state of round 1 loaded;
    # round 3 mom 0.9 * -0.2 - 0.2 = -0.38 -> w -0.96 (without the load: -1.122).
    for r in (0, 1):
        np.testing.assert_allclose([v[0] for v in res[r]["values"]], [-0.2, -0.58, -0.96],
                                   rtol=1e-5)
        assert "set_optimizer" in res[r]["refused"]
    saved = res[0]["saved"]
    mom = [k for k in saved if k.startswith("w/") and not k.endswith("/count")]
    assert len(mom) == 1, sorted(saved)
    np.testing.assert_allclose(saved[mom[0]], [-0.2] * 4, rtol=1e-5)
    assert any(k.startswith("v/") for k in saved), sorted(saved)


def test_module_checkpoint_with_optimizer_states(cluster, tmp_path):
    """save_checkpoint(save_optimizer_states=True) of a dist Module and Module.load(...,
    load_optimizer_states=True) into a new job: the next step matches the original job's
    (it would not with the momentum reset)."""
    res = dh.run_ok(cluster, "module_checkpoint", tmp_path, dh.new_job("ckpt"), 2, timeout=60)
    names = res[0]["states"]
    assert names and all(n.split("/")[0] in ("fc1_weight", "fc1_bias", "fc2_weight",
                                              "fc2_bias") for n in names), names
    for r in (0, 1):
        assert res[r]["max_diff"] < 1e-6, res[r]


def test_unequal_batch_counts_finish(cluster, tmp_path):
    res = dh.run_ok(cluster, "unequal", tmp_path, dh.new_job("unequal"), 2, timeout=45)
    assert res[0]["values"] == [3.0] * 3
    # Rounds 4..6 have only rank 1 (rank 0 left when its process ended).
    assert res[1]["values"] == [3.0] * 3 + [2.0] * 3


def test_killed_worker_fails_the_others_cleanly(tmp_path):
    """SIGKILL rank 1's worker (and script): rank 0's next pull fails with an error naming
    rank 1 within the heartbeat timeout, and nothing hangs."""
    heartbeat = 3.0
    c = dh.start_cluster(tmp_path / "cluster")
    try:
        ranks = dh.Ranks(c, "killed", tmp_path / "out", dh.new_job("killed"), 2,
                         env={"MXGRID_KV_HEARTBEAT_TIMEOUT": str(heartbeat)}, timeout=60)
        deadline = time.monotonic() + 45
        while not all(os.path.exists(tmp_path / "out" / ("ready%d" % r)) for r in (0, 1)):
            assert time.monotonic() < deadline, "ranks did not get ready"
            assert all(p.poll() is None for p in ranks.procs), ranks.wait()
            time.sleep(0.05)
        worker1 = dict(c.processes)["worker1"]
        worker1.send_signal(signal.SIGKILL)
        worker1.wait(10)
        ranks.kill(1)
        (tmp_path / "out" / "go").touch()
        results = ranks.wait()
        assert results[0][0] == 0, results[0][2][-3000:]
        res = ranks.result(0)
        assert res["error"] is not None, "rank 0's pull succeeded without rank 1"
        assert "rank 1" in res["error"], res["error"]
        assert res["seconds"] < heartbeat + 8.0, res
    finally:
        c.stop()


def test_launch_trains_digits(tmp_path):
    """tools/launch -n 2 -s 2 python examples/train_digits.py --kv-store dist_sync."""
    env = dh.base_env()
    proc = subprocess.run(
        [sys.executable, os.path.join(dh.ROOT, "tools", "launch"), "-n", "2", "-s", "2",
         "--log-dir", str(tmp_path), "python",  # the virtualenv's, first on the PATH
         os.path.join(dh.ROOT, "examples", "train_digits.py"), "--kv-store", "dist_sync"],
        env=env, capture_output=True, text=True, timeout=150)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    acc = [l for l in proc.stdout.splitlines() if l.startswith("[rank 0] held-out accuracy")]
    assert acc, proc.stdout[-3000:]
    assert float(acc[0].split(":")[1].split()[0]) >= 0.95
    assert not any(l.startswith("[rank 1] held-out") for l in proc.stdout.splitlines())
