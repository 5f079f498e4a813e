"""GradCache: a contrastive batch larger than what fits in memory at once, with the gradients of the full batch.

1. Split the batch into chunks and compute each chunk's representations without a graph, recording the random
   state (dropout!) before each chunk.
2. The caller computes the loss over all representations together (they are a leaf that requires grad).
3. When backward reaches that leaf, each chunk is run again with a graph under its recorded random state (so the
   dropout masks are the ones the loss saw) and its rows' gradient is backpropagated into the model.

Peak activation memory is that of one chunk; the price is a second forward pass. The gradient the hook receives
already carries everything the Trainer applies to the loss (division by gradient accumulation steps, mixed precision
loss scaling), so nothing is done twice or forgotten.

References:
    Gao, Zhang, Han, Callan, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup", RepL4NLP
    2021, https://arxiv.org/abs/2101.06983, Sec. 3 (gradient cache).
"""

import contextlib
from collections.abc import Callable

import torch
from torch.utils.checkpoint import get_device_states, set_device_states

__all__ = ["cached_forward"]


class _RandomState:
    """The CPU random state and that of every accelerator the chunk's tensors live on (any device type, through
    `torch.utils.checkpoint`'s device-state helpers), to run a forward pass again with the same dropout masks."""

    def __init__(self, chunk: dict[str, torch.Tensor]):
        tensors = list(chunk.values())
        self.cpu = torch.get_rng_state()
        self.device_type = next((t.device.type for t in tensors if t.device.type not in ("cpu", "meta")), "cuda")
        self.devices, self.states = get_device_states(*tensors)

    @contextlib.contextmanager
    def replay(self):
        # fork_rng restores the surrounding random state afterwards: the replay does not shift later dropout masks.
        with torch.random.fork_rng(devices=self.devices, device_type=self.device_type):
            torch.set_rng_state(self.cpu)
            set_device_states(self.devices, self.states, device_type=self.device_type)
            yield


def _split(batch: dict[str, torch.Tensor], chunk_size: int) -> list[dict[str, torch.Tensor]]:
    rows = next(iter(batch.values())).size(0)
    return [{k: v[start : start + chunk_size] for k, v in batch.items()} for start in range(0, rows, chunk_size)]


def cached_forward(
    forward: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    batch: dict[str, torch.Tensor],
    chunk_size: int,
    no_sync: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> torch.Tensor:
    """Representations of all rows of `batch`, computed chunk by chunk without a graph, as a leaf tensor whose
    backward replays the chunks with a graph (same random state) and backpropagates into the model.

    forward: maps a chunk of the batch (dict of (rows, ...) tensors) to its (rows, D) representations.
    no_sync: context manager that suspends DDP's gradient all-reduce; used for every chunk but the last, so the
        processes synchronise once per step on the accumulated gradient.
    Returns: (rows, D) tensor, requires_grad. Its backward can run once.
    """
    chunks = _split(batch, chunk_size)
    states, parts = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(_RandomState(chunk))
            parts.append(forward(chunk))
    representations = torch.cat(parts).requires_grad_()

    def replay(grad: torch.Tensor) -> None:
        start = 0
        with torch.enable_grad():  # backward hooks run with grad mode off
            for i, (chunk, state) in enumerate(zip(chunks, states)):
                sync = contextlib.nullcontext() if i == len(chunks) - 1 else no_sync()
                with sync, state.replay():
                    output = forward(chunk)
                    output.backward(grad[start : start + output.size(0)].to(output.dtype))
                start += output.size(0)

    representations.register_hook(replay)
    return representations
