"""`morebench eval` on the real PTB-XL sample (skips without ../shared/data): JSON shape, seeded random-init twin,
probe macro AUROC in (0, 1) with a CI around it, and a leak against a pairs table is exit 1."""
import contextlib
import io
import json

import pandas as pd
import pytest

from morebench.utils import shared_data_dir

DATA = shared_data_dir()
PTBXL = DATA / "ptbxl" if DATA is not None else None
needs_ptbxl = pytest.mark.skipif(PTBXL is None or not PTBXL.is_dir(), reason="../shared/data/ptbxl not available")


def run(*argv):
    from morebench.eval.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(list(map(str, argv)))
    lines = buf.getvalue().strip().splitlines()
    return rc, (json.loads(lines[-1]) if rc == 0 and lines else None)


def test_bad_arguments_exit_2(tmp_path):
    assert run("probe", "--random-init", "--dataset", "nope", "--root", tmp_path)[0] == 2
    assert run("probe", "--random-init", "--dataset", "ptbxl", "--root", tmp_path / "missing")[0] == 2
    assert run("zeroshot", "--dataset", "ptbxl", "--root", tmp_path)[0] == 2


@pytest.mark.slow
@needs_ptbxl
def test_probe_json_on_real_ptbxl(tmp_path):
    rc, r = run("probe", "--random-init", "--dataset", "ptbxl", "--task", "superclass", "--root", PTBXL, "--json",
                "--n-boot", "100", "--out", tmp_path)
    assert rc == 0
    for k in ("task", "dataset", "modality", "checkpoint", "n_train", "n_test", "macro_auroc", "ci95", "per_label"):
        assert k in r
    assert r["dataset"] == "ptbxl" and r["modality"] == "ecg" and r["checkpoint"] == "random-init"
    assert set(r["per_label"]) == {"NORM", "STTC", "MI", "HYP", "CD"}
    assert r["n_train"] > r["n_test"] > 0 and r["synthetic"] is False
    lo, hi = r["ci95"]
    assert 0 <= lo <= r["macro_auroc"] <= hi <= 1
    doc = json.loads((tmp_path / "probe_ptbxl.json").read_text())
    assert doc["synthetic"] is False and "_provenance" in doc["params"]["model_config"]


@pytest.mark.slow
@needs_ptbxl
def test_random_init_is_seeded_and_leak_is_error(tmp_path):
    db = pd.read_csv(PTBXL / "ptbxl_database.csv")
    test_patients = db[db.strat_fold == 10].patient_id.astype(int).tolist()[:3]
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"subject_id": test_patients, "study_id": [1, 2, 3]}).to_csv(pairs, index=False)
    from morebench.eval.cli import build_parser, run_eval
    from morebench.eval.leakage import LeakError

    a = build_parser().parse_args(["retrieval", "--random-init", "--dataset", "ptbxl", "--root", str(PTBXL),
                                   "--json"])
    r1, r2 = run_eval(a), run_eval(a)
    assert r1["state_hash"] == r2["state_hash"] and r1["R@10"] == r2["R@10"]
    # ptbxl ids are not comparable with MIMIC pairs: recorded, not an error
    rc, r = run("zeroshot", "--random-init", "--dataset", "ptbxl", "--root", PTBXL, "--json", "--n-boot", "20",
                "--pretrain-pairs", pairs)
    assert rc == 0 and r["leak_check"]["disjoint"] is True
    from morebench.eval.leakage import check_no_leak
    with pytest.raises(LeakError, match="pairs.csv"):
        check_no_leak({"subject_id": test_patients}, pd.read_csv(pairs), pretrain_name=pairs)
