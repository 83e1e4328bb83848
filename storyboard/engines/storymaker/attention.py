"""StoryMaker's UNet side: attention processors with rank-r LoRA deltas and the image-token branch.

Every attention layer gets LoRA deltas on q, k, v and out (times `lora_scale`); every cross-attention
layer also attends to the image tokens through its own `to_k_ip`/`to_v_ip` and adds that, times
`ip_scale`, to the text attention. The processor is told how many context tokens are text
(`text_len`), so prompts longer than one 77-token window work.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from storyboard.errors import EngineError


class LoRADelta(nn.Module):
    """down then up, no bias: the low-rank update of one projection."""

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__()
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x.to(self.down.weight.dtype))).to(x.dtype)


class StoryMakerAttnProcessor(nn.Module):
    """One processor per UNet attention layer; `cross_dim` is None for self-attention (LoRA only)."""

    def __init__(self, hidden_size: int, cross_dim: int | None, rank: int):
        super().__init__()
        context = cross_dim or hidden_size
        self.is_cross = cross_dim is not None
        self.to_q_lora = LoRADelta(hidden_size, hidden_size, rank)
        self.to_k_lora = LoRADelta(context, hidden_size, rank)
        self.to_v_lora = LoRADelta(context, hidden_size, rank)
        self.to_out_lora = LoRADelta(hidden_size, hidden_size, rank)
        if self.is_cross:
            self.to_k_ip = nn.Linear(context, hidden_size, bias=False)
            self.to_v_ip = nn.Linear(context, hidden_size, bias=False)

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        text_len: int | None = None,
        ip_scale: float = 0.8,
        lora_scale: float = 0.8,
    ) -> torch.Tensor:
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        spatial = hidden_states.ndim == 4
        if spatial:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        batch = hidden_states.shape[0]
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        ip_tokens = None
        if encoder_hidden_states is None:
            context = hidden_states
        else:
            context = encoder_hidden_states
            if self.is_cross and text_len is not None and text_len < context.shape[1]:
                context, ip_tokens = context[:, :text_len], context[:, text_len:]
            if attn.norm_cross:
                context = attn.norm_encoder_hidden_states(context)
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, context.shape[1], batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])

        query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        if lora_scale:  # skipped, not multiplied by zero, for panels without characters
            query = query + lora_scale * self.to_q_lora(hidden_states)
            key = key + lora_scale * self.to_k_lora(context)
            value = value + lora_scale * self.to_v_lora(context)
        head_dim = key.shape[-1] // attn.heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, -1, attn.heads, head_dim).transpose(1, 2)

        query = heads(query)
        out = F.scaled_dot_product_attention(query, heads(key), heads(value), attn_mask=attention_mask)
        if ip_tokens is not None and ip_scale != 0:
            ip_out = F.scaled_dot_product_attention(query, heads(self.to_k_ip(ip_tokens)), heads(self.to_v_ip(ip_tokens)))
            out = out + ip_scale * ip_out
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)

        projected = attn.to_out[0](out)
        out = projected + lora_scale * self.to_out_lora(out) if lora_scale else projected
        out = attn.to_out[1](out)
        if spatial:
            out = out.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def _hidden_size(name: str, block_out_channels: list[int]) -> int:
    if name.startswith("mid_block"):
        return block_out_channels[-1]
    match = re.match(r"(down|up)_blocks\.(\d+)\.", name)
    if not match:
        raise EngineError(f"Unexpected attention layer {name!r} in the UNet.")
    block = int(match.group(2))
    return block_out_channels[block] if match.group(1) == "down" else list(reversed(block_out_channels))[block]


def processors_for(unet: nn.Module, ip_state: dict[str, torch.Tensor]) -> nn.ModuleList:
    """Processors for every attention layer of `unet`, in `attn_processors` order, loaded strictly from the checkpoint."""
    names = list(unet.attn_processors.keys())
    keys_by_index: dict[int, set[str]] = {}
    for key in ip_state:
        index, _, param = key.partition(".")
        if not index.isdigit():
            raise EngineError(f"The adapter's ip_adapter key {key!r} does not start with a processor index.")
        keys_by_index.setdefault(int(index), set()).add(param)
    if set(keys_by_index) != set(range(len(names))):
        raise EngineError(
            f"The adapter has LoRA weights for {len(keys_by_index)} attention layers, but this UNet has {len(names)}: "
            "the adapter was made for another base model (StoryMaker needs an SDXL UNet)."
        )
    block_out = list(unet.config.block_out_channels)
    cross_dim = unet.config.cross_attention_dim
    processors = []
    for i, name in enumerate(names):
        is_cross = not name.endswith("attn1.processor")
        rank = ip_state[f"{i}.to_q_lora.down.weight"].shape[0]
        processors.append(StoryMakerAttnProcessor(_hidden_size(name, block_out), cross_dim if is_cross else None, rank))
    layers = nn.ModuleList(processors)
    try:
        layers.load_state_dict(ip_state, strict=True)
    except RuntimeError as exc:
        text = " ".join(str(exc).split())
        raise EngineError(f"The adapter's attention weights do not fit this UNet: {text[:600]}") from None
    return layers


def install(unet: nn.Module, layers: nn.ModuleList) -> None:
    """Attach the processors to the UNet's attention layers (the order of `attn_processors`)."""
    unet.set_attn_processor(dict(zip(unet.attn_processors.keys(), layers)))


def installed(unet: nn.Module) -> bool:
    """True while every attention layer still runs a StoryMaker processor (nothing reset them)."""
    return all(isinstance(p, StoryMakerAttnProcessor) for p in unet.attn_processors.values())
