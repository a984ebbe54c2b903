"""ECG pipeline speed, side by side on the same files: the reference pipeline vs ours, end to end (read + preprocess).

    .venv/bin/python benchmarks/ecg_pipeline.py [--root ../shared/data/ptbxl] [--repeat 3] [--max-records 400]

The reference is what MoRE's official code does per record: `wfdb.rdsamp`, leads reordered by name, NaN -> 0,
`scipy.signal.resample_poly`, crop, baseline removal with `scipy.signal.medfilt` lead by lead (two stages), per-lead
min-max. Ours: `read_ecg` (the fast, exact WFDB reader) + `preprocess_ecg` (numba baseline filter) one record at a
time (`load_ecg`), and batched (`load_ecg_batch`). Both are timed on the same PTB-XL files at 100 Hz and 500 Hz
(`records100`, `records500`; synthetic records written with `morebench.synth` when the folder is absent), best of
`--repeat` runs, the two pipelines interleaved so that load changes hit both. Also printed: records/s through a torch
DataLoader over our dataset class (`ECGIndexDataset`) with 0 and 2 workers, numba's first-call cost of the baseline
filter in a fresh process on an empty cache (cold: compile) and on the cache the cold run wrote (warm: load), the
reader alone (wfdb.rdsamp vs read_ecg), and the load average. Not a test: nothing is asserted except that both
pipelines give the same arrays (to 1e-5) and the fast filter equals scipy's exactly (second table).
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import scipy.ndimage
import scipy.signal
import wfdb

from morebench.data.ecg import (
    HAVE_NUMBA,
    LEADS,
    ECGPreprocessConfig,
    baseline_kernels,
    load_ecg,
    load_ecg_batch,
    read_ecg,
    remove_baseline,
    resample_ecg,
)
from morebench.utils import shared_data_dir


def load_avg() -> str:
    la = os.getloadavg()
    return f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f}"


def medfilt_loop_baseline(x: np.ndarray, fs: float) -> np.ndarray:
    """The reference: MoRE's baseline removal with scipy.signal.medfilt, lead by lead."""
    k1, k2 = baseline_kernels(fs)
    rows = x.reshape(-1, x.shape[-1])
    out = np.stack([r - scipy.signal.medfilt(scipy.signal.medfilt(r, k1), k2) for r in rows])
    return out.reshape(x.shape)


def ndimage_2d_baseline(x: np.ndarray, fs: float) -> np.ndarray:
    """The 'obvious' vectorisation: scipy.ndimage.median_filter with size (1, ..., k) on the whole batch."""
    k1, k2 = baseline_kernels(fs)

    def mf(v: np.ndarray, k: int) -> np.ndarray:
        return scipy.ndimage.median_filter(v, size=(1,) * (x.ndim - 1) + (k,), mode="constant", cval=0.0)

    return x - mf(mf(x, k1), k2)


def reference_load(path: Path, cfg: ECGPreprocessConfig) -> np.ndarray:
    """The reference pipeline for one record: wfdb.rdsamp + per-lead scipy medfilt (MoRE's official steps)."""
    sig, fields = wfdb.rdsamp(str(path)[:-4])
    names = [str(n).lower() for n in fields["sig_name"]]
    x = np.nan_to_num(sig[:, [names.index(lead.lower()) for lead in LEADS]].T)
    ratio = Fraction(cfg.fs).limit_denominator(10_000) / Fraction(fields["fs"]).limit_denominator(10_000)
    if ratio != 1:
        x = scipy.signal.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)
    x = x[:, : cfg.n_samples]
    x = medfilt_loop_baseline(x, cfg.fs)
    lo, hi = x.min(-1, keepdims=True), x.max(-1, keepdims=True)
    return (2 * (x - lo) / (hi - lo + 1e-10) - 1).astype(np.float32)


def numba_first_call() -> tuple[float, float]:
    """Seconds of the first remove_baseline call in a fresh process: on an empty cache (cold), then on its result (warm)."""
    code = ("import time, numpy as np; from morebench.data.ecg_filter import remove_baseline; t = time.perf_counter(); "
            "remove_baseline(np.zeros((2, 12, 300)), 100); print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NUMBA_CACHE_DIR": tmp}
        runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
                for _ in range(2)]
    return float(runs[0].stdout.split()[-1]), float(runs[1].stdout.split()[-1])


def synthetic_records(folder: Path, n: int) -> dict[str, list[Path]]:
    """SYNTHETIC PTB-XL-like records (format 16, gain 1000/mV) at 100 and 500 Hz, when the real ones are absent."""
    from morebench.synth.ecg_formats import PTBXL_GAIN, PTBXL_LEADS, write_wfdb

    rng = np.random.default_rng(0)
    out = {}
    for fs in (100, 500):
        paths = []
        for i in range(n):
            t = np.arange(10 * fs) / fs
            x = 0.3 * np.sin(2 * np.pi * rng.uniform(0.5, 2, (12, 1)) * t) + 0.05 * rng.standard_normal((12, t.size))
            write_wfdb(folder / f"records{fs}" / f"{i:05d}", x, fs, PTBXL_LEADS, PTBXL_GAIN)
            paths.append(folder / f"records{fs}" / f"{i:05d}.hea")
        out[f"{fs} Hz"] = paths
    return out


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def dataloader_rate(root: Path, paths: list[Path], cfg: ECGPreprocessConfig, workers: int, repeat: int) -> float:
    """Records/s through torch's DataLoader (batch 32) over our ECG dataset class: best of `repeat` epochs after a
    warm-up epoch (workers are forked once and kept, as in training)."""
    import multiprocessing

    from torch.utils.data import DataLoader

    from morebench.data.base import ECGIndexDataset, collate
    index = pd.DataFrame({"path": [str(p.relative_to(root))[:-4] for p in paths], "id": range(len(paths))})
    ds = ECGIndexDataset(root, index, cfg=cfg, strict=True)
    ctx = multiprocessing.get_context("fork") if workers else None
    dl = DataLoader(ds, batch_size=32, num_workers=workers, collate_fn=collate, multiprocessing_context=ctx,
                    persistent_workers=workers > 0)
    best = np.inf
    sum(len(b["ecg"]) for b in dl)  # warm-up epoch: starts the workers (kept for the timed epochs)
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = sum(len(b["ecg"]) for b in dl)
        best = min(best, time.perf_counter() - t0)
    assert n == len(paths)
    return n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = shared_data_dir(Path(__file__).parent)
    ap.add_argument("--root", type=Path, default=default / "ptbxl" if default else None, help="PTB-XL folder")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best is reported)")
    ap.add_argument("--max-records", type=int, default=400, help="at most this many records per rate")
    ap.add_argument("--no-filter-table", action="store_true", help="skip the baseline-filter table")
    ap.add_argument("--naive", action="store_true", help="also time ndimage.median_filter(size=(1,k)) at 500 Hz (slow)")
    args = ap.parse_args()

    print(f"# ECG pipeline benchmark  (python {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, wfdb {wfdb.__version__}, {os.cpu_count()} CPUs, numba {'yes' if HAVE_NUMBA else 'no'})")
    print(f"load average at start: {load_avg()}")
    cfg = ECGPreprocessConfig()  # the paper's: 100 Hz, 10 s, baseline, min-max -> float32 [12, 1000]
    tmp = None
    if args.root is not None and (args.root / "records100").is_dir():
        root, source = args.root, f"real PTB-XL files in {args.root}"
        sets = {"100 Hz": sorted((root / "records100").rglob("*.hea"))[: args.max_records],
                "500 Hz": sorted((root / "records500").rglob("*.hea"))[: args.max_records]}
    else:
        tmp = tempfile.TemporaryDirectory(prefix="ecg_bench_")
        root, source = Path(tmp.name), "SYNTHETIC records (PTB-XL folder not found)"
        sets = synthetic_records(root, min(args.max_records, 200))

    if HAVE_NUMBA:
        cold, warm = numba_first_call()
        print(f"numba first call of remove_baseline in a fresh process: cold (empty cache, compiles) {cold:.2f} s, "
              f"warm (cache from the cold run) {warm:.3f} s")
        remove_baseline(np.zeros((2, 12, 100)), 100)  # this process: load the compiled code before timing

    print(f"\n## end to end: read + preprocess -> float32 [12, 1000], records/s ({source}; best of {args.repeat})")
    print("reference = wfdb.rdsamp + per-lead scipy.signal.medfilt per record; ours = read_ecg + preprocess_ecg")
    print(f"| {'files':6} | {'records':>7} | {'reference':>9} | {'ours, one by one':>16} | {'ratio':>6} "
          f"| {'ours, batched':>13} | {'ratio':>6} | {'same output':>11} |")
    print(f"|{'-' * 8}|{'-' * 9}|{'-' * 11}|{'-' * 18}|{'-' * 8}|{'-' * 15}|{'-' * 8}|{'-' * 13}|")
    for name, paths in sets.items():
        n = len(paths)
        t_ref = t_one = t_batch = np.inf
        for _ in range(args.repeat):  # interleaved, so that a load spike hits all three alike
            t_ref = min(t_ref, timed(lambda ps=paths: [reference_load(p, cfg) for p in ps]))
            t_one = min(t_one, timed(lambda ps=paths: [load_ecg(p, cfg) for p in ps]))
            t_batch = min(t_batch, timed(load_ecg_batch, paths, cfg))
        ref = np.stack([reference_load(p, cfg) for p in paths])
        ours = np.stack([load_ecg(p, cfg) for p in paths])
        same = np.allclose(ref, ours, atol=1e-5) and np.allclose(load_ecg_batch(paths, cfg)[0], ours, atol=1e-5)
        print(f"| {name:6} | {n:7d} | {n / t_ref:9.0f} | {n / t_one:16.0f} | {t_ref / t_one:5.1f}x "
              f"| {n / t_batch:13.0f} | {t_ref / t_batch:5.1f}x | {'yes' if same else 'NO'} |")

    print("\n## reading alone (no preprocessing), ms per record")
    print(f"| {'files':6} | {'wfdb.rdsamp':>11} | {'read_ecg (fast)':>15} | {'ratio':>6} |")
    print(f"|{'-' * 8}|{'-' * 13}|{'-' * 17}|{'-' * 8}|")
    for name, paths in sets.items():
        t_w = t_f = np.inf
        for _ in range(args.repeat):
            t_w = min(t_w, timed(lambda ps=paths: [wfdb.rdsamp(str(p)[:-4]) for p in ps]))
            t_f = min(t_f, timed(lambda ps=paths: [read_ecg(p) for p in ps]))
        print(f"| {name:6} | {1e3 * t_w / len(paths):11.3f} | {1e3 * t_f / len(paths):15.3f} | {t_w / t_f:5.1f}x |")

    print("\n## torch DataLoader over ECGIndexDataset (read + preprocess per item, batch 32), records/s")
    print(f"| {'files':6} | {'0 workers':>9} | {'2 workers':>9} |")
    print(f"|{'-' * 8}|{'-' * 11}|{'-' * 11}|")
    for name, paths in sets.items():
        r0 = dataloader_rate(root, paths, cfg, 0, args.repeat)
        r2 = dataloader_rate(root, paths, cfg, 2, args.repeat)
        print(f"| {name:6} | {r0:9.0f} | {r2:9.0f} |")

    if not args.no_filter_table:
        batches = {name: np.stack([read_ecg(p).signal.astype(np.float64) for p in paths]) for name, paths in sets.items()}
        print("\n## baseline-wander filter alone (0.2 s + 0.6 s medians): per-lead scipy medfilt loop vs fast_medfilt")
        cases = [
            ("100 Hz files", batches["100 Hz"], 100),
            ("500 Hz, native", batches["500 Hz"], 500),
            ("500 Hz -> 100 Hz", resample_ecg(batches["500 Hz"], 500, 100), 100),
        ]
        print(f"| {'input':18} | {'batch':>13} | {'kernels':>8} | {'medfilt loop ms':>15} | {'ndimage (1,k) ms':>16} "
              f"| {'scipy-buffer ms':>15} | {'speed-up':>8} | {'numba ms':>8} | {'speed-up':>8} | exact |")
        print(f"|{'-' * 20}|{'-' * 15}|{'-' * 10}|{'-' * 17}|{'-' * 18}|{'-' * 17}|{'-' * 10}|{'-' * 10}|{'-' * 10}|-------|")
        for name, x, fs in cases:
            t_loop = min(timed(medfilt_loop_baseline, x, fs) for _ in range(args.repeat))
            t_sp = min(timed(remove_baseline, x, fs, "scipy") for _ in range(args.repeat))
            t_nb = min(timed(remove_baseline, x, fs, "numba") for _ in range(args.repeat)) if HAVE_NUMBA else np.nan
            t_nd = timed(ndimage_2d_baseline, x, fs) if (fs == 100 or args.naive) else np.nan
            ref = medfilt_loop_baseline(x, fs)
            exact = all(np.array_equal(remove_baseline(x, fs, backend=b), ref) for b in ("scipy", "numba")[: 1 + HAVE_NUMBA])
            k1, k2 = baseline_kernels(fs)
            shape = "x".join(map(str, x.shape))
            print(f"| {name:18} | {shape:>13} | {f'{k1},{k2}':>8} | {1e3 * t_loop:15.0f} | {1e3 * t_nd:16.0f} "
                  f"| {1e3 * t_sp:15.0f} | {t_loop / t_sp:7.2f}x | {1e3 * t_nb:8.0f} | {t_loop / t_nb:7.2f}x "
                  f"| {'yes' if exact else 'NO'}   |")
    print(f"\nload average at the end: {load_avg()} ({os.cpu_count()} CPUs, shared)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
