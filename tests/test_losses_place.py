"""PLACE across two real `torch.distributed` processes (gloo, CPU): the pathology-level alignment gathers the other
ranks' observations (its negatives are the global batch), so the ranks' losses averaged must equal the
single-process loss on the concatenated batch, and each rank's input gradients / world size must equal the matching
rows of the single-process gradients (the convention of tests/test_distributed.py: each rank's loss is the mean over
its own rows; the gather carries gradients). Both ranks hold the same number of real sentences per sample pattern,
so per-rank means of the sentence terms average to the global mean. MLCD gathers nothing (its class weights are a
model parameter, its negatives are classes), so it needs no such test."""
from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from morebench.losses_place import PlaceLoss

WORLD, N, K, S, P, D = 2, 6, 3, 4, 5, 4  # 2 ranks × 3 samples; K queries, S sentence slots, P patches, width D
TOL = 1e-9
TIMEOUT_S = 120


def _data():
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    mask_rank = torch.tensor([[True, True, False, False], [True, False, False, False], [True, True, True, True]])
    return dict(xray=r(N, D), text=r(N, D), ecg=r(N, D), place_visual=r(N, K, D), place_text=r(N, S, D),
                place_text_mask=mask_rank.repeat(WORLD, 1), place_patch_pred=r(N, P, 3), place_pixels=r(N, P, 7),
                scale=torch.tensor(math.log(5.0), dtype=torch.float64))


GRAD_KEYS = ("xray", "text", "ecg", "place_visual", "place_text", "place_patch_pred")


def _run(world_size: int, rank: int, n: int):
    data = _data()
    rows = slice(rank * n, (rank + 1) * n)
    feats = {k: (v[rows].clone().requires_grad_(k in GRAD_KEYS) if k != "scale" else v) for k, v in data.items()}
    scale = data["scale"].clone().requires_grad_(True)
    feats.pop("scale")
    feats["logit_scale"] = scale
    loss = PlaceLoss(world_size=world_size, rank=rank)(feats)["loss"]
    loss.backward()
    return loss.detach(), {k: feats[k].grad for k in GRAD_KEYS}, scale.grad.detach()


def _worker(rank: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))
    try:
        loss, grads, sgrad = _run(WORLD, rank, N // WORLD)
        dist.all_reduce(loss)
        dist.all_reduce(sgrad)  # what DDP does to a model-owned scale (sum, then / world below)
        torch.save(dict(loss=loss / WORLD, grads={k: g / WORLD for k, g in grads.items()}, sgrad=sgrad / WORLD),
                   Path(tmp) / f"rank{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@pytest.fixture(scope="module")
def rank_results():
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        ctx = mp.start_processes(_worker, args=(tmp,), nprocs=WORLD, join=False, start_method="spawn")
        deadline = time.monotonic() + TIMEOUT_S
        try:
            while not ctx.join(timeout=1):
                if time.monotonic() > deadline:
                    pytest.fail(f"2-process gloo run did not finish within {TIMEOUT_S} s")
        finally:
            for p in ctx.processes:
                if p.is_alive():
                    p.kill()
        yield [torch.load(Path(tmp) / f"rank{r}.pt") for r in range(WORLD)]


def test_place_two_ranks_equal_one_process(rank_results):
    loss, grads, sgrad = _run(1, 0, N)
    n = N // WORLD
    for r, got in enumerate(rank_results):
        assert abs(got["loss"].item() - loss.item()) <= TOL, (r, got["loss"].item(), loss.item())
        for k in GRAD_KEYS:
            assert torch.allclose(got["grads"][k], grads[k][r * n:(r + 1) * n], atol=TOL, rtol=0), (r, k)
        assert torch.allclose(got["sgrad"], sgrad, atol=TOL, rtol=0), (r, got["sgrad"], sgrad)
    assert all(grads[k].abs().sum() > 0 for k in GRAD_KEYS) and sgrad.abs() > 0, "degenerate test: no gradient"


def test_place_single_process_uses_other_samples_as_negatives():
    # the PCMA term of sample 0 changes when another sample's visual observations change (they are its negatives)
    data = _data()
    feats = {k: v for k, v in data.items() if k != "scale"}
    base = PlaceLoss(global_weight=0, ecg_weight=0, cce_weight=0)(feats)["loss"]
    moved = dict(feats, place_visual=feats["place_visual"].clone())
    moved["place_visual"][3] += 1.0
    assert not torch.isclose(base, PlaceLoss(global_weight=0, ecg_weight=0, cce_weight=0)(moved)["loss"])
