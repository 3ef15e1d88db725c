"""Finite scalar quantization (Mentzer et al. 2023), grouped: LFSC's 8 codebooks of [8, 7, 6, 6] = 2016 codes."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from codec.lfsc.nn import mask_to_length


class FiniteScalarQuantizer(nn.Module):
    """Bounds each latent dimension with a shifted tanh and rounds it to one of `num_levels[d]` values."""

    def __init__(self, num_levels: Sequence[int], eps: float = 1e-3):
        super().__init__()
        levels = torch.tensor(list(num_levels), dtype=torch.int32)
        base = torch.cumprod(torch.tensor([1] + list(num_levels[:-1])), dim=0, dtype=torch.int32)
        # Buffers named and shaped [1, D, 1] as in NeMo's checkpoints.
        self.register_buffer("dim_base_index", base[None, :, None])
        self.register_buffer("num_levels", levels[None, :, None])
        self.eps = eps

    @property
    def dim(self) -> int:
        """Latent dimensions quantized by this group."""
        return self.num_levels.numel()

    @property
    def codebook_size(self) -> int:
        """Number of distinct codes (product of the levels)."""
        return math.prod(self.num_levels.flatten().tolist())

    def compress(self, z: torch.Tensor) -> torch.Tensor:
        """Map the latent into (-L/2, L/2) so that rounding yields exactly L values per dimension."""
        scale = (self.num_levels - 1) / 2 * (1 - self.eps)
        offset = torch.where(self.num_levels % 2 == 0, 0.5, 0)
        shift = (offset / scale).tan()
        return scale * (z + shift).tanh() - offset

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Quantized codes in [-1, 1] with a straight-through gradient."""
        compressed = self.compress(z)
        rounded = compressed + (torch.round(compressed) - compressed).detach()
        return rounded / (self.num_levels // 2)

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Mixed-radix index of each code vector ([B, D, T] -> [B, T] int32), first dimension least significant."""
        half = self.num_levels // 2
        digits = half * codes + half
        return torch.sum(digits * self.dim_base_index, dim=1).to(torch.int32)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Inverse of codes_to_indices ([B, T] -> [B, D, T] float)."""
        half = self.num_levels // 2
        digits = (indices[:, None, :] // self.dim_base_index) % self.num_levels
        return (digits - half) / half

    def forward(self, z: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantize [B, D, T] -> (codes [B, D, T], indices [B, T]), both zeroed beyond `lengths`."""
        codes = self.quantize(z)
        indices = self.codes_to_indices(codes)
        return mask_to_length(codes, lengths), mask_to_length(indices[:, None, :], lengths)[:, 0, :]


class GroupFiniteScalarQuantizer(nn.Module):
    """Splits the latent channels into consecutive groups, each with its own FSQ (one codebook per group)."""

    def __init__(self, num_groups: int, num_levels_per_group: Sequence[int], eps: float = 1e-3):
        super().__init__()
        self.num_groups = num_groups
        self.fsqs = nn.ModuleList([FiniteScalarQuantizer(num_levels_per_group, eps) for _ in range(num_groups)])

    @property
    def codebook_dim(self) -> int:
        """Latent channels in all (e.g. 32)."""
        return self.num_groups * self.fsqs[0].dim

    @property
    def codebook_size_per_group(self) -> int:
        """Codes per codebook (e.g. 2016)."""
        return self.fsqs[0].codebook_size

    def forward(self, z: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Quantize [B, C, T] -> (codes [B, C, T], tokens [B, G, T] int32)."""
        pairs = [fsq(part, lengths) for part, fsq in zip(z.chunk(self.num_groups, dim=1), self.fsqs)]
        return torch.cat([c for c, _ in pairs], dim=1), torch.stack([i for _, i in pairs], dim=1)

    def decode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Tokens [B, G, T] -> codes [B, C, T], zeroed beyond `lengths`."""
        codes = [fsq.indices_to_codes(tokens[:, g]) for g, fsq in enumerate(self.fsqs)]
        return mask_to_length(torch.cat(codes, dim=1), lengths)
