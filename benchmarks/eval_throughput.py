"""Evaluation throughput: embeddings/s per tower of a preset (untrained weights, random inputs), zero-shot scoring
and chunked retrieval time and peak memory vs gallery size 10^3 … 10^6 (synthetic embeddings). Prints tables;
nothing is asserted.

    .venv/bin/python benchmarks/eval_throughput.py [--preset tiny] [--n 256] [--batch 64] [--max-gallery 1000000]
"""
from __future__ import annotations

import argparse
import platform
import resource
import time
import tracemalloc

import numpy as np
import torch


def embed_rate(preset: str, n: int, batch: int, device: str) -> list[tuple[str, float]]:
    from morebench.eval.embed import embed
    from morebench.model import create_model_and_transforms

    torch.manual_seed(0)
    model, cxr, ecg, _ = create_model_and_transforms(preset)
    model.to(device)
    g = torch.Generator().manual_seed(0)
    rows = []
    for tower, make in (("xray", lambda: torch.randn(cxr.channels, cxr.size, cxr.size, generator=g)),
                        ("ecg", lambda: torch.randn(12, ecg.n_samples, generator=g)),
                        ("text", None)):
        items = [{tower: make()} if make else {"text": f"moderate cardiomegaly, small effusion {i}"} for i in range(n)]
        embed(model, items[:batch], tower, batch_size=batch, progress=False)  # warm-up
        t = time.perf_counter()
        embed(model, items, tower, batch_size=batch, progress=False)
        rows.append((tower, n / (time.perf_counter() - t)))
    return rows


def scoring(max_gallery: int, dim: int = 128) -> list[tuple]:
    from morebench.eval.retrieval import target_ranks, topk_chunked
    from morebench.eval.zeroshot import class_scores

    rng = np.random.default_rng(0)
    prompts = {f"c{c}": rng.normal(size=(5, dim)).astype(np.float32) for c in range(5)}
    q = rng.normal(size=(100, dim)).astype(np.float32)
    rows = []
    g = 1000
    while g <= max_gallery:
        gal = rng.normal(size=(g, dim)).astype(np.float32)
        tracemalloc.start()
        t = time.perf_counter()
        class_scores(gal, prompts, zscore=True)  # chunked over the gallery (65,536 rows at a time)
        zs = time.perf_counter() - t
        _, zpeak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        class_scores(gal, prompts, zscore=True, chunk_size=None)  # one block: the peak it replaces
        _, zpeak_full = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        t = time.perf_counter()
        topk_chunked(q, gal, k=10)
        target_ranks(q, gal, rng.integers(0, g, len(q)))
        rt = time.perf_counter() - t
        tracemalloc.stop()
        # torch allocations bypass tracemalloc: report the live score block instead (query chunk × gallery chunk)
        bound = min(len(q), 1024) * (min(g, 65536) + 10) * 4
        rows.append((g, zs, zpeak / 2**20, zpeak_full / 2**20, rt, bound / 2**20))
        del gal
        g *= 10
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--n", type=int, default=256, help="items embedded per tower")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--max-gallery", type=int, default=10**6)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()},"
          f" device {a.device}")
    print(f"\n## embeddings/s ({a.preset}, batch {a.batch}, {a.n} items, untrained weights, random inputs)")
    for tower, r in embed_rate(a.preset, a.n, a.batch, a.device):
        print(f"{tower:>6}: {r:10.1f} /s")
    print("\n## scoring vs gallery size (dim 128; zero-shot: 5 classes × 5 prompts + z-score; retrieval: 100 queries,"
          " top-10 + target ranks, 65,536-item chunks)")
    print(f"{'gallery':>10} {'zeroshot s':>11} {'zs peak MiB':>12} {'unchunked MiB':>14} {'retrieval s':>12} {'score blk MiB':>13}")
    for g, zs, zp, zf, rt, rp in scoring(a.max_gallery):  # zs peak: numpy (tracemalloc); score blk: the bounded block
        print(f"{g:>10} {zs:>11.4f} {zp:>12.1f} {zf:>14.1f} {rt:>12.3f} {rp:>13.1f}")
    print(f"\nmax RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
