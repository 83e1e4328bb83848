"""A tiny SegFormer human-parsing model folder (transformers format) whose answer is fixed by its bias."""

from __future__ import annotations

from pathlib import Path


def build_tiny_segmenter(dest: Path, everything: str = "Person") -> Path:
    """A folder whose model labels every pixel `everything` ("Person" or "Background")."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    labels = {0: "Background", 1: "Person"}
    config = SegformerConfig(
        num_channels=3, num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8], num_attention_heads=[1],
        patch_sizes=[7], strides=[4], mlp_ratios=[1], decoder_hidden_size=8, num_labels=2,
        id2label=labels, label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    model = SegformerForSemanticSegmentation(config)
    with torch.no_grad():
        model.decode_head.classifier.weight.zero_()
        winner = {v: k for k, v in labels.items()}[everything]
        model.decode_head.classifier.bias.copy_(torch.tensor([5.0 if i == winner else -5.0 for i in range(2)]))
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(dest)
    return dest
