"""ECG pipeline speed: records/s for read + preprocess of PTB-XL records, and the fast baseline filter's speed-up.

    .venv/bin/python benchmarks/ecg_pipeline.py [--root ../shared/data/ptbxl] [--repeat 3]

Prints two small tables. Not a test: nothing is asserted except that the fast filter (both backends: numba, and the
SciPy 1-D rank filter on one long buffer) equals scipy's exactly. Reports numba's compile time and the load average.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.ndimage
import scipy.signal

from morebench.data.ecg import (
    HAVE_NUMBA,
    ECGPreprocessConfig,
    baseline_kernels,
    load_ecg,
    load_ecg_batch,
    read_ecg,
    remove_baseline,
    resample_ecg,
)
from morebench.utils import shared_data_dir


def best_of(fn, repeat: int, *args) -> float:
    """Best wall time of `repeat` runs of fn(*args) (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


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


def compile_seconds() -> float:
    """Seconds of the first numba call in a fresh process with an empty on-disk cache (i.e. numba's compile time)."""
    code = ("import time, numpy as np; from morebench.data.ecg import fast_medfilt; t = time.perf_counter(); "
            "fast_medfilt(np.zeros((2, 50)), [3, 5]); print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "NUMBA_CACHE_DIR": tmp},
                             capture_output=True, text=True, check=True)
    return float(res.stdout.split()[-1])


def read_all(paths: list[Path]) -> list:
    return [read_ecg(p) for p in paths]


def load_all(paths: list[Path], cfg: ECGPreprocessConfig) -> list:
    return [load_ecg(p, cfg) for p in paths]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = shared_data_dir(Path(__file__).parent)
    ap.add_argument("--root", type=Path, default=default / "ptbxl" if default else None, help="PTB-XL folder")
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best is reported)")
    ap.add_argument("--max-records", type=int, default=400, help="at most this many records per rate")
    ap.add_argument("--naive", action="store_true", help="also time ndimage.median_filter(size=(1,k)) at 500 Hz (slow)")
    args = ap.parse_args()
    if args.root is None or not args.root.is_dir():
        raise SystemExit("PTB-XL folder not found: pass --root")

    print(f"# ECG pipeline benchmark  (python {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, {os.cpu_count()} CPUs)")
    cfg = ECGPreprocessConfig()  # the paper's: 100 Hz, 10 s, baseline, min-max
    sets = {
        "100 Hz": sorted((args.root / "records100").rglob("*.hea"))[: args.max_records],
        "500 Hz": sorted((args.root / "records500").rglob("*.hea"))[: args.max_records],
    }

    print("\n## read + preprocess (paper default -> float32 [12, 1000]), records/s")
    print(f"| {'files':6} | {'records':>7} | {'read only':>10} | {'read+prep, one by one':>22} | {'read+prep, batched':>19} |")
    print(f"|{'-' * 8}|{'-' * 9}|{'-' * 12}|{'-' * 24}|{'-' * 21}|")
    batches = {}
    for name, paths in sets.items():
        n = len(paths)
        t_read = best_of(read_all, args.repeat, paths)
        t_one = best_of(load_all, args.repeat, paths, cfg)
        t_batch = best_of(load_ecg_batch, args.repeat, paths, cfg)
        print(f"| {name:6} | {n:7d} | {n / t_read:10.0f} | {n / t_one:22.0f} | {n / t_batch:19.0f} |")
        batches[name] = np.stack([read_ecg(p).signal.astype(np.float64) for p in paths])

    print("\n## baseline-wander filter (two median filters, 0.2 s + 0.6 s): per-lead scipy medfilt loop vs fast_medfilt")
    if HAVE_NUMBA:
        remove_baseline(np.zeros((2, 12, 100)), 100, backend="numba")  # warm: load the compiled code from the cache
        print(f"numba compile time (fresh cache, first call, separate process): {compile_seconds():.1f} s; "
              f"load average {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    cases = [
        ("PTB-XL 100 Hz files", batches["100 Hz"], 100),
        ("PTB-XL 500 Hz, native", batches["500 Hz"], 500),
        ("PTB-XL 500 Hz -> 100 Hz", resample_ecg(batches["500 Hz"], 500, 100), 100),
    ]
    print(f"| {'input':24} | {'batch':>13} | {'kernels':>8} | {'medfilt loop ms':>15} | {'ndimage (1,k) ms':>16} "
          f"| {'scipy-buffer ms':>15} | {'speed-up':>8} | {'numba ms':>8} | {'speed-up':>8} | exact |")
    print(f"|{'-' * 26}|{'-' * 15}|{'-' * 10}|{'-' * 17}|{'-' * 18}|{'-' * 17}|{'-' * 10}|{'-' * 10}|{'-' * 10}|-------|")
    for name, x, fs in cases:
        t_loop = best_of(medfilt_loop_baseline, args.repeat, x, fs)
        t_sp = best_of(remove_baseline, args.repeat, x, fs, "scipy")
        t_nb = best_of(remove_baseline, args.repeat, x, fs, "numba") if HAVE_NUMBA else float("nan")
        naive = fs == 100 or args.naive
        t_nd = best_of(ndimage_2d_baseline, 1, x, fs) if naive else float("nan")
        ref = medfilt_loop_baseline(x, fs)
        exact = all(np.array_equal(remove_baseline(x, fs, backend=b), ref)
                    for b in ("scipy", "numba")[: 1 + HAVE_NUMBA])
        k1, k2 = baseline_kernels(fs)
        shape = "x".join(map(str, x.shape))
        print(f"| {name:24} | {shape:>13} | {f'{k1},{k2}':>8} | {1e3 * t_loop:15.0f} | {1e3 * t_nd:16.0f} "
              f"| {1e3 * t_sp:15.0f} | {t_loop / t_sp:7.2f}x | {1e3 * t_nb:8.0f} | {t_loop / t_nb:7.2f}x "
              f"| {'yes' if exact else 'NO'}   |")
    la = os.getloadavg()
    print(f"\nload average after the run: {la[0]:.1f} {la[1]:.1f} {la[2]:.1f} ({os.cpu_count()} CPUs, shared)")

if __name__ == "__main__":
    main()
