"""Clean exits of 2-rank `gloo` runs: how often a process aborts at interpreter exit, for torch's autograd all-gather
(`torch.distributed.nn.functional.all_gather`) against morebench's `gather_features`. Prints a table; nothing is
asserted.

    .venv/bin/python benchmarks/distributed_exit.py [--runs 30] [--steps 20]

Each run spawns 2 CPU processes that do `--steps` gather + backward steps, call `destroy_process_group` and return.
`torch.distributed.nn`, imported after `init_process_group`, binds the live process group as a default argument, so
destroy_process_group cannot free it and gloo's threads are still running when Python finalises; with torch 2.14.1
such a process then dies with "terminate called without an active exception" (SIGABRT) after its work is done.
`gather_features` does not import it. Details: nbs/51_distributed.ipynb. The aborted ranks' messages go to stderr.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2


def _worker(rank: int, port: int, impl: str, steps: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))
    if impl == "torch":
        import warnings

        from torch.distributed.nn.functional import all_gather

        warnings.simplefilter("ignore", FutureWarning)  # its deprecation warning, once per call

        def gather(x):
            return torch.cat(all_gather(x))
    else:
        from morebench.distributed import gather_features

        def gather(x):
            return gather_features(x, WORLD, rank)
    x = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        gather(x).pow(2).sum().backward()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_aborts(impl: str, runs: int, steps: int) -> tuple[int, float]:
    """Number of runs in which some rank did not exit cleanly, and the mean seconds per run."""
    failed, t0 = 0, time.perf_counter()
    for _ in range(runs):
        try:
            mp.start_processes(_worker, args=(_free_port(), impl, steps), nprocs=WORLD, start_method="spawn")
        except mp.ProcessExitedException:
            failed += 1
    return failed, (time.perf_counter() - t0) / runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} cores; "
          f"{args.runs} runs x {WORLD} gloo ranks x {args.steps} gather+backward steps")
    print("| all-gather | runs with a rank aborted at exit | s/run |")
    print("|---|---|---|")
    for impl, label in [("torch", "torch.distributed.nn.functional.all_gather"),
                        ("morebench", "morebench.distributed.gather_features")]:
        failed, per_run = count_aborts(impl, args.runs, args.steps)
        print(f"| {label} | {failed} / {args.runs} | {per_run:.2f} |", flush=True)


if __name__ == "__main__":
    main()
