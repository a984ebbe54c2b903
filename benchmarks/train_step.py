"""Training-step speed and memory of the MoRE model: ours vs a faithful re-implementation of the official compute path.

One step = forward of all three towers + the preset's objective (MoRE: text↔X-ray + text↔ECG) + backward + AdamW step.

    python benchmarks/train_step.py                          # CPU: tiny (batch 8) and paper (batch 2), fp32 + bf16
    python benchmarks/train_step.py --presets paper --batch 8 --device cuda   # GPU, adds MFU
    python benchmarks/train_step.py --engine --presets tiny paper --batch 8 2  # + the engine end to end (data included)
    python benchmarks/train_step.py --presets paper --precisions fp32 --unfused --steps 3   # paper, CPU: the 2x check

Rows:
  ours      the preset as built by `create_model` (fused SDPA attention with a boolean DropKey mask, text padded to
            the longest note of the batch, mean over real tokens), fp32 or bf16 autocast, and the engine's optimiser
            (`morebench.train.build_optimizer`: fused AdamW on CPU and CUDA);
  ours-unfused  (--unfused) the same model in fp32 with torch's default AdamW (for-loop on CPU): the optimiser's share;
  official  the same weights/shapes on the official compute path (PAPER_SPEC §1.2/§1.4): manual attention with the
            Bernoulli·(−1e12) DropKey mask added to the logits, text padded to max_length (512 for `paper`) and
            averaged over all positions, fp32 (the official code uses fp16 autocast on GPU; fp32 is the CPU baseline),
            torch's default AdamW with weight decay on every parameter (the official code's optimiser).

Notes are random token ids whose real lengths are drawn uniformly from --note-tokens (default 96:256, a typical
combined radiology + cardiology note; the official path always pads them to max_length).

Memory: on CPU each configuration runs in its own subprocess and we report the process peak resident set size
(`resource.getrusage(...).ru_maxrss`, i.e. weights + optimizer state + activations + allocator slack) and the
increase over the RSS measured after the model was built ("step Δ"). On CUDA: `torch.cuda.max_memory_allocated`.
FLOPs per step are counted with `torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions, attention);
MFU = FLOPs / step time / peak FLOP/s of the device (--peak-tflops, default 989 for H100 bf16 dense, 494 for TF32).
Engine rows (--engine): `morebench.train.train` for --engine-steps optimiser steps on a synthetic cohort
(--engine-cohort DIR, else --engine-patients written to a temporary folder), data loading from the image/record
files included (no preprocessing cache); we print the median end-to-end samples/s of the steps after the first and
the share of the step spent waiting for the next batch (`data_s / step_s` of the run's steps.csv).
Nothing here is asserted; it prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _rss_mb() -> float:
    """Current resident set size in MiB (psutil if available, else /proc)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(preset: str, impl: str):
    """Model + batch maker for `impl` in {"ours", "ours-unfused", "official"} (ours-unfused: our model, torch's default AdamW)."""
    from morebench.model import create_model

    over = {}
    if impl == "official":
        over = {"xray__attn_impl": "official", "ecg__attn_impl": "official", "text__pooling": "mean_all",
                "text__pad_to_max_length": True}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the paper preset warns that RoBERTa is randomly initialised offline
        return create_model(preset, **over)


def make_batch(model, batch_size: int, note_tokens: tuple[int, int], device, seed: int = 0) -> dict:
    """Random images/ECGs and token ids shaped like the preset's inputs (note lengths uniform in note_tokens)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    lo, hi = (min(note_tokens[0], cfg.text.max_length), min(note_tokens[1], cfg.text.max_length))
    lengths = torch.randint(lo, hi + 1, (batch_size,), generator=g)
    width = cfg.text.max_length if cfg.text.pad_to_max_length else int(lengths.max())
    vocab = model.text.model.get_base_model().config.vocab_size if hasattr(model.text.model, "get_base_model") \
        else model.text.model.config.vocab_size
    ids = torch.randint(5, vocab, (batch_size, width), generator=g)
    mask = (torch.arange(width)[None] < lengths[:, None]).long()
    ids = ids * mask + (1 - mask) * 1  # pad id 1 (RoBERTa); only the mask matters for compute
    return {"xray": torch.randn(batch_size, cfg.xray.in_chans, cfg.xray.img_size, cfg.xray.img_size, generator=g).to(device),
            "ecg": torch.randn(batch_size, cfg.ecg.in_leads, cfg.ecg.num_samples, generator=g).to(device),
            "text": {"input_ids": ids.to(device), "attention_mask": mask.to(device)},
            "text_tokens": width}


def worker(args) -> dict:
    """Time one configuration (in this process); returns a result dict."""
    import torch

    from morebench.model import create_objective

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    model = build(args.preset, args.impl).to(device).train()
    build_s = time.perf_counter() - t0
    batch = make_batch(model, args.batch, tuple(args.note_tokens), device)
    text_tokens = batch.pop("text_tokens")
    loss_fn = create_objective(model).to(device)  # the preset's objective (MoRE); its τ is the model's
    from morebench.train import TrainConfig, build_optimizer

    # ours: the engine's optimiser (fused AdamW on CPU/CUDA, no decay on norms/biases); "ours-unfused": the same with
    # torch's default AdamW; official: torch's default AdamW decaying every parameter (the official code)
    fused = {"ours": None, "ours-unfused": False, "official": False}[args.impl]
    opt = build_optimizer(model, TrainConfig(lr=3e-5, fused_adamw=fused, decay_all=args.impl == "official"))
    amp = args.precision == "bf16"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(batch), batch)["loss"]
        loss.backward()
        opt.step()
        return loss

    rss_built = _rss_mb()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    flops = None
    if args.flops:  # counted on an extra untimed step (doubles as warm-up)
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as fc:
            step()
        flops = fc.get_total_flops()
    times = []
    for i in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        loss = step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    res = {"preset": args.preset, "impl": args.impl, "precision": args.precision, "batch": args.batch,
           "text_tokens": text_tokens, "step_s": statistics.median(times), "steps": len(times), "build_s": build_s,
           "loss": float(loss), "flops": flops, "device": str(device)}
    if device.type == "cuda":
        res["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
        res["gpu"] = torch.cuda.get_device_name()
    else:
        res["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        res["step_delta_mb"] = res["peak_mem_mb"] - rss_built
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["tiny", "paper"])
    p.add_argument("--batch", type=int, nargs="+", default=None, help="batch per preset (default tiny 8, paper 2 on CPU / 8 on GPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--note-tokens", type=int, nargs=2, default=[96, 256], metavar=("MIN", "MAX"))
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--no-flops", dest="flops", action="store_false", help="skip the FLOP count (one extra untimed step)")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (default: H100 989 bf16 / 494 tf32)")
    p.add_argument("--official-precisions", nargs="+", default=["fp32"], help="precisions of the official-path rows")
    p.add_argument("--unfused", action="store_true", help="add an fp32 row of our model with torch's default (unfused) AdamW")
    p.add_argument("--json", default=None, help="also write all results to this JSON file")
    p.add_argument("--engine", action="store_true", help="also time the training engine end to end (data loading included)")
    p.add_argument("--engine-cohort", default=None, help="synthetic cohort for --engine (default: write one to a temp dir)")
    p.add_argument("--engine-patients", type=int, default=80, help="patients of the temporary cohort")
    p.add_argument("--engine-steps", type=int, default=6, help="optimiser steps per engine run")
    p.add_argument("--engine-workers", type=int, default=None, help="DataLoader workers of the engine runs (default: the recipe's)")
    # internal: run one configuration in this process
    p.add_argument("--_worker", nargs=3, metavar=("PRESET", "IMPL", "PRECISION"), help=argparse.SUPPRESS)
    p.add_argument("--_b", type=int, default=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._worker:
        args.preset, args.impl, args.precision = args._worker
        args.batch = args._b
        print("RESULT " + json.dumps(worker(args)))
        return

    cpu = args.device == "cpu"
    defaults = {"tiny": 8, "paper": 2 if cpu else 8}
    batches = args.batch or [defaults.get(pr, 2) for pr in args.presets]
    if len(batches) == 1:
        batches = batches * len(args.presets)
    configs = []
    for preset, b in zip(args.presets, batches):
        for prec in args.precisions:
            configs.append((preset, "ours", prec, b))
        if args.unfused:
            configs.append((preset, "ours-unfused", "fp32", b))
        for prec in args.official_precisions:
            configs.append((preset, "official", prec, b))
    results = []
    for preset, impl, prec, b in configs:
        cmd = [sys.executable, __file__, "--_worker", preset, impl, prec, "--_b", str(b), "--device", args.device,
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads),
               "--note-tokens", *map(str, args.note_tokens)] + ([] if args.flops else ["--no-flops"])
        print(f"running {preset:6s} {impl:8s} {prec:4s} batch {b} ...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, check=False, capture_output=True, text=True)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if out.returncode or not line:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"worker failed: {preset} {impl} {prec}")
        results.append(json.loads(line[0][7:]))

    import torch

    print(f"\ntorch {torch.__version__}, device {args.device}"
          + (f" ({results[0].get('gpu')})" if not cpu else f", {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
          + f", note tokens {args.note_tokens[0]}-{args.note_tokens[1]}, median of {args.steps} steps after {args.warmup} warm-up")
    mem = "peak RSS MiB (step Δ)" if cpu else "peak alloc MiB"
    hdr = f"| preset | path | precision | batch | text len | step s | samples/s | {mem} | GFLOP/step | GFLOP/s |" + ("" if cpu else " MFU |") + " vs official |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for r in results:
        ref = next(x for x in results if x["preset"] == r["preset"] and x["impl"] == "official")  # first official row
        gf = r["flops"] / 1e9 if r["flops"] else float("nan")
        m = f"{r['peak_mem_mb']:.0f} ({r['step_delta_mb']:+.0f})" if cpu else f"{r['peak_mem_mb']:.0f}"
        row = (f"| {r['preset']} | {r['impl']} | {r['precision']} | {r['batch']} | {r['text_tokens']} | {r['step_s']:.3f} | "
               f"{r['batch'] / r['step_s']:.2f} | {m} | {gf:.0f} | {gf / r['step_s']:.1f} |")
        if not cpu:
            peak = args.peak_tflops or (989.0 if r["precision"] == "bf16" else 494.0)
            row += f" {100 * gf / r['step_s'] / (peak * 1e3):.1f} % |"
        row += f" {ref['step_s'] / r['step_s']:.2f}× |"
        print(row)
    if args.engine:
        results += engine_rows(args, batches)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def engine_rows(args, batches) -> list[dict]:
    """Run `morebench.train.train` per preset for a few steps; print end-to-end samples/s and the data-wait share."""
    import tempfile

    import pandas as pd

    from morebench.synth.write import write_cohort
    from morebench.train import recipe, train

    tmp = tempfile.TemporaryDirectory()
    cohort = args.engine_cohort
    if cohort is None:
        cohort = f"{tmp.name}/cohort"
        write_cohort(cohort, n_patients=args.engine_patients, seed=0, formats=("mimic-ecg", "mimic-cxr"), progress=False)
    rows = []
    print("\n| preset | engine batch | workers | cache | steps | samples/s (end to end) | data wait % of step |")
    print("|---|---|---|---|---|---|---|")
    for preset, b in zip(args.presets, batches):
        out = f"{tmp.name}/run-{preset}"
        kw = {} if args.engine_workers is None else {"num_workers": args.engine_workers}
        cfg = recipe(preset, data_root=cohort, out=out, batch_size=b, accum=1, epochs=1, max_steps=args.engine_steps,
                     device=args.device, progress=False, eval_at_start=False, **kw)
        train(cfg)  # with the recipe's preprocessing cache (tiny: built before the first step, not timed)
        log = pd.read_csv(f"{out}/steps.csv").iloc[1:]  # the first step includes start-up
        sps = float(log.samples_per_s.median())
        share = float(100 * log.data_s.sum() / log.step_s.sum())
        rows.append({"preset": preset, "impl": "engine", "batch": b, "samples_per_s": sps, "data_share_pct": share,
                     "num_workers": cfg.num_workers, "cache": bool(cfg.cache_dir)})
        print(f"| {preset} | {b} | {cfg.num_workers} | {'yes' if cfg.cache_dir else 'no'} | {len(log)} | {sps:.2f} | {share:.1f} |")
    tmp.cleanup()
    return rows


if __name__ == "__main__":
    main()
