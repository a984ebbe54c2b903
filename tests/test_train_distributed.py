"""Data-parallel training through the engine: one optimiser step of `morebench.train.train_step` in 2 real gloo
processes (DistributedDataParallel, the loss's gathered negatives) on the two halves of a batch equals the
1-process step on the whole batch — loss, gradients, updated weights and τ within 1e-6 (float64); and (slow) a
2-process `torchrun -m morebench.train` run of a few steps with rank-0-only logs and checkpoints.

BatchNorm layers run on their running statistics and dropout/DropKey are off in the step test: per-rank batch
statistics (CPU has no SyncBatchNorm; on GPU `train` converts BN to SyncBatchNorm) and per-rank random masks are
the two things that legitimately differ between the runs."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from morebench.model import create_model, create_objective
from morebench.train import EpochBatches, train_step
from morebench.utils import seed_everything

ROOT = Path(__file__).resolve().parents[1]
WORLD, N, TOL = 2, 8, 1e-6
OVR = {"xray__depth": 1, "ecg__depth": 1, "xray__dropkey_ratio": 0.0, "ecg__dropkey_ratio": 0.0,
       "text__lora_dropout": 0.0}


def _model() -> nn.Module:
    seed_everything(0)
    m = create_model("tiny", **OVR).double().train()
    for mod in m.modules():  # deterministic and batch-independent: see the module docstring
        if isinstance(mod, (nn.modules.batchnorm._BatchNorm, nn.Dropout)):
            mod.eval()
    m.text.eval()  # BERT's attention dropout is an SDPA argument (dropout_p when training), not a Dropout module
    return m


def _batch() -> dict:
    g = torch.Generator().manual_seed(1)
    return {"xray": torch.randn(N, 3, 112, 112, generator=g, dtype=torch.float64),
            "ecg": torch.randn(N, 12, 1000, generator=g, dtype=torch.float64),
            "input_ids": torch.randint(1000, 5000, (N, 12), generator=g),
            "attention_mask": torch.ones(N, 12, dtype=torch.long), "labels": torch.zeros(N, 14, dtype=torch.float64),
            "progress": 0.1, "step": 1}


def _half(b: dict, rank: int) -> dict:
    rows = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
    return {k: (v[rows] if isinstance(v, torch.Tensor) else v) for k, v in b.items()}


def _step(model, loss_fn, net, batch) -> dict:
    opt = torch.optim.AdamW(model.param_groups(0.1), lr=1e-3)
    res = train_step(net, loss_fn, opt, [batch], clip_grad=1.0)
    named = dict(model.named_parameters())
    return {"loss": torch.tensor(res["loss"], dtype=torch.float64),
            "grads": {k: p.grad.detach().clone() for k, p in named.items() if p.grad is not None},
            "weights": {k: p.detach().clone() for k, p in named.items()},
            "tau": torch.exp(-model.logit_scale.detach())}


def _worker(rank: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        model = _model()
        net = DistributedDataParallel(model)
        r = _step(model, create_objective(model, world_size=WORLD, rank=rank), net, _half(_batch(), rank))
        loss = r["loss"].clone()
        dist.all_reduce(loss)  # each rank's loss is its rows' mean against the gathered batch
        r["loss"] = loss / WORLD
        torch.save(r, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # 3 model builds in 3 processes: ~40 s on a quiet 2-core machine
def test_two_process_gloo_step_equals_one_process_step_on_the_whole_batch(tmp_path):
    model = _model()
    ref = _step(model, create_objective(model), model, _batch())
    init = f"file://{tmp_path / 'init'}"
    mp.start_processes(_worker, args=(init, str(tmp_path)), nprocs=WORLD, join=True, start_method="spawn")
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        torch.testing.assert_close(got["loss"], ref["loss"], rtol=0, atol=TOL)
        assert got["grads"].keys() == ref["grads"].keys() and len(ref["grads"]) > 20
        assert "logit_scale" in ref["grads"]  # τ is learned, and its gradient is averaged by DDP like any weight
        for k in ref["grads"]:
            torch.testing.assert_close(got["grads"][k], ref["grads"][k], rtol=0, atol=TOL, msg=k)
        for k in ref["weights"]:
            torch.testing.assert_close(got["weights"][k], ref["weights"][k], rtol=0, atol=TOL, msg=k)
        torch.testing.assert_close(got["tau"], ref["tau"], rtol=0, atol=TOL)
    assert not torch.equal(ref["tau"], torch.tensor(0.07, dtype=torch.float64))  # the step moved τ


def test_epoch_batches_shard_one_global_batch_by_rank():
    one = list(EpochBatches(23, 6, seed=3, epoch=1))
    parts = [list(EpochBatches(23, 3, seed=3, epoch=1, rank=r, world=2)) for r in range(2)]
    assert len(parts[0]) == len(parts[1]) == len(one) == 3
    assert all(a + b == c for a, b, c in zip(parts[0], parts[1], one))  # rank 0 then rank 1 = the 1-process batch
    late = [list(EpochBatches(23, 3, seed=3, epoch=1, start=2, rank=r, world=2)) for r in range(2)]
    assert late == [p[2:] for p in parts]  # resume position in global batches


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_torchrun_two_process_cpu_run(tmp_path):
    from morebench.synth.write import write_cohort

    write_cohort(tmp_path / "c", n_patients=30, seed=0, formats=("mimic-ecg", "mimic-cxr"), progress=False)
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "morebench.train", "--preset", "tiny",
           "--data-root", str(tmp_path / "c"), "--out", str(tmp_path / "run"), "--batch-size", "4", "--epochs", "1",
           "--max-steps", "3", "--progress", "false", "--num-workers", "0", "--eval-at-start", "false",
           "--model-overrides", json.dumps({"xray__depth": 1, "ecg__depth": 1})]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())
    assert res.returncode == 0, res.stderr[-3000:]
    steps = pd.read_csv(tmp_path / "run" / "steps.csv")
    assert list(steps.step) == [1, 2, 3]  # one row per step: only rank 0 logs
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["_world_size"] == 2
    assert (tmp_path / "run" / "checkpoints" / "last.txt").read_text().strip() == "step-00000003"
    assert res.stdout.count("best checkpoint:") == 2  # both ranks finish (rank 0's files)
