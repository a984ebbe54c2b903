"""`morebench eval` on a small synthetic cohort (200 patients, `morebench synth`) and a hand-made CheXpert folder: the
JSON shape of every (kind, dataset), a checkpoint written by `train()` (2 steps) loaded with --checkpoint and its
run's pre-training pairs leak-checked, a leak is exit 1, another preset's checkpoint is exit 2."""
import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

CLASSIFY = ("task", "dataset", "modality", "checkpoint", "n_train", "n_test", "macro_auroc", "ci95", "per_label",
            "leak_check", "unreadable", "synthetic")
RETRIEVE = ("task", "dataset", "modality", "checkpoint", "n_train", "n_test", "R@1", "R@5", "R@10", "MRR",
            "median_rank", "direction", "leak_check")


def run(*argv):
    from morebench.eval.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    lines = out.getvalue().strip().splitlines()
    return rc, (json.loads(lines[-1]) if rc == 0 and lines else None), err.getvalue()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from morebench.cli import main as cli_main
    from morebench.synth.fixtures import write_tiny_chexpert

    d = tmp_path_factory.mktemp("cohort")
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli_main(["synth", "--out", str(d / "c"), "--patients", "200", "--seed", "0", "--quiet"]) == 0
    write_tiny_chexpert(d / "chexpert" / "CheXpert-v1.0-small", n_per_class=8)
    return d


@pytest.fixture(scope="module")
def run_dir(cohort):
    from morebench.train import recipe, train

    r = train(recipe("tiny", data_root=str(cohort / "c"), out=str(cohort / "run"), max_steps=2, batch_size=8,
                     progress=False, eval_at_start=False, val_batches=1))
    assert r.steps == 2 and r.last_checkpoint
    return Path(r.out)


CASES = [  # kind, dataset, root (relative to the cohort fixture), extra args
    ("zeroshot", "ptbxl", "c", []), ("probe", "ptbxl", "c", []), ("retrieval", "ptbxl", "c", []),
    ("finetune", "ptbxl", "c", ["--mode", "partial", "--epochs", "1", "--max-steps", "2", "--batch-size", "16"]),
    ("zeroshot", "mimic-cxr", "c", []), ("probe", "mimic-cxr", "c", []), ("retrieval", "mimic-cxr", "c", []),
    ("probe", "edema", "c", []),
    ("finetune", "edema", "c", ["--mode", "linear", "--epochs", "1", "--max-steps", "1", "--batch-size", "16"]),
    ("zeroshot", "chexpert", "chexpert", ["--n-per-class", "4"]),
    ("probe", "chexpert", "chexpert", ["--n-per-class", "4"]),
    ("retrieval", "mimic-pairs", "c", []),
]


@pytest.mark.parametrize("kind,dataset,root,extra", CASES, ids=[f"{k}-{d}" for k, d, _, _ in CASES])
def test_json_shape(cohort, kind, dataset, root, extra):
    rc, r, err = run(kind, "--random-init", "--dataset", dataset, "--root", cohort / root, "--json", "--n-boot", "30",
                     *extra)
    assert rc == 0, err
    for k in (RETRIEVE if kind == "retrieval" else CLASSIFY):
        assert k in r, k
    assert r["task"] == kind and r["dataset"] == dataset and r["checkpoint"] == "random-init"
    assert r["n_test"] > 0
    if kind != "retrieval":
        assert r["macro_auroc"] is None or 0 <= r["macro_auroc"] <= 1
        assert r["n_train"] > 0 or kind == "zeroshot"
    if dataset == "chexpert":
        assert r["single_label"] and r["test_class_counts"] == {"Atelectasis": 4, "Cardiomegaly": 4, "Edema": 4,
                                                                 "Pleural Effusion": 4}
        assert 0 <= r["accuracy"] <= 1 and len(r["per_label"]) == 4
    if dataset == "mimic-cxr" and kind != "retrieval":
        assert set(r["per_label"]) <= {"Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion"}
    if dataset == "mimic-pairs":
        assert set(r["directions"]) == {"xray->ecg", "ecg->xray", "text->xray", "text->ecg"}
        assert r["direction"] == "xray->ecg" and r["R@1"] == r["directions"]["xray->ecg"]["R@1"]
    if kind == "finetune":
        assert r["mode"] == extra[1] and 0 < r["n_trainable"] < r["n_params"]
    assert r["synthetic"] is (root == "c")  # the hand-made CheXpert folder has no synth manifest
    assert r["leak_check"].startswith("not run")  # random-init, no --pretrain-pairs


def test_checkpoint_from_train(cohort, run_dir):
    from morebench.checkpoint import resolve_checkpoint

    folder = resolve_checkpoint(run_dir)
    rc, r, err = run("zeroshot", "--checkpoint", run_dir, "--dataset", "mimic-cxr", "--root", cohort / "c", "--json",
                     "--n-boot", "30")
    assert rc == 0, err
    assert r["checkpoint"] == str(folder) and r["checkpoint_sha256"]
    lc = r["leak_check"]  # the run's config names its cohort: the pre-training pairs are rebuilt and checked
    assert isinstance(lc, dict) and lc["disjoint"] is True and lc["levels"]["subject_id"]["n_pretrain"] > 0
    assert "run config" in lc["rule"]
    rc0, r0, _ = run("zeroshot", "--random-init", "--dataset", "mimic-cxr", "--root", cohort / "c", "--json",
                     "--n-boot", "30")
    assert rc0 == 0 and r0["state_hash"] != r["state_hash"]  # the trained weights were loaded
    rc, r, err = run("retrieval", "--checkpoint", folder, "--dataset", "mimic-pairs", "--root", cohort / "c", "--json")
    assert rc == 0 and r["leak_check"]["disjoint"] is True, err
    # a checkpoint of another preset is a clear error naming the file, exit 2
    rc, _, err = run("zeroshot", "--preset", "paper", "--checkpoint", run_dir, "--dataset", "mimic-cxr",
                     "--root", cohort / "c")
    assert rc == 2 and "config.json" in err


def test_leak_is_exit_1(cohort, tmp_path):
    from morebench.data.mimic_cxr import build_mimic_cxr_index

    idx, _ = build_mimic_cxr_index(cohort / "c" / "mimic-cxr-jpg")
    test_subject = int(idx[idx.split == "test"].subject_id.iloc[0])
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"subject_id": [test_subject], "study_id": [1]}).to_csv(pairs, index=False)
    rc, _, err = run("zeroshot", "--random-init", "--dataset", "mimic-cxr", "--root", cohort / "c",
                     "--pretrain-pairs", pairs)
    assert rc == 1 and "leak" in err and "pairs.csv" in err
    # the cohort's own pre-training pairs (evaluation sets held out) do not leak into the MIMIC-CXR test split
    rc, r, err = run("zeroshot", "--random-init", "--dataset", "mimic-cxr", "--root", cohort / "c", "--json",
                     "--n-boot", "20", "--pretrain-pairs", cohort / "c")
    assert rc == 0 and r["leak_check"]["disjoint"] is True, err


def test_bad_arguments(cohort):
    c = cohort / "c"
    assert run("zeroshot", "--random-init", "--dataset", "edema", "--root", c)[0] == 2
    assert run("probe", "--random-init", "--dataset", "mimic-pairs", "--root", c)[0] == 2
    assert run("probe", "--random-init", "--dataset", "mimic-cxr", "--task", "nope", "--root", c)[0] == 2
    rc, _, err = run("probe", "--random-init", "--dataset", "chexpert", "--root", cohort / "chexpert")
    assert rc == 2 and "lower --n-per-class" in err  # 8 candidates per class, all in a 200-per-class test set


def test_pretrain_set_follows_the_run_config(cohort, tmp_path):
    """A run whose config records `_evaluation_holdout` (the engine applied `exclude_evaluation_sets`) is checked
    against its pairs without the evaluation sets; without the record, against all its train+val pairs."""
    from morebench.data.mimic_cxr import build_mimic_cxr_index
    from morebench.eval.cli import pretrain_set

    run = tmp_path / "run"
    run.mkdir()
    idx, _ = build_mimic_cxr_index(cohort / "c" / "mimic-cxr-jpg")
    test_subjects = set(idx[idx.split == "test"].subject_id)
    for rec, held in (({"pairs_excluded": 1}, True), (None, False)):
        (run / "config.json").write_text(json.dumps({"data_root": str(cohort / "c"), "seed": 0,
                                                     "_evaluation_holdout": rec}))
        table, name, rule = pretrain_set(None, {"run": str(run)})
        assert ("held out" in rule) is held and str(cohort / "c") in name
        if held:
            assert not (set(table.subject_id) & test_subjects)
    table, name, rule = pretrain_set(None, {"run": None})
    assert table is None and name.startswith("not run")


def test_one_folder_as_train_and_test_root(cohort):
    p = cohort / "c" / "ptbxl"
    rc, a, err = run("probe", "--random-init", "--dataset", "ptbxl", "--root", p, "--json", "--n-boot", "20")
    assert rc == 0, err
    for argv in (["--train-root", p, "--test-root", p], ["--train-root", p]):  # never train on what is scored
        rc, b, err = run("probe", "--random-init", "--dataset", "ptbxl", *argv, "--json", "--n-boot", "20")
        assert rc == 0, err
        assert "own splits" in b["note"] and (b["n_train"], b["n_test"]) == (a["n_train"], a["n_test"])
        assert b["macro_auroc"] == a["macro_auroc"]


def test_fusion_json_shape(cohort):
    """`morebench eval fusion`: the classification keys (the `both` condition at the top) plus one row per modality set."""
    rc, r, err = run("fusion", "--random-init", "--dataset", "mimic-pairs", "--root", cohort / "c", "--json",
                     "--n-boot", "30", "--fusion-epochs", "15")
    assert rc == 0, err
    for k in CLASSIFY + ("conditions", "n_val", "p_drop", "log_loss"):
        assert k in r, k
    assert r["task"] == "fusion" and r["modality"] == "xray+ecg" and r["p_drop"] == 0.3 and r["drop"] == "ecg"
    assert r["n_train"] > 0 and r["n_val"] > 0 and r["n_test"] > 0
    assert set(r["conditions"]) == {"both", "xray_only", "ecg_only"}
    for c, row in r["conditions"].items():
        assert 0 <= row["macro_auroc"] <= 1 and row["ci95"][0] <= row["ci95"][1] and row["log_loss"] > 0, (c, row)
        assert set(row["per_label"]) == {"Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion"}
    assert (r["conditions"]["xray_only"]["xray"], r["conditions"]["xray_only"]["ecg"]) == (True, False)
    assert r["macro_auroc"] == r["conditions"]["both"]["macro_auroc"]
    rc, _, err = run("fusion", "--random-init", "--dataset", "mimic-pairs", "--root", cohort / "c", "--p-drop", "1.5")
    assert rc == 2 and "--p-drop 1.5" in err
