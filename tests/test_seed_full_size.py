"""Slow: the seed's examples at full size (256 channels, 64x64) built and run in Paddle and torch: the
FPN, the PAFPN, and the largest BiFPN (6 levels, 5 cells), which holds every node kind of the two
smaller BiFPN examples. At batch 1: the batch only passes through, and a batch-2 forward of that
BiFPN takes Paddle twice as long (test_seed_examples.py checks all five examples at the seed's batch
2 against its printed shapes and an independent count)."""

from __future__ import annotations

import pytest
from frameworks import build, check_paddle, check_torch_counts

from fpnprof.model.config import NeckConfig

SEED_EXAMPLES = [("fpn", 4, 3), ("pafpn", 4, 3), ("bifpn", 6, 5)]


@pytest.mark.slow
@pytest.mark.parametrize(("neck", "levels", "cells"), SEED_EXAMPLES, ids=[f"{n}-L{lv}-R{c}" for n, lv, c in SEED_EXAMPLES])
def test_seed_example_full_size(neck: str, levels: int, cells: int) -> None:
    b = build(NeckConfig(neck=neck, levels=levels, cells=cells, batch=1))
    check_paddle(b)
    check_torch_counts(b)
