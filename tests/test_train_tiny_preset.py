"""The tiny preset's CPU smoke choices: the text tower keeps the first pretrained MiniLM layer (text.num_layers=1,
the same weights as the full model's layer 0), at most 128 tokens (so that longest-first truncation of the note pair
keeps the X-ray note); the X-ray tower has the convolutional stem; the paper preset keeps all layers and timm's patch stem."""
import torch

from morebench.config import TextTowerConfig, load_preset
from morebench.encoders.text import load_text_backbone


def test_tiny_text_tower_is_the_first_pretrained_layer():
    cfg = load_preset("tiny").text
    assert cfg.num_layers == 1 and cfg.max_length == 128
    assert load_preset("tiny").xray.stem == "conv" and load_preset("paper").xray.stem == "patch"
    assert load_preset("paper").text.num_layers is None
    short, pre1 = load_text_backbone(cfg)
    full, pre2 = load_text_backbone(TextTowerConfig(model_name_or_path=cfg.model_name_or_path))
    assert pre1 and pre2 and len(short.encoder.layer) == 1 and len(full.encoder.layer) == 6
    a, b = short.state_dict(), full.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # embeddings and layer 0: the pretrained weights
    ids = torch.tensor([[101, 7592, 2088, 102]])
    assert not torch.allclose(short(input_ids=ids).last_hidden_state, full(input_ids=ids).last_hidden_state)
