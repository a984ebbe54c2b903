"""SYNTHETIC X-ray datasets: files exist and open, label values are legal, and label CSVs agree with the report text.

The label checker below is independent of `morebench.synth.reports` (keywords + clause-level negation/hedge cues).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from morebench.synth.cohort import sample_cohort
from morebench.synth.cxr_formats import study_reports, write_chexpert, write_edema, write_mimic_cxr

LABELS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture", "Lung Lesion",
          "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices"]
KEYWORDS = {
    "Atelectasis": r"atelecta", "Cardiomegaly": r"cardiomegaly|\bheart\b|cardiac silhouette",
    "Consolidation": r"consolidat", "Edema": r"edema|vascular congestion", "Enlarged Cardiomediastinum": r"mediastin",
    "Fracture": r"fractur", "Lung Lesion": r"nodul|\bmass\b|lesion", "Lung Opacity": r"opacit",
    "Pleural Effusion": r"effusion", "Pleural Other": r"pleural thickening", "Pneumonia": r"pneumonia",
    "Pneumothorax": r"pneumothora", "Support Devices": r"\btubes?\b|catheter|pacemaker|picc|central line",
}
HEDGE_PHRASE = r"cannot be excluded|not be excluded|not excluded"
NEG = r"\bno\b|without|free of|resolution|resolved|removal|removed|normal|unremarkable|\bnot\b"
HEDGE = r"possibl|\bmay\b|\bmight\b|concerning for|suspicious|likely|borderline|questionable|\bcould\b"


def check_labels(report: str) -> dict:
    "Independent rule-based labeler: keyword per finding, clause-level negation / hedging; FINDINGS + IMPRESSION only."
    m = re.search(r"FINDINGS:|IMPRESSION:", report)
    body = report[m.start():].lower() if m else report.lower()
    body = re.sub(r"findings:|impression:", " ", body)
    clauses = [c for c in re.split(r"[.;,]\s|\n\s*\d+\.\s|\.\s*$", re.sub(r"\s+", " ", body)) if c.strip()]
    out = {k: math.nan for k in KEYWORDS}
    rank = {1.0: 3, -1.0: 2, 0.0: 1}
    for c in clauses:
        for lab, kw in KEYWORDS.items():
            if not re.search(kw, c):
                continue
            v = -1.0 if re.search(HEDGE_PHRASE, c) else 0.0 if re.search(NEG, c) else -1.0 if re.search(HEDGE, c) else 1.0
            if math.isnan(out[lab]) or rank[v] > rank[out[lab]]:
                out[lab] = v
    path = [k for k in out if k != "Support Devices"]
    out["No Finding"] = math.nan if any(out[k] in (1.0, -1.0) for k in path) else 1.0
    return out


def edema_grade_from_text(report: str) -> float:
    "Liao-style regex grade: alveolar 3 > interstitial 2 > vascular congestion 1 > explicit negative 0; hedged: NaN."
    body = report[re.search(r"FINDINGS:|IMPRESSION:", report).start():].lower()
    body = re.sub(r"\s+", " ", body)
    if re.search(r"(possible|cannot be excluded|may reflect)[^.]*edema|edema[^.]*cannot be excluded", body):
        return math.nan
    for pat, g in ((r"alveolar[^.]*edema|alveolar edema", 3), (r"interstitial[^.]*edema", 2), (r"vascular congestion[^.]*\.", 1)):
        for sent in re.findall(r"[^.]*" + pat + r"[^.]*", body):
            if not re.search(r"\bno\b|without|resol", sent):
                return float(g)
    if re.search(r"\bno\b[^.]*edema|edema has resolved|resolution of pulmonary edema", body):
        return 0.0
    return math.nan


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_cxr")
    cohort = sample_cohort(10, seed=3)
    rep = study_reports(cohort, 0)
    write_mimic_cxr(cohort, root / "mimic-cxr-jpg", 0, size=128, reports=rep)
    write_chexpert(cohort, root / "chexpert", 0, size=128, reports=rep)
    write_edema(cohort, root / "edema", 0, reports=rep)
    return root, cohort


def _mimic_dir(sub, study):
    return f"p{str(sub)[:2]}/p{sub}/s{study}"


def test_mimic_images_exist_and_open(written):
    root, cohort = written
    meta = pd.read_csv(root / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv")
    assert len(meta) == len(cohort.cxr_studies) > 0
    for r in meta.itertuples():
        p = root / "mimic-cxr-jpg/files" / _mimic_dir(r.subject_id, r.study_id) / f"{r.dicom_id}.jpg"
        with Image.open(p) as im:
            im.load()
            assert im.size == (r.Columns, r.Rows) and im.mode == "L"
    assert set(meta.ViewPosition) <= {"PA", "AP", "LATERAL"}
    assert meta.StudyDate.between(19000101, 22991231).all()
    split = pd.read_csv(root / "mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv")
    assert set(split.dicom_id) == set(meta.dicom_id) and set(split.split) <= {"train", "validate", "test"}
    assert split.groupby("subject_id").split.nunique().max() == 1  # no subject in two splits


def test_mimic_labels_legal_and_agree_with_reports(written):
    root, _ = written
    lab = pd.read_csv(root / "mimic-cxr-jpg/mimic-cxr-2.0.0-chexpert.csv")
    assert list(lab.columns) == ["subject_id", "study_id", *LABELS]
    raw = (root / "mimic-cxr-jpg/mimic-cxr-2.0.0-chexpert.csv").read_text().splitlines()[1:]
    cells = {c for line in raw for c in line.split(",")[2:]}
    assert cells <= {"1.0", "0.0", "-1.0", ""}  # 1 / 0 / -1 / blank, nothing else
    assert lab.study_id.is_unique  # one row per study
    # The CSV is the CheXpert-style labeller's reading of the text (tested exactly in the next test); this independent
    # checker has its own phrase list and clause-wide cues, so the two may differ on a few cells (e.g. "interstitial
    # markings may reflect edema": an opacity for CheXpert's mention list, a hedge for the checker), as two real
    # labellers do. They must agree on nearly every cell.
    bad, cells = [], 0
    for r in lab.to_dict("records"):
        p = root / "mimic-cxr-jpg/mimic-cxr-reports/files" / f"{_mimic_dir(r['subject_id'], r['study_id'])}.txt"
        text = p.read_text()
        assert "FINDINGS:" in text or "IMPRESSION:" in text
        got = check_labels(text)
        for k in LABELS:
            want = r[k]
            cells += 1
            if not ((math.isnan(want) and math.isnan(got[k])) or want == got[k]):
                bad.append((p.name, k, want, got[k]))
    assert len(bad) <= 0.02 * cells, bad


def test_label_csvs_are_the_labellers_output(written):
    """The cohort's label files are `label_report` run over each study's report text (CheXpert train.csv too)."""
    from morebench.synth.labeller import label_report

    root, _ = written
    lab = pd.read_csv(root / "mimic-cxr-jpg/mimic-cxr-2.0.0-chexpert.csv")
    texts = {}
    for r in lab.to_dict("records"):
        p = root / "mimic-cxr-jpg/mimic-cxr-reports/files" / f"{_mimic_dir(r['subject_id'], r['study_id'])}.txt"
        texts[r["study_id"]] = text = p.read_text()
        got = label_report(text)
        for k in LABELS:
            assert (math.isnan(r[k]) and math.isnan(got[k])) or r[k] == got[k], (p, k, r[k], got[k])
    tr = pd.read_csv(root / "chexpert/CheXpert-v1.0-small/train.csv")
    by_study = lab.set_index("study_id")[LABELS]
    meta = pd.read_csv(root / "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv")
    assert len(tr) and len(by_study)
    # every train.csv row's labels are one of the MIMIC rows' labels (the same study's report)
    rows = {tuple(np.nan_to_num(v, nan=9.0)) for v in by_study.to_numpy()}
    assert all(tuple(np.nan_to_num(v, nan=9.0)) in rows for v in tr[LABELS].to_numpy())
    assert len(meta) >= len(by_study)


def test_chexpert_layout(written):
    root, cohort = written
    tr = pd.read_csv(root / "chexpert/CheXpert-v1.0-small/train.csv")
    va = pd.read_csv(root / "chexpert/CheXpert-v1.0-small/valid.csv")
    assert list(tr.columns[:5]) == ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"] and set(tr.columns[5:]) == set(LABELS)
    assert list(va.columns) == list(tr.columns)
    assert len(tr) + len(va) == len(cohort.cxr_studies)
    for p in pd.concat([tr.Path, va.Path]):
        assert re.fullmatch(r"CheXpert-v1.0-small/(train|valid)/patient\d{5}/study\d+/view\d_(frontal|lateral)\.jpg", p)
        with Image.open(root / "chexpert" / p) as im:
            im.load()
    vals = tr[LABELS].to_numpy().ravel()
    assert set(vals[~np.isnan(vals)]) <= {-1.0, 0.0, 1.0}
    assert set(va[LABELS].to_numpy().ravel()) <= {0.0, 1.0}
    assert ((tr["Frontal/Lateral"] == "Lateral") == tr["AP/PA"].isna()).all()
    assert "SYNTHETIC" in (root / "chexpert/CheXpert-v1.0-small/README.md").read_text()


def test_edema_grades_agree_with_text(written):
    root, _ = written
    rx = pd.read_csv(root / "edema/regex_report_edema_severity.csv")
    assert list(rx.columns) == ["subject_id", "study_id", "edema_severity"] and rx.edema_severity.isin([0, 1, 2, 3]).all()
    for r in rx.itertuples():
        text = (root / "mimic-cxr-jpg/mimic-cxr-reports/files" / f"{_mimic_dir(r.subject_id, r.study_id)}.txt").read_text()
        assert edema_grade_from_text(text) == r.edema_severity, text
    cons = pd.read_csv(root / "edema/consensus_image_edema_severity.csv")
    assert list(cons.columns) == ["subject_id", "study_id", "dicom_id", "edema_severity"]
