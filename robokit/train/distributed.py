"""Data-parallel training across processes started by `torchrun` (torch.distributed; gloo on CPU, nccl on CUDA).

Every rank holds the whole model and trains on its own slice of each global batch: the sampler draws batches of
`train.batch_size x world_size` indices from the same seeded permutation on every rank and rank r keeps slice r
(`IndexBatchSampler(shard=...)`), so every rank takes the same number of steps. `Algo.apply_gradients` averages
the gradients across ranks (`gradient_sync`) before clipping and stepping, so the weights stay identical: two
ranks with batch B step exactly as one process with batch 2B. Rank 0 alone writes logs, videos and checkpoints
and runs the evaluation rollouts.
"""

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from robokit.errors import ConfigError

#: seconds a collective waits for the other ranks before the job fails (a dead or stuck rank never hangs it)
DEFAULT_TIMEOUT_S = 600


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, grads: list[torch.Tensor]) -> None:
        """Replace each gradient by its mean over the ranks: one all-reduce of all of them flattened together."""
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat.div_(self.world_size)
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def gather_objects(self, obj) -> list | None:
        """Every rank's `obj`, in rank order, on rank 0 (None on the others); all ranks must call it together."""
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered if self.is_main else None

    def broadcast_from_main(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank (they start identical whatever the init)."""
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device=None, timeout_s: float = DEFAULT_TIMEOUT_S) -> DistContext | None:
    """Join the job `torchrun` started (None when this process runs alone): nccl with cuda:LOCAL_RANK when CUDA is
    available and no other device is asked for, else gloo on the CPU."""
    if not launched_by_torchrun():
        return None
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if device is not None and torch.device(device).type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {device} cannot train across processes; use cpu or cuda")
    use_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local} has no GPU ({torch.cuda.device_count()} on this node); fix: "
                              f"torchrun --nproc_per_node {torch.cuda.device_count()} or fewer")
        torch.cuda.set_device(local)
        rank_device = torch.device("cuda", local)
    else:
        rank_device = torch.device("cpu")
    dist.init_process_group("nccl" if use_cuda else "gloo", rank=rank, world_size=world,
                            timeout=timedelta(seconds=timeout_s))
    return DistContext(rank, world, local, rank_device)
