"""StoryMaker's image-prompt side: the Positional-aware Perceiver Resampler and checkpoint loading.

Module and parameter names follow the released checkpoint (`mask.bin`) exactly, so it loads with
`strict=True`; every width, depth and token count is read from the tensors, so small test checkpoints in the
same layout load the same way. See ../shared/spec/STORYMAKER_NOTES.md for the layout.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from storyboard.errors import EngineError

SECTIONS = ("image_proj_model", "ip_adapter")
MAX_HEAD_DIM = 64  # the released model uses heads of 64; smaller widths use one head of their own width


def _heads(inner: int) -> tuple[int, int]:
    """(heads, head_dim) for an attention of `inner` width: heads of 64 where the width allows."""
    heads = max(1, inner // MAX_HEAD_DIM)
    if inner % heads:
        heads = 1
    return heads, inner // heads


class PerceiverAttention(nn.Module):
    """Latents attend to the inputs and to themselves (keys/values from both)."""

    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.heads, self.head_dim = _heads(inner)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        x, latents = self.norm1(x), self.norm2(latents)
        batch, n_latents, _ = latents.shape
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat((x, latents), dim=1)).chunk(2, dim=-1)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, t.shape[1], self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        # scale q and k each by head_dim**-0.25 before the product: steadier in fp16 than scaling afterwards
        scale = 1 / math.sqrt(math.sqrt(self.head_dim))
        weights = torch.softmax(((q * scale) @ (k * scale).transpose(-2, -1)).float(), dim=-1).to(q.dtype)
        out = (weights @ v).transpose(1, 2).reshape(batch, n_latents, self.heads * self.head_dim)
        return self.to_out(out)


def _feed_forward(dim: int, hidden: int) -> nn.Sequential:
    # indices 0..3 are the checkpoint's `.0` (norm), `.1` (in), `.3` (out); `.2` is the GELU
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden, bias=False), nn.GELU(), nn.Linear(hidden, dim, bias=False))


class PerceiverStack(nn.Module):
    """proj_in, `depth` (attention, feed-forward) pairs over latents, proj_out and norm_out."""

    def __init__(self, embedding_dim: int, dim: int, inner: int, ff_hidden: int, depth: int, output_dim: int):
        super().__init__()
        self.proj_in = nn.Linear(embedding_dim, dim)
        self.proj_out = nn.Linear(dim, output_dim)
        self.norm_out = nn.LayerNorm(output_dim)
        self.layers = nn.ModuleList(nn.ModuleList([PerceiverAttention(dim, inner), _feed_forward(dim, ff_hidden)]) for _ in range(depth))

    def run(self, latents: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(x)
        for attention, feed_forward in self.layers:
            latents = attention(x, latents) + latents
            latents = feed_forward(latents) + latents
        return self.norm_out(self.proj_out(latents))


class CharacterResampler(PerceiverStack):
    """The character branch (`resample`): learned queries over the character crop's CLIP tokens."""

    def __init__(self, embedding_dim: int, dim: int, inner: int, ff_hidden: int, depth: int, output_dim: int, n_queries: int):
        super().__init__(embedding_dim, dim, inner, ff_hidden, depth, output_dim)
        self.latents = nn.Parameter(torch.randn(1, n_queries, dim) / math.sqrt(dim))

    def forward(self, clip_tokens: torch.Tensor) -> torch.Tensor:
        return self.run(self.latents.expand(clip_tokens.shape[0], -1, -1), clip_tokens)


@dataclass(frozen=True)
class ProjectionConfig:
    """Sizes of the image projection, all read from a checkpoint."""

    cross_attention_dim: int  # D: width of the UNet's cross-attention context (2048 for SDXL)
    id_dim: int  # identity embedding width (512)
    clip_dim: int  # CLIP token width (1280 for ViT-H/14)
    id_tokens: int  # identity tokens per character (4)
    char_tokens: int  # character tokens per character (16)
    max_characters: int  # positions in pos_embed (3)
    face_depth: int
    face_inner: int
    face_ff: int
    char_dim: int  # the character resampler's own width (1280)
    char_depth: int
    char_inner: int
    char_ff: int

    @property
    def tokens_per_character(self) -> int:
        return self.id_tokens + self.char_tokens

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> ProjectionConfig:
        def shape(key: str) -> tuple[int, ...]:
            if key not in sd:
                raise EngineError(f"The adapter checkpoint has no image_proj_model key {key!r}; it is not a StoryMaker checkpoint.")
            return tuple(sd[key].shape)

        def depth(prefix: str) -> int:
            found = {int(m.group(1)) for k in sd if (m := re.match(rf"{prefix}\.layers\.(\d+)\.", k))}
            if not found or found != set(range(max(found) + 1)):
                raise EngineError(f"The adapter checkpoint's {prefix} layers are missing or not numbered 0..n.")
            return len(found)

        n_pos, tokens, dim = shape("pos_embed")
        id_hidden, id_dim = shape("proj.0.weight")
        n_queries, char_dim = shape("resample.latents")[1:]
        id_out = shape("proj.2.weight")[0]
        if id_out % dim:
            raise EngineError(f"The adapter's identity projection gives {id_out} values, not a multiple of its width {dim}.")
        return cls(
            cross_attention_dim=dim,
            id_dim=id_dim,
            clip_dim=shape("perceiver_resampler.proj_in.weight")[1],
            id_tokens=id_out // dim,
            char_tokens=n_queries,
            max_characters=n_pos,
            face_depth=depth("perceiver_resampler"),
            face_inner=shape("perceiver_resampler.layers.0.0.to_q.weight")[0],
            face_ff=shape("perceiver_resampler.layers.0.1.1.weight")[0],
            char_dim=char_dim,
            char_depth=depth("resample"),
            char_inner=shape("resample.layers.0.0.to_q.weight")[0],
            char_ff=shape("resample.layers.0.1.1.weight")[0],
        )


class StoryMakerProjection(nn.Module):
    """Positional-aware Perceiver Resampler: characters' identity, face and body features -> image tokens.

    For n characters the output is (n + 1) * 20 tokens: a learned background block, then each character's
    4 identity and 16 character tokens plus its position embedding.
    """

    def __init__(self, cfg: ProjectionConfig):
        super().__init__()
        d = cfg.cross_attention_dim
        self.cfg = cfg
        self.proj = nn.Sequential(nn.Linear(cfg.id_dim, cfg.id_dim * 2), nn.GELU(), nn.Linear(cfg.id_dim * 2, d * cfg.id_tokens))
        self.norm = nn.LayerNorm(d)
        self.perceiver_resampler = PerceiverStack(cfg.clip_dim, d, cfg.face_inner, cfg.face_ff, cfg.face_depth, d)
        self.resample = CharacterResampler(cfg.clip_dim, cfg.char_dim, cfg.char_inner, cfg.char_ff, cfg.char_depth, d, cfg.char_tokens)
        self.pos_embed = nn.Parameter(torch.zeros(cfg.max_characters, cfg.tokens_per_character, d))
        self.bg_embed = nn.Parameter(torch.zeros(1, cfg.tokens_per_character, d))
        self.proj_out = nn.Linear(d, d)
        self.norm_out = nn.LayerNorm(d)

    def forward(
        self, identity: torch.Tensor, character_tokens: torch.Tensor, face_tokens: torch.Tensor, face_only: bool = False
    ) -> torch.Tensor:
        """(n, id_dim), (n, T, clip_dim), (n, T, clip_dim) -> (1, (n + 1) * tokens_per_character, D)."""
        n = identity.shape[0]
        if n > self.cfg.max_characters:
            raise EngineError(f"This adapter places at most {self.cfg.max_characters} characters; got {n}.")
        ident = self.norm(self.proj(identity).reshape(n, self.cfg.id_tokens, self.cfg.cross_attention_dim))
        ident = ident + self.perceiver_resampler.run(ident, face_tokens)
        body = self.resample(character_tokens)
        if face_only:  # style freedom: keep the face, drop what the crop says about hair, clothes and body
            body = torch.zeros_like(body)
        tokens = torch.cat((ident, body), dim=1) + self.pos_embed[:n]
        tokens = self.norm_out(self.proj_out(tokens)) + tokens
        # the released model keeps its learned background block in the negative branch too
        tokens = torch.cat((self.bg_embed.to(tokens.dtype), tokens), dim=0)
        return tokens.reshape(1, (n + 1) * self.cfg.tokens_per_character, self.cfg.cross_attention_dim)


def read_checkpoint(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Read `mask.bin` (torch pickle, weights only) or a .safetensors file with `section.key` names."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"The StoryMaker adapter {path} does not exist; download mask.bin from RED-AIGC/StoryMaker.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            flat = load_file(str(path))
            data: dict = {}
            for key, value in flat.items():
                section, _, rest = key.partition(".")
                data.setdefault(section, {})[rest] = value
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and safetensors errors have no common base
        raise EngineError(f"Could not read the StoryMaker adapter {path}: {exc}. Download it again.") from exc
    if not isinstance(data, dict) or set(data) != set(SECTIONS):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise EngineError(
            f"{path} is not a StoryMaker adapter: it must hold exactly {SECTIONS}, found {found}."
        )
    return data


def build_projection(state: dict[str, torch.Tensor], source: str = "checkpoint") -> StoryMakerProjection:
    """Build the projection sized from `state` and load it strictly."""
    model = StoryMakerProjection(ProjectionConfig.from_state_dict(state))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise EngineError(f"The StoryMaker adapter in {source} does not match the released layout: {_short(exc)}") from None
    return model.eval()


def _short(exc: Exception, limit: int = 600) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + " ..."
