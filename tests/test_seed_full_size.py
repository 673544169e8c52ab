"""Slow: the seed's examples at full size (256 channels, 64x64) built in Paddle and torch: the FPN,
the PAFPN, and the largest BiFPN (6 levels, 5 cells), which holds every node kind of the two smaller
BiFPN examples. At batch 1: the batch only passes through. Paddle runs the FPN and PAFPN; the BiFPN
(213 M parameters) Paddle builds and counts, and torch runs (Paddle's forward of it took 12-25 s;
Paddle's shapes are checked on the whole grid at small sizes in test_grid.py). test_seed_examples.py
checks all five examples at the seed's batch 2 against its printed shapes and an independent count."""

from __future__ import annotations

import pytest
from frameworks import build, check_paddle, check_torch_counts, check_torch_shapes

from fpnprof.model.config import NeckConfig

SEED_EXAMPLES = [("fpn", 4, 3), ("pafpn", 4, 3), ("bifpn", 6, 5)]


@pytest.mark.slow
@pytest.mark.parametrize(("neck", "levels", "cells"), SEED_EXAMPLES, ids=[f"{n}-L{lv}-R{c}" for n, lv, c in SEED_EXAMPLES])
def test_seed_example_full_size(neck: str, levels: int, cells: int) -> None:
    b = build(NeckConfig(neck=neck, levels=levels, cells=cells, batch=1))
    check_paddle(b, run=neck != "bifpn")
    if neck == "bifpn":
        check_torch_shapes(b)
    check_torch_counts(b)
