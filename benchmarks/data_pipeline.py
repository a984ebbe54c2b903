"""Data-pipeline throughput: X-ray images/s and ECGs/s cold (decode + preprocess from files) and warm (from the
memory-mapped preprocessing cache, through a DataLoader with and without workers), and SYNTHETIC cohort generation
patients/s. Prints a table; nothing is asserted.

    .venv/bin/python benchmarks/data_pipeline.py [--patients 200] [--workers 2] [--batch 128] [--epochs 3]

Targets (issue 3 §7): warm ≥ 20× cold; ≥ 5,000 ECGs/s and ≥ 1,000 images/s at 224 px from the cache.
The images are the synthetic cohort's JPEGs (smaller than MIMIC-CXR's ~2,500² originals, so real cold decoding is
slower than measured here and the warm/cold ratio larger).
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from morebench.data.cache import (
    CachedECGDataset,
    CachedXrayDataset,
    build_cache,
    collate_batch,
)
from morebench.data.cxr import load_cxr
from morebench.data.ecg import load_ecg
from morebench.data.pairs import build_pair_index
from morebench.synth.write import write_cohort


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


class PerItem(torch.utils.data.Dataset):
    """The same dataset without `__getitems__`: the DataLoader fetches and collates item by item."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return self.ds[i]


def warm_rate(ds, workers: int, batch: int, epochs: int) -> float:
    """Items/s of `epochs` passes over `ds` through a DataLoader (worker start-up excluded)."""
    dl = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0,
                    generator=torch.Generator().manual_seed(0), collate_fn=collate_batch)
    next(iter(dl))  # start workers and page in once, outside the timing
    n, t = 0, time.perf_counter()
    for _ in range(epochs):
        for b in dl:
            n += len(b["id"])
    return _rate(n, time.perf_counter() - t)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=200, help="SYNTHETIC patients to generate")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers for the warm runs")
    ap.add_argument("--batch", type=int, default=128, help="DataLoader batch size")
    ap.add_argument("--epochs", type=int, default=3, help="passes over the cache per warm measurement")
    ap.add_argument("--cold-n", type=int, default=200, help="records read from files for the cold rates")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        t = time.perf_counter()
        write_cohort(d / "cohort", args.patients, seed=0, progress=False)
        gen_s = time.perf_counter() - t
        rows.append(("synthetic cohort generation", "patients/s", _rate(args.patients, gen_s),
                     f"{args.patients} patients in {gen_s:.1f} s"))
        pairs, info, _ = build_pair_index(d / "cohort", notes=False)
        imgs = sorted({str(Path(info["cxr_root"]) / p) for p in pairs["path"]})
        ecgs = sorted({str(Path(info["ecg_root"]) / p) for p in pairs["ecg_path"]})
        with Image.open(imgs[0]) as im:
            img_size = f"{im.size[0]}x{im.size[1]}"
        cold_imgs, cold_ecgs = imgs[: args.cold_n], ecgs[: args.cold_n]
        t = time.perf_counter()
        for p in cold_imgs:
            load_cxr(p)
        cold_x = _rate(len(cold_imgs), time.perf_counter() - t)
        t = time.perf_counter()
        for p in cold_ecgs:
            load_ecg(p)
        cold_e = _rate(len(cold_ecgs), time.perf_counter() - t)
        rows.append(("X-ray cold (decode+resize+CLAHE+norm)", "images/s", cold_x, f"{len(cold_imgs)} JPEGs ~{img_size}"))
        rows.append(("ECG cold (read+resample+baseline+minmax)", "ECGs/s", cold_e, f"{len(cold_ecgs)} WFDB 500 Hz"))
        t = time.perf_counter()
        xc = build_cache(imgs, "xray", cache_dir=d / "cache", progress=False)
        bx = time.perf_counter() - t
        t = time.perf_counter()
        ec = build_cache(ecgs, "ecg", cache_dir=d / "cache", progress=False)
        be = time.perf_counter() - t
        rows.append(("X-ray cache build", "images/s", _rate(len(imgs), bx), f"{len(xc)} cached, {len(xc.failed)} failed"))
        rows.append(("ECG cache build", "ECGs/s", _rate(len(ecgs), be), f"{len(ec)} cached, {len(ec.failed)} failed"))
        t = time.perf_counter()
        build_cache(imgs, "xray", cache_dir=d / "cache", progress=False)
        rows.append(("cache re-open (key check)", "ms", 1e3 * (time.perf_counter() - t),
                     f"hash of config + stats of {len(imgs)} files"))
        xds, eds = CachedXrayDataset(xc), CachedECGDataset(ec)
        for w in (0, args.workers):
            for how, xd, ed in (("batched", xds, eds), ("per-item", PerItem(xds), PerItem(eds))):
                wx = warm_rate(xd, w, args.batch, args.epochs)
                we = warm_rate(ed, w, args.batch, args.epochs)
                rows.append((f"X-ray warm, {how}, {w} workers (224 px, normalised)", "images/s", wx,
                             f"x{wx / cold_x:.0f} cold; target 1000"))
                rows.append((f"ECG warm, {how}, {w} workers", "ECGs/s", we, f"x{we / cold_e:.0f} cold; target 5000"))
    print(f"# data pipeline — {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}")
    w = max(len(r[0]) for r in rows)
    print(f"{'stage':<{w}}  {'unit':<10} {'rate':>10}  note")
    for name, unit, val, note in rows:
        print(f"{name:<{w}}  {unit:<10} {val:>10.1f}  {note}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
