"""The plain per-model trainer: one nn.Sequential, one optimizer, the reference for the fast path.

The data stay in memory as tensors (no DataLoader). Each epoch draws a permutation of the
training set from a torch.Generator seeded with `order_seed`. The batch order therefore
depends on that seed alone and can be shared across initializers (a paired comparison). The last,
smaller batch is kept, as a DataLoader with drop_last=False would. The stacked trainer in
initlib.stacked uses the same helpers and must give the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from initlib.data import MNISTTensors
from initlib.optim import make_optimizer

EVAL_CHUNK = 2000  # test examples per forward pass at evaluation: bounds activation memory


@dataclass
class TrainResult:
    """Per-epoch metrics (one dict per model and epoch), wall seconds per epoch (training only,
    evaluation excluded) and the test curve (one dict per model and evaluation step)."""

    metrics: list[dict] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)


def resolve_device(device: str = "auto") -> torch.device:
    """Return the CUDA device when device="auto" and one is present, else the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def batch_order(num_examples: int, seed: int) -> Iterator[torch.Tensor]:
    """Yield one permutation of range(num_examples) per epoch, drawn from a generator seeded with `seed`."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randperm(num_examples, generator=generator)


def batch_slices(num_examples: int, batch_size: int) -> list[slice]:
    """Return the batch boundaries of one epoch; the last batch has the remainder."""
    return [slice(start, min(start + batch_size, num_examples)) for start in range(0, num_examples, batch_size)]


class EpochLog:
    """Print one fixed-width row per epoch: losses to 4 decimals, accuracy in percent."""

    HEADER = f"{'epoch':>5} {'train_loss':>10} {'test_loss':>10} {'test_acc%':>9} {'min_acc%':>8} {'max_acc%':>8} {'diverged':>8} {'seconds':>8}"

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        if enabled:
            print(self.HEADER)

    def row(self, epoch: int, rows: Sequence[dict], seconds: float) -> None:
        """Print the mean over the models still training, and the count of diverged models."""
        if not self.enabled:
            return
        alive = [r for r in rows if not r["diverged"]]
        diverged = len(rows) - len(alive)
        if alive:
            mean = lambda key: sum(r[key] for r in alive) / len(alive)  # noqa: E731
            accuracies = [100 * r["test_accuracy"] for r in alive]
            train_loss = mean("train_loss")
            train_text = "-" if math.isnan(train_loss) else f"{train_loss:.4f}"
            print(
                f"{epoch:>5} {train_text:>10} {mean('test_loss'):>10.4f} {100 * mean('test_accuracy'):>9.2f} "
                f"{min(accuracies):>8.2f} {max(accuracies):>8.2f} {diverged:>8} {seconds:>8.2f}"
            )
        else:
            print(f"{epoch:>5} {'-':>10} {'-':>10} {'-':>9} {'-':>8} {'-':>8} {diverged:>8} {seconds:>8.2f}")


def metrics_row(model_index: int, epoch: int, step: int, train_loss: float, test_loss: float,
                test_accuracy: float, diverged_step: int | None) -> dict:
    """Build one tidy metrics record; a diverged model's losses and accuracy are NaN."""
    diverged = diverged_step is not None
    nan = float("nan")
    return {
        "model": model_index,
        "epoch": epoch,
        "step": step,
        "train_loss": nan if diverged else train_loss,
        "test_loss": nan if diverged else test_loss,
        "test_accuracy": nan if diverged else test_accuracy,
        "diverged": diverged,
        "diverged_step": diverged_step,
    }


@torch.no_grad()
def evaluate(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (mean cross-entropy, accuracy) of `forward` on (x, y), per model.

    `forward` maps (n, 784) inputs to logits of shape (n, 10) or (M, n, 10); the results
    have shape () or (M,) accordingly.
    """
    loss_sum, correct = 0.0, 0.0
    for chunk in batch_slices(len(x), EVAL_CHUNK):
        logits = forward(x[chunk])
        labels = y[chunk].expand(logits.shape[:-1])
        loss_sum = loss_sum + F.cross_entropy(logits.movedim(-1, 1) if logits.dim() == 3 else logits, labels, reduction="none").sum(-1)
        correct = correct + (logits.argmax(-1) == labels).sum(-1)
    return loss_sum / len(x), correct / len(x)


def train_model(
    model: nn.Module,
    data: MNISTTensors,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    order_seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    log: bool = False,
) -> TrainResult:
    """Train one model with CrossEntropyLoss and record metrics at init (epoch 0) and after each epoch.

    Training stops early, with the model marked diverged, at the first step whose loss or
    gradient is not finite. Its later epochs are recorded as diverged with NaN metrics.
    """
    device = torch.device(device)
    model.to(device)
    data = data.to(device)
    opt = make_optimizer(optimizer, model.parameters(), lr)
    orders = batch_order(len(data.train_x), order_seed)
    slices = batch_slices(len(data.train_x), batch_size)
    result, epoch_log = TrainResult(), EpochLog(log)
    step, diverged_step = 0, None

    def record(epoch: int, train_loss: float, seconds: float) -> None:
        test_loss, test_accuracy = evaluate(model, data.test_x, data.test_y)
        row = metrics_row(0, epoch, step, train_loss, test_loss.item(), test_accuracy.item(), diverged_step)
        result.metrics.append(row)
        result.epoch_seconds.append(seconds)
        epoch_log.row(epoch, [row], seconds)

    # epoch 0: the network as initialized, evaluated on the full training and test sets
    record(0, evaluate(model, data.train_x, data.train_y)[0].item(), 0.0)

    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        permutation = next(orders).to(device)
        loss_sum = 0.0
        for batch in tqdm(slices, desc=f"epoch {epoch}", disable=not progress or diverged_step is not None, leave=False):
            if diverged_step is not None:
                break
            index = permutation[batch]
            logits = model(data.train_x[index])
            loss = F.cross_entropy(logits, data.train_y[index])

            opt.zero_grad(set_to_none=True)
            loss.backward()
            step += 1

            # a non-finite loss or gradient ends this model's training
            grads_finite = all(torch.isfinite(p.grad).all() for p in model.parameters())
            if not (torch.isfinite(loss) and grads_finite):
                diverged_step = step
                break
            opt.step()
            loss_sum += loss.item() * len(index)
        record(epoch, loss_sum / len(data.train_x), time.perf_counter() - start)
    return result
