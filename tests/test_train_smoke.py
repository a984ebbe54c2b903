"""End to end on CPU: a batch from the synthetic cohort (X-ray + ECG + combined note pairs, with the paper's
augmentations) goes through the `tiny` MoRE model and its objective, and one AdamW step changes the weights; and
for every objective of the loss registry, a few training steps of a tiny model move the learned logit scale/bias
and leave the fixed ones where they were (the model owns them; the losses own none)."""
import math

import pytest
import torch
from torch.utils.data import DataLoader

from morebench.data.cxr import CXRAugment
from morebench.data.ecg import ECGAugment
from morebench.data.pairs import PairedDataset, build_pair_index, collate_pairs, cohort_roots
from morebench.encoders.base import Tower
from morebench.losses import create_loss, list_losses, objective_scalars
from morebench.model import create_model, create_model_and_transforms, create_objective
from morebench.synth.write import write_cohort
from morebench.utils import seed_everything


def test_tiny_model_trains_on_a_synthetic_cohort_batch(tmp_path):
    seed_everything(0)
    write_cohort(tmp_path, n_patients=12, seed=0, formats=("mimic-ecg", "mimic-cxr"), progress=False)
    pairs, info, unreadable = build_pair_index(tmp_path)
    assert len(pairs) >= 4 and not unreadable
    model, cxr_cfg, ecg_cfg, tokenizer = create_model_and_transforms("tiny")
    assert all(isinstance(t, Tower) for t in (model.xray, model.ecg, model.text))
    size = cxr_cfg.size
    cxr_root, ecg_root = cohort_roots(tmp_path, None, None)
    ds = PairedDataset(pairs, cxr_root, ecg_root, cxr_cfg=cxr_cfg, cxr_augment=CXRAugment(size=size),
                       ecg_augment=ECGAugment(), seed=0)
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=False, collate_fn=collate_pairs)))
    # the transforms made from the model's config produce exactly what its towers expect
    assert batch["xray"].shape == (4, *model.xray.input_spec.shape)
    assert batch["ecg"].shape == (4, *model.ecg.input_spec.shape) == (4, 12, ecg_cfg.n_samples)
    assert all(n.startswith("The report from Xray is:") for n in batch["xray_note"])
    assert batch["labels"].ndim == 2 and batch["labels"].shape[0] == 4  # the one batch key for labels

    loss_fn = create_objective(model)
    opt = torch.optim.AdamW(model.param_groups(weight_decay=0.1), lr=1e-3)
    model.train()
    tokens = tokenizer(batch["xray_note"], batch["ecg_note"])
    assert tokens["input_ids"].shape[1] <= model.text.input_spec.max_length
    feats = model({"xray": batch["xray"], "ecg": batch["ecg"], "text": tokens})
    assert feats["xray"].shape == feats["ecg"].shape == feats["text"].shape
    terms = loss_fn(feats, batch)
    assert set(terms) >= {"loss", "text_xray", "text_ecg"} and torch.isfinite(terms["loss"])
    medclip = create_loss("medclip")(feats, batch)  # reads batch["labels"] (CheXpert convention, converted)
    assert torch.isfinite(medclip["loss"])
    before = model.xray_proj.net[0].weight.detach().clone()
    terms["loss"].backward()
    assert model.xray_proj.net[0].weight.grad.abs().sum() > 0
    assert model.ecg.patch_embed.conv1.weight.grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(before, model.xray_proj.net[0].weight)


_OBJECTIVES = [(name, {}) for name in list_losses()] + [("more", {"base": "siglip"}), ("structure", {"base": "more"})]


@pytest.fixture(scope="module")
def tokens():
    tok = create_model_and_transforms("tiny", xray__depth=1, ecg__depth=1).tokenizer
    return tok(["xray: mild cardiomegaly.", "xray: clear lungs.", "xray: effusion.", "xray: edema."],
               ["ecg: sinus rhythm.", "ecg: atrial fibrillation.", "ecg: tachycardia.", "ecg: LBBB."])


@pytest.mark.parametrize("name,kwargs", _OBJECTIVES, ids=[f"{n}{'-' + k['base'] if k else ''}" for n, k in _OBJECTIVES])
def test_every_objective_trains_its_model_owned_scalars(name, kwargs, tokens):
    torch.manual_seed(0)
    B, C = 4, 3
    head = {"head": {"num_classes": C, "per_class": 2}} if name == "protoecgnet" else {}  # model-owned prototypes
    model = create_model("tiny", loss=name, loss_kwargs={**kwargs, **head}, xray__depth=1, ecg__depth=1)
    spec = objective_scalars(name, **kwargs)
    loss_fn = create_objective(model)
    assert list(loss_fn.parameters()) == []  # every learnable scalar is the model's
    opt = torch.optim.AdamW(model.param_groups(0.0), lr=0.05)
    start = {k: getattr(model, k).detach().clone() for k in ("logit_scale", "logit_bias") if getattr(model, k) is not None}
    # what the objective asks for is what the model built
    assert ("logit_scale" in start) == (spec.logit_scale is not None)
    assert ("logit_bias" in start) == (spec.logit_bias is not None)
    if spec.logit_scale is not None:
        assert math.isclose(start["logit_scale"].item(), spec.logit_scale, rel_tol=1e-6)
        assert ("logit_scale" in dict(model.named_parameters())) == spec.learnable
    g = torch.Generator().manual_seed(1)
    batch = {"xray": torch.randn(B, 3, 112, 112, generator=g), "ecg": torch.randn(B, 12, 1000, generator=g),
             "text": tokens, "labels": torch.randint(-1, 2, (B, C), generator=g).float(), "progress": 0.0, "step": 100}
    model.train()
    for _ in range(3):
        opt.zero_grad()
        feats = model(batch)
        if name == "structure":  # the model's frozen reference (the text tower's copy) plus a random X-ray stand-in
            assert "text_frozen" in feats
            feats = {**feats, "xray_frozen": torch.randn(B, 8, generator=torch.Generator().manual_seed(2))}
        terms = loss_fn(feats, batch)
        assert torch.isfinite(terms["loss"]), terms
        terms["loss"].backward()
        opt.step()
    for k, v0 in start.items():
        v1 = getattr(model, k).detach()
        if spec.learnable:
            assert abs(v1.item() - v0.item()) > 1e-4, (name, k, v0.item(), v1.item())  # it really learns
        else:
            assert torch.equal(v1, v0), (name, k, v0.item(), v1.item())  # fixed: a buffer nobody updates
