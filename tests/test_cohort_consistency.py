"""A small SYNTHETIC cohort written by `morebench.synth.write.write_cohort` is read back by every dataset summary with
zero unreadable records, and its pairs, labels and splits agree (no subject in two splits)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from morebench.cli import SUMMARIES, get_summarizer
from morebench.data.cache import build_cache
from morebench.data.chexpert import build_chexpert_index, chexpert_5x200
from morebench.data.cxr import load_cxr, normalize_cxr
from morebench.data.edema import build_edema_index
from morebench.data.mimic_cxr import build_mimic_cxr_index
from morebench.formats import CHEXPERT_LABELS
from morebench.data.pairs import PairedDataset, build_pair_index

write_cohort = pytest.importorskip("morebench.synth.write").write_cohort

ROOTS = {"mimic-cxr": "mimic-cxr-jpg", "mimic-pairs": "", "chexpert": "chexpert", "edema": "edema",
         "mimic-ecg": "mimic-iv-ecg", "ptbxl": "ptbxl"}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    write_cohort(out, 30, seed=0, progress=False)
    return out


@pytest.mark.parametrize("name", list(ROOTS))
def test_summary_reads_everything(cohort, name):
    assert name in SUMMARIES
    s = get_summarizer(name)(cohort / ROOTS[name])
    assert s["unreadable"] == [], s["unreadable"][:3]
    assert s["records"] > 0
    assert set(s["splits"]) >= {"train", "val", "test"}
    assert sum(s["splits"].values()) == s["records"]
    for row in s["labels"].values():
        assert row["total"] == sum(row[k] for k in s["splits"])


def _one_split_per_subject(df: pd.DataFrame) -> bool:
    return bool((df.groupby("subject_id")["split"].nunique() <= 1).all())


def test_mimic_cxr_splits_and_labels(cohort):
    idx, sk = build_mimic_cxr_index(cohort / "mimic-cxr-jpg")
    assert sk == [] and _one_split_per_subject(idx)
    assert set(idx["view"]) <= {"PA", "AP"}
    vals = idx[list(CHEXPERT_LABELS)].to_numpy()
    assert np.isin(vals[~np.isnan(vals)], [1, 0, -1]).all()
    patients = pd.read_csv(cohort / "cohort" / "patients.csv")
    want = dict(zip(patients.subject_id, patients.split.map({"train": "train", "validate": "val", "test": "test"})))
    assert (idx["subject_id"].map(want) == idx["split"]).all()


def test_pairs_consistent(cohort):
    cxr, _ = build_mimic_cxr_index(cohort / "mimic-cxr-jpg")
    pairs, info, sk = build_pair_index(cohort)
    assert sk == [] and len(pairs) > 0
    assert _one_split_per_subject(pairs) and info["moved_pairs"] == 0  # the synthetic split is already by subject
    assert (pairs["gap_days"] <= 60).all()
    assert pairs["dicom_id"].is_unique  # nearest: one ECG per image
    by_img = cxr.set_index("dicom_id")
    assert (pairs["split"].to_numpy() == by_img.loc[pairs["dicom_id"], "split"].to_numpy()).all()
    assert (pairs["subject_id"].to_numpy() == by_img.loc[pairs["dicom_id"], "subject_id"].to_numpy()).all()
    np.testing.assert_array_equal(pairs[list(CHEXPERT_LABELS)].to_numpy(),  # the CheXpert convention, NaN = blank
                                  by_img.loc[pairs["dicom_id"], list(CHEXPERT_LABELS)].to_numpy())
    rec = pd.read_csv(cohort / "mimic-iv-ecg" / "record_list.csv")
    ecg_subject = dict(zip(rec.study_id, rec.subject_id))
    assert (pairs["ecg_study_id"].map(ecg_subject) == pairs["subject_id"]).all()
    allp, _, _ = build_pair_index(cohort, mode="all", notes=False)
    assert len(allp) >= len(pairs) and set(allp["dicom_id"]) == set(pairs["dicom_id"])
    assert pairs["xray_note"].str.startswith("The report from Xray is: ").all()
    assert pairs["ecg_note"].str.startswith("The report from ECG is: ").all()
    ds = PairedDataset(pairs, info["cxr_root"], info["ecg_root"], strict=True)
    it = ds[0]
    assert tuple(it["xray"].shape) == (3, 224, 224) and tuple(it["ecg"].shape) == (12, 1000)


def test_paired_dataset_from_cache(cohort, tmp_path):
    pairs, info, _ = build_pair_index(cohort)
    pairs = pairs.iloc[:4]
    xc = build_cache([Path(info["cxr_root"]) / p for p in pairs["path"]], "xray", cache_dir=tmp_path, progress=False)
    ec = build_cache([Path(info["ecg_root"]) / p for p in pairs["ecg_path"]], "ecg", cache_dir=tmp_path, progress=False)
    plain = PairedDataset(pairs, info["cxr_root"], info["ecg_root"], strict=True)
    cached = PairedDataset(pairs, info["cxr_root"], info["ecg_root"], strict=True, xray_cache=xc, ecg_cache=ec)
    for i in range(len(pairs)):
        a, b = plain[i], cached[i]
        assert a["id"] == b["id"] and a["xray_note"] == b["xray_note"]
        np.testing.assert_array_equal(a["xray"].numpy(), b["xray"].numpy())
        np.testing.assert_allclose(a["ecg"].numpy(), b["ecg"].numpy(), atol=1e-3)  # float16 storage


def test_chexpert_and_edema(cohort):
    idx, sk = build_chexpert_index(cohort / "chexpert")
    assert sk == [] and set(idx["split"]) == {"train", "val"}
    assert idx.loc[idx.split == "train", "patient"].isin(idx.loc[idx.split == "val", "patient"]).sum() == 0
    zs = chexpert_5x200(idx, n=5, seed=0)
    assert len(zs) > 0 and (zs[["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]]
                            .fillna(0).sum(axis=1) == 1).all()
    ed, _, sk = build_edema_index(cohort / "edema")
    assert sk == [] and len(ed) > 0 and _one_split_per_subject(ed)
    assert ed["edema_severity"].between(0, 3).all()


def test_cache_matches_files(cohort, tmp_path):
    pairs, info, _ = build_pair_index(cohort, notes=False)
    files = [Path(info["cxr_root"]) / p for p in pairs["path"][:6]]
    c = build_cache(files, "xray", cache_dir=tmp_path, progress=False)
    assert c.failed == [] and len(c) == len(files)
    np.testing.assert_array_equal(normalize_cxr(c[0]), load_cxr(files[0]))
    ecgs = [Path(info["ecg_root"]) / p for p in pairs["ecg_path"][:6]]
    e = build_cache(ecgs, "ecg", cache_dir=tmp_path, progress=False)
    assert e.failed == [] and e.array.shape[1:] == (12, 1000)
