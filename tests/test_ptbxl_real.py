"""PTB-XL on the real 400-record sample: the CLI's superclass counts equal an independent recount from the CSVs,
and bad records (listed but absent, truncated .dat) are reported with path and reason, or raise in strict mode."""
import ast
import json
import shutil
import subprocess
import sys
from collections import Counter

import pandas as pd
import pytest

from morebench.utils import DataError, shared_data_dir

DATA = shared_data_dir()
PTBXL = DATA / "ptbxl" if DATA is not None else None
pytestmark = pytest.mark.skipif(PTBXL is None or not PTBXL.is_dir(), reason="../shared/data/ptbxl not available")


def cli(*args):
    """Run `python -m morebench.cli` and return the finished process."""
    return subprocess.run([sys.executable, "-m", "morebench.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def reference_superclass_counts(root):
    """Strodthoff et al.'s rule, recomputed here: diagnostic_class of every scp_codes key with diagnostic == 1."""
    db = pd.read_csv(root / "ptbxl_database.csv")
    stm = pd.read_csv(root / "scp_statements.csv", index_col=0)
    diag = stm[stm.diagnostic == 1]
    sup = db.scp_codes.apply(lambda s: {diag.at[k, "diagnostic_class"] for k in ast.literal_eval(s) if k in diag.index})
    split = db.strat_fold.map(lambda f: "train" if f <= 8 else ("val" if f == 9 else "test"))
    counts = Counter((c, sp) for cs, sp in zip(sup, split) for c in cs)
    has = sup.str.len() > 0
    return counts, split[has].value_counts().to_dict(), int(has.sum()), int((~has).sum())


def test_cli_superclass_counts_match_reference():
    r = cli("data", "summary", "ptbxl", "--root", PTBXL, "--task", "superclass", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    counts, splits, n, n_no_label = reference_superclass_counts(PTBXL)
    assert s["dataset"] == "ptbxl" and s["task"] == "superclass"
    assert s["unreadable"] == []
    assert s["records"] == n == 390
    assert s["no_label"] == n_no_label == 10
    assert s["splits"] == {k: splits.get(k, 0) for k in ("train", "val", "test")}
    assert set(s["labels"]) == {"NORM", "MI", "STTC", "CD", "HYP"}
    for label, row in s["labels"].items():
        for sp in ("train", "val", "test"):
            assert row[sp] == counts[(label, sp)], (label, sp)
        assert row["total"] == sum(counts[(label, sp)] for sp in ("train", "val", "test"))


def test_likelihood_zero_statements_count():
    """A statement with likelihood 0 still yields its class (the reference iterates over all scp_codes keys)."""
    from morebench.data.ptbxl import build_ptbxl_index

    db = pd.read_csv(PTBXL / "ptbxl_database.csv")
    stm = pd.read_csv(PTBXL / "scp_statements.csv", index_col=0)
    diag = stm[stm.diagnostic == 1]
    zero_only = [r.ecg_id for r in db.itertuples()
                 if (d := ast.literal_eval(r.scp_codes)) and any(k in diag.index for k in d)
                 and all(v == 0 for k, v in d.items() if k in diag.index)]
    assert zero_only, "the sample has records whose diagnostic statements all have likelihood 0"
    index, names, _ = build_ptbxl_index(PTBXL, "superclass", check_files=False)
    assert set(zero_only) <= set(index.ecg_id)
    index50, _, _ = build_ptbxl_index(PTBXL, "superclass", check_files=False, min_likelihood=50)
    assert not set(zero_only) & set(index50.ecg_id)


def test_single_label_priority_on_test_fold():
    from morebench.data.ptbxl import SUPERCLASS_PRIORITY, build_ptbxl_index

    multi, _, _ = build_ptbxl_index(PTBXL, "superclass", check_files=False)
    single, names, _ = build_ptbxl_index(PTBXL, "superclass_single", check_files=False)
    assert names == list(SUPERCLASS_PRIORITY) == ["NORM", "STTC", "MI", "HYP", "CD"]
    assert multi.ecg_id.tolist() == single.ecg_id.tolist()
    for ms, ss in zip(multi["labels"], single["labels"]):
        assert ss == [next(c for c in SUPERCLASS_PRIORITY if c in ms)]


def test_dataset_items_real():
    import torch

    from morebench.data.base import collate
    from morebench.data.ptbxl import PTBXLDataset

    ds = PTBXLDataset(PTBXL, "superclass", split="test")
    assert len(ds) == 53
    batch = collate([ds[i] for i in range(4)])
    assert batch["ecg"].shape == (4, 12, 1000) and batch["ecg"].dtype == torch.float32
    assert batch["labels"].shape == (4, 5) and (batch["labels"].sum(1) >= 1).all()
    assert float(batch["ecg"].abs().max()) <= 1.0 + 1e-5  # the paper's per-lead min-max
    assert all(isinstance(t, str) and t for t in batch["text"])
    db = pd.read_csv(PTBXL / "ptbxl_database.csv", index_col="ecg_id")
    assert batch["text"][0] == db.at[int(batch["id"][0]), "report"]
    assert batch["skipped"] == [] and batch["study_id"].tolist() == batch["id"].tolist()
    assert batch["subject_id"].tolist() == db.loc[batch["id"].tolist(), "patient_id"].astype(int).tolist()
    ds500 = PTBXLDataset(PTBXL, "superclass", split="train", sampling_rate=500)
    assert len(ds500.unreadable) > 0  # the sample holds 500 Hz files for ecg_id 1..100 only
    assert all(u.reason == "listed in ptbxl_database.csv but file not found" for u in ds500.unreadable)
    assert ds500[0]["ecg"].shape == (12, 1000)


@pytest.fixture
def broken_copy(tmp_path):
    """Real records 1..6 in a PTB-XL layout; record 2 listed but absent, record 3's .dat truncated."""
    root = tmp_path / "ptbxl"
    (root / "records100/00000").mkdir(parents=True)
    shutil.copy(PTBXL / "scp_statements.csv", root)
    db = pd.read_csv(PTBXL / "ptbxl_database.csv")
    db[db.ecg_id <= 6].to_csv(root / "ptbxl_database.csv", index=False)
    for i in range(1, 7):
        if i != 2:
            for ext in ("hea", "dat"):
                shutil.copy(PTBXL / f"records100/00000/{i:05d}_lr.{ext}", root / "records100/00000")
    dat = root / "records100/00000/00003_lr.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    return root


def test_bad_records_reported(broken_copy):
    r = cli("data", "summary", "ptbxl", "--root", broken_copy, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    bad = {u["path"]: u["reason"] for u in s["unreadable"]}
    assert bad[str(broken_copy / "records100/00000/00002_lr.hea")] == "listed in ptbxl_database.csv but file not found"
    assert "truncated data file" in bad[str(broken_copy / "records100/00000/00003_lr.dat")] and "(5000 of 24000 bytes)" in bad[str(broken_copy / "records100/00000/00003_lr.dat")]
    assert len(bad) == 2
    assert s["records"] == 4


def test_bad_records_strict(broken_copy):
    from morebench.data.ptbxl import summarize

    with pytest.raises(DataError, match="00002_lr.hea: listed in ptbxl_database.csv but file not found"):
        summarize(broken_copy, "superclass", strict=True)
    (broken_copy / "records100/00000/00002_lr.hea").write_text((PTBXL / "records100/00000/00002_lr.hea").read_text())
    shutil.copy(PTBXL / "records100/00000/00002_lr.dat", broken_copy / "records100/00000")
    r = cli("data", "summary", "ptbxl", "--root", broken_copy, "--strict", "--check", "header")
    assert r.returncode == 1
    assert "00003_lr.dat: truncated data file" in r.stderr
