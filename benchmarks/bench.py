"""Training-speed benchmark: the paper-style loop, the plain trainer and the stacked trainer, side by side.

All configurations run in this one process on the same MNIST data, interleaved over several
rounds, so a slow moment of a shared machine hits every configuration alike. The table
reports the median round. Each configuration trains one epoch over the first `--steps`
batches (64 examples each) and its time is scaled to a 60,000-example epoch. Evaluation is
not timed.

  (a) paper-style: torchvision MNIST + ToTensor + DataLoader(batch 64, shuffle), one model
  (b) initlib.train.train_model: in-memory tensors, one model
  (c) initlib.stacked.train_stacked with M models sharing each batch

Also printed: achieved GFLOP/s (forward and backward products of the 784-128-64-10 MLP;
no gradient for the input images) beside an sgemm peak measured in the same run, and the
peak memory each configuration adds to what the loaded data takes, measured in a fresh child
process (CPU: peak resident set size; CUDA: torch.cuda.max_memory_allocated).

Run: `make bench` or `python benchmarks/bench.py --rounds 3 --output benchmarks/cpu.md`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from initlib.data import DATA_DIR, ensure_mnist, load_mnist
from initlib.models import build_mlp
from initlib.schemes import initialize
from initlib.stacked import train_stacked
from initlib.train import resolve_device, train_model

TRAIN_EXAMPLES = 60_000
BATCH = 64
HIDDEN = (128, 64)


def flops_per_example(widths=(784, *HIDDEN, 10)) -> int:
    """Return the multiply-add FLOPs of one training example: forward, weight and input gradients.

    The input gradient of the first layer is not needed (the images are not trained), so
    it is left out: 2*sum(in*out) forward + 2*sum(in*out) weight grads + 2*sum_{l>1}(in*out).
    """
    products = [fan_in * fan_out for fan_in, fan_out in zip(widths[:-1], widths[1:])]
    return 2 * sum(products) + 2 * sum(products) + 2 * sum(products[1:])


def sgemm_gflops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """Return the GFLOP/s of a float32 size x size matrix product, best of `repeats`."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def new_models(count: int) -> list[torch.nn.Sequential]:
    models = []
    for seed in range(count):
        model = build_mlp(HIDDEN)
        initialize(model, "he", torch.Generator().manual_seed(seed))
        models.append(model)
    return models


def paper_style_epoch(steps: int, device: torch.device) -> float:
    """Time `steps` batches of the paper-style loop: DataLoader over torchvision's MNIST with ToTensor."""
    dataset = datasets.MNIST(DATA_DIR, train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(Subset(dataset, range(steps * BATCH)), batch_size=BATCH, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model = torch.nn.Sequential(torch.nn.Flatten(), *new_models(1)[0]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def train_once(name: str, device: torch.device, data) -> float:
    """Train configuration `name` for one epoch over `data` and return its training seconds."""
    steps = len(data.train_x) // BATCH
    if name == "paper":
        return paper_style_epoch(steps, device)
    if name == "plain":
        return train_model(new_models(1)[0], data, epochs=1, device=device).epoch_seconds[1]
    count = int(name.split("=")[1])
    return train_stacked(new_models(count), data, epochs=1, device=device)[0].epoch_seconds[1]


def peak_memory(name: str, device: torch.device, steps: int = 50) -> int:
    """Return the peak bytes that `steps` batches of configuration `name` add, measured in a fresh process.

    A fresh process is needed because this one's allocator keeps memory from earlier
    configurations, and a sampling thread would take a core from the timed runs.
    """
    command = [sys.executable, __file__, "--memory-of", name, "--steps", str(steps), "--device", str(device)]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    return int(completed.stdout.split()[-1])


def _status_kib(field: str) -> int:
    """Return a memory field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line; the memory column needs Linux")


def report_child_peak(name: str, steps: int, device: torch.device) -> None:
    """Train `name` for `steps` batches and print the peak bytes above the memory in use after loading data.

    CPU: writing 5 to /proc/self/clear_refs resets the peak resident set size (VmHWM) to the
    current one (Linux), so VmHWM after training minus VmRSS before it is the training's peak.
    CUDA: torch.cuda.max_memory_allocated after a reset.
    """
    data = load_mnist(train_subset=steps * BATCH, test_subset=100).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        train_once(name, device, data)
        print(torch.cuda.max_memory_allocated(device) - start)
        return
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    start = _status_kib("VmRSS")
    train_once(name, device, data)
    print((_status_kib("VmHWM") - start) * 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="batches of 64 timed per configuration (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; the median is reported (default 3)")
    parser.add_argument("--stack-sizes", default="1,5,10,20,40", help="comma-separated M for the stacked trainer")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--output", type=Path, help="also write the Markdown table to this file")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # internal: the child process of peak_memory
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        parser.error(f"--steps and --rounds must be >= 1, got {args.steps} and {args.rounds}")
    try:
        stack_sizes = [int(size) for size in args.stack_sizes.split(",")]
    except ValueError:
        parser.error(f"--stack-sizes must be comma-separated integers such as 1,5,10, got {args.stack_sizes!r}")

    device = resolve_device(args.device)
    if args.memory_of:
        report_child_peak(args.memory_of, args.steps, device)
        return 0
    ensure_mnist()
    data = load_mnist(train_subset=args.steps * BATCH, test_subset=1000).to(device)
    configs = ["paper", "plain", *[f"stacked M={m}" for m in stack_sizes]]
    models = {"paper": 1, "plain": 1, **{f"stacked M={m}": m for m in stack_sizes}}
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    peaks = []

    for round_index in range(args.rounds):
        peaks.append(sgemm_gflops(device))
        for name in configs:
            elapsed = train_once(name, device, data)
            seconds[name].append(elapsed)
            print(f"round {round_index + 1}/{args.rounds} {name:<14} {elapsed:7.3f} s for {args.steps} steps", file=sys.stderr)
    memory = {name: peak_memory(name, device) for name in configs}

    scale = TRAIN_EXAMPLES / (args.steps * BATCH)  # timed steps -> one 60,000-example epoch
    flops_epoch = flops_per_example() * TRAIN_EXAMPLES
    peak = statistics.median(peaks)
    paper = statistics.median(seconds["paper"]) * scale
    lines = [
        f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or platform.machine()}), "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"sgemm 2048x2048 peak (median of {args.rounds} rounds): {peak:.0f} GFLOP/s; "
        f"one model-epoch = {flops_epoch / 1e9:.1f} GFLOP; {args.steps} steps timed, scaled to 60,000 examples",
        "",
        "| configuration | models | s per model-epoch | speed-up vs (a) | model-epochs per s | GFLOP/s | % of sgemm peak | peak memory MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in configs:
        per_model = statistics.median(seconds[name]) * scale / models[name]
        gflops = flops_epoch / per_model / 1e9
        label = {"paper": "(a) paper-style DataLoader loop", "plain": "(b) initlib plain trainer"}.get(name, f"(c) {name}")
        lines.append(
            f"| {label} | {models[name]} | {per_model:.3f} | {paper / per_model:.1f}x | {1 / per_model:.1f} | "
            f"{gflops:.0f} | {100 * gflops / peak:.0f}% | {memory[name] / 2**20:.0f} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
