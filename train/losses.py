"""LFSC's adversarial training losses (spec section 5.1): least-squares GAN and feature matching."""

from __future__ import annotations

from typing import Sequence

import torch


def generator_adversarial_loss(scores_gen: Sequence[torch.Tensor]) -> torch.Tensor:
    """Least-squares generator loss: mean over score maps of mean((1 - D(G(x)))^2)."""
    return sum(torch.mean((1 - s.float()) ** 2) for s in scores_gen) / len(scores_gen)


def discriminator_loss(scores_real: Sequence[torch.Tensor], scores_gen: Sequence[torch.Tensor]) -> torch.Tensor:
    """Least-squares discriminator loss: mean over score maps of [mean((1 - D(x))^2) + mean(D(G(x))^2)] / 2."""
    pairs = list(zip(scores_real, scores_gen))
    return sum((torch.mean((1 - r.float()) ** 2) + torch.mean(g.float() ** 2)) / 2 for r, g in pairs) / len(pairs)


def feature_matching_loss(fmaps_real: Sequence[Sequence[torch.Tensor]], fmaps_gen: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """L1 feature matching: per discriminator the mean over its feature maps of mean|f_real - f_gen|, then the mean."""
    total = 0.0
    for real, gen in zip(fmaps_real, fmaps_gen):
        total = total + sum(torch.mean((r.float() - g.float()).abs()) for r, g in zip(real, gen)) / len(real)
    return total / len(fmaps_real)
