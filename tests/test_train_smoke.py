"""End to end on CPU: a batch from the synthetic cohort (X-ray + ECG + combined note pairs, with the paper's
augmentations) goes through the `tiny` MoRE model and the MoRE objective, and one AdamW step changes the weights."""
import torch
from torch.utils.data import DataLoader

from morebench.data.cxr import CXRAugment, CXRPreprocessConfig
from morebench.data.ecg import ECGAugment
from morebench.data.pairs import PairedDataset, build_pair_index, collate_pairs, cohort_roots
from morebench.losses import create_loss
from morebench.model import create_model
from morebench.synth.write import write_cohort
from morebench.utils import seed_everything


def test_tiny_model_trains_on_a_synthetic_cohort_batch(tmp_path):
    seed_everything(0)
    write_cohort(tmp_path, n_patients=12, seed=0, formats=("mimic-ecg", "mimic-cxr"), progress=False)
    pairs, info, unreadable = build_pair_index(tmp_path)
    assert len(pairs) >= 4 and not unreadable
    model = create_model("tiny")
    size = model.cfg.xray.img_size
    cxr_root, ecg_root = cohort_roots(tmp_path, None, None)
    ds = PairedDataset(pairs, cxr_root, ecg_root, cxr_cfg=CXRPreprocessConfig(size=size),
                       cxr_augment=CXRAugment(size=size), ecg_augment=ECGAugment(), seed=0)
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=False, collate_fn=collate_pairs)))
    assert batch["xray"].shape == (4, 3, size, size) and batch["ecg"].shape == (4, 12, 1000)
    assert all(n.startswith("The report from Xray is:") for n in batch["xray_note"])

    loss_fn = create_loss("more")
    opt = torch.optim.AdamW(model.param_groups(weight_decay=0.1), lr=1e-3)
    model.train()
    tokens = model.text.tokenize(batch["xray_note"], batch["ecg_note"])
    feats = model({"xray": batch["xray"], "ecg": batch["ecg"], "text": tokens})
    assert feats["xray"].shape == feats["ecg"].shape == feats["text"].shape
    terms = loss_fn(feats, batch)
    assert set(terms) >= {"loss", "text_xray", "text_ecg"} and torch.isfinite(terms["loss"])
    before = model.xray_proj.net[0].weight.detach().clone()
    terms["loss"].backward()
    assert model.xray_proj.net[0].weight.grad.abs().sum() > 0
    assert model.ecg.patch_embed.conv1.weight.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(before, model.xray_proj.net[0].weight)
