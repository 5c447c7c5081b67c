"""Contrastive loss over the global batch of all processes (SignCLIP's symmetric InfoNCE, as in J22Melody/fairseq
examples/MMPT `mmpt/losses/nce.py`), with open_clip's `local_loss` scheme.

Each process scores its own B_r poses against the texts of every process (and its own texts against
every pose), with the embeddings gathered *with autograd*; its loss is the mean over its own rows of
CE(pose -> all texts) + CE(text -> all poses). The backward of the gather sums, on each process, the
gradients that every process's loss sends to its embeddings, so the local parameter gradient is
∂(Σ_r L_r)/∂θ through its own forward; DDP then averages over the W processes. With equal local batches
mean_r L_r is the single-process loss on the concatenated batch, so the averaged gradient is exactly the
single-process gradient: no extra scaling is needed (and none may be added).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..modeling import signclip_loss

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0 whose backward all-reduces (sums) the gradient and keeps this rank's slice.

    Written out because `torch.distributed.nn.all_gather` is deprecated in torch 2.13 (its replacement is
    private). The all-reduce moves the whole (B, E) gradient instead of a reduce-scatter's (B_r, E): for
    embeddings (B × 768 floats) that is negligible, and every backend (gloo, NCCL, ...) has it.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.contiguous()
        ctx.rank, ctx.size = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.size : (ctx.rank + 1) * ctx.size]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` (B, ...) from all processes in rank order; gradients flow back to each rank."""
    if not _distributed():
        return tensor
    return _GatherWithGrad.apply(tensor)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _check_equal_batches(batch_size: int, device: torch.device) -> None:
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([batch_size], device=device))
    if len({int(s) for s in sizes}) != 1:
        raise ValueError(
            f"all processes need the same local batch size for the gathered contrastive loss, got "
            f"{[int(s) for s in sizes]} (drop the last incomplete batch)"
        )


def distributed_contrastive_loss(pose_embeds: torch.Tensor, text_embeds: torch.Tensor, score: ScoreFn) -> torch.Tensor:
    """This process's share of the contrastive loss (`signclip_loss`) over the global batch (negatives from all processes).

    `score(poses, texts)` -> (P, T) logits (`SignCLIPModel.score`). With one process this is exactly
    `signclip_loss(score(pose_embeds, text_embeds))`; with W equal shards the mean over processes is the
    single-process loss on the concatenated batch, and DDP's gradient average equals its gradient.
    """
    if not _distributed():
        return signclip_loss(score(pose_embeds, text_embeds))
    _check_equal_batches(pose_embeds.shape[0], pose_embeds.device)
    all_pose, all_text = gather_with_grad(pose_embeds), gather_with_grad(text_embeds)
    local = pose_embeds.shape[0]
    labels = torch.arange(local, device=pose_embeds.device) + local * dist.get_rank()
    logits_per_pose = score(pose_embeds, all_text)  # (B_r, B): rows = this rank's poses
    logits_per_text = score(all_pose, text_embeds).t()  # (B_r, B): rows = this rank's texts
    return F.cross_entropy(logits_per_pose, labels) + F.cross_entropy(logits_per_text, labels)


__all__ = ["distributed_contrastive_loss", "gather_with_grad"]
