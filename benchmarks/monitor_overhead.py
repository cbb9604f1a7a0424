"""Overhead of the per-layer monitor: the same stacked training with and without it, interleaved.

Each round trains M models for one epoch over the first --steps batches twice: once with a
LayerMonitor sampling every --interval steps (plus the epoch end) on a 512-image probe batch,
and once without. The overhead is the median over rounds of (with / without - 1).

Run: `.venv/bin/python benchmarks/monitor_overhead.py` (about a minute on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from initlib.data import ensure_mnist, load_mnist
from initlib.models import build_mlp
from initlib.monitor import DEFAULT_INTERVAL, LayerMonitor
from initlib.schemes import initialize
from initlib.stacked import train_stacked

BATCH = 64
PROBE_SIZE = 512


def epoch_seconds(data, models: int, monitor: LayerMonitor | None) -> float:
    """Train `models` He-initialized MLPs stacked for one epoch and return its training seconds."""
    stack = []
    for seed in range(models):
        model = build_mlp()
        initialize(model, "he", torch.Generator().manual_seed(seed))
        stack.append(model)
    result, _ = train_stacked(stack, data, epochs=1, monitor=monitor)
    return result.epoch_seconds[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=5, help="stacked models (default 5, as make reproduce)")
    parser.add_argument("--steps", type=int, default=938, help="batches of 64 per timed epoch (default 938, one full epoch)")
    parser.add_argument("--interval", type=int, default=DEFAULT_INTERVAL, help=f"monitor interval in steps (default {DEFAULT_INTERVAL})")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (default 3)")
    args = parser.parse_args(argv)

    ensure_mnist()
    data = load_mnist(train_subset=args.steps * BATCH, test_subset=1000)
    probe = data.train_x[:PROBE_SIZE]
    ratios = []
    for round_index in range(args.rounds):
        plain = epoch_seconds(data, args.models, None)
        monitored = epoch_seconds(data, args.models, LayerMonitor(probe, args.interval))
        ratios.append(monitored / plain - 1)
        print(f"round {round_index + 1}: without {plain:.2f} s, with monitor {monitored:.2f} s, overhead {100 * ratios[-1]:+.1f}%")
    print(f"median overhead of the monitor (interval {args.interval} steps, M = {args.models}): {100 * statistics.median(ratios):+.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
