"""Does fpnprof's generic graph executor add overhead? Time its lowered tutorial FPN and BiFPN against
plain hand-written Paddle modules of the same structure, in one process, interleaved.

The hand-written modules are written here for the benchmark (the seed's structures, with its
registration bugs fixed). Weights are copied from the lowered model, and the outputs are compared,
so both sides provably compute the same thing. Prints a table; writes a new benchmarks/results/overhead-*.json.

    python benchmarks/executor_overhead.py [--channels 64] [--rounds 15] [--runs 10]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from datetime import date

os.environ.setdefault("FLAGS_enable_pir_api", "0")
THREADS = os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddle.nn.functional as F  # noqa: E402
from paddle import nn  # noqa: E402
from result_files import save_result  # noqa: E402

from fpnprof.backends import paddle_backend  # noqa: E402
from fpnprof.model.config import NeckConfig  # noqa: E402
from fpnprof.model.parts import part_graph  # noqa: E402


class HandFPN(nn.Layer):
    """The seed's FPN (non-cumulative top-down), sublayers registered."""

    def __init__(self, in_channels: list[int], c: int) -> None:
        super().__init__()
        self.laterals = nn.LayerList([nn.Conv2D(ci, c, 1) for ci in in_channels])
        self.outputs = nn.LayerList([nn.Conv2D(c, c, 3, padding=1) for _ in in_channels])

    def forward(self, feats: list[paddle.Tensor]) -> list[paddle.Tensor]:
        lat = [layer(x) for layer, x in zip(self.laterals, feats, strict=True)]
        outs = [self.outputs[-1](lat[-1])]
        for i in range(len(feats) - 2, -1, -1):
            up = F.interpolate(lat[i + 1], size=lat[i].shape[2:], mode="nearest")
            outs.append(self.outputs[i](up + lat[i]))
        return outs[::-1]


class SepConv(nn.Layer):
    """The seed's node: full 3x3 conv, 1x1 conv, BN, Swish."""

    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv3x3, self.conv1x1, self.bn, self.act = (
            nn.Conv2D(cin, cin, 3, padding=1),
            nn.Conv2D(cin, c, 1),
            nn.BatchNorm2D(c),
            nn.Swish(),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.act(self.bn(self.conv1x1(self.conv3x3(x))))


class HandBiFPNCell(nn.Layer):
    def __init__(self, chans: list[int], c: int) -> None:
        super().__init__()
        n = len(chans)
        # block1 nodes at the middle levels take up(previous) + the level's input; the top one up(X_top).
        block1_in = {j: (chans[-1] if j == n - 2 else c) + chans[j] for j in range(1, n - 1)}
        self.block1 = nn.LayerDict({str(j): SepConv(cin, c) for j, cin in block1_in.items()})
        block1_out = [(c if n > 2 else chans[-1]) + chans[0]] + [c + chans[j] for j in range(1, n - 1)] + [chans[-1]]
        self.block2 = nn.LayerList([SepConv(block1_out[0], c)] + [SepConv(block1_out[j] + c, c) for j in range(1, n)])

    def forward(self, x: list[paddle.Tensor]) -> list[paddle.Tensor]:
        n = len(x)
        t = [None] * n
        t[-1] = cur = x[-1]
        for j in range(n - 2, -1, -1):
            cat = paddle.concat([F.interpolate(cur, size=x[j].shape[2:], mode="nearest"), x[j]], axis=1)
            if j == 0:
                t[0] = cur = cat
            else:
                cur = self.block1[str(j)](cat)
                t[j] = paddle.concat([cur, x[j]], axis=1)
        side = t[0].shape[2]
        outs = [self.block2[0](t[0])]
        for j in range(1, n):
            down = F.adaptive_max_pool2d(outs[-1], side // 2**j)
            outs.append(self.block2[j](paddle.concat([down, t[j]], axis=1)))
        return outs


class HandBiFPN(nn.Layer):
    def __init__(self, in_channels: list[int], c: int, cells: int, extra: int) -> None:
        super().__init__()
        self.extra = extra
        chans = in_channels + [in_channels[-1]] * extra
        self.cells = nn.LayerList([HandBiFPNCell(chans if r == 0 else [c] * len(chans), c) for r in range(cells)])

    def forward(self, feats: list[paddle.Tensor]) -> list[paddle.Tensor]:
        x = list(feats)
        for _ in range(self.extra):
            x.append(F.adaptive_max_pool2d(x[-1], x[-1].shape[2] // 2))
        for cell in self.cells:
            x = cell(x)
        return x


def copy_fpn(lowered: paddle_backend.GraphLayer, hand: HandFPN, levels: list[int]) -> None:
    for i, lvl in enumerate(levels):
        for mine, theirs in ((hand.laterals[i], "lateral"), (hand.outputs[i], "output")):
            src = lowered.nodes[f"neck__fpn__p{lvl}__{theirs}"]
            mine.weight.set_value(src.weight)
            mine.bias.set_value(src.bias)


def copy_bifpn(lowered: paddle_backend.GraphLayer, hand: HandBiFPN, levels: list[int]) -> None:
    def copy(node: SepConv, prefix: str) -> None:
        for name in ("conv3x3", "conv1x1", "bn"):
            src = lowered.nodes[f"{prefix}__node__{name}"]
            dst = getattr(node, name)
            for p in ("weight", "bias", "_mean", "_variance"):
                if hasattr(dst, p) and getattr(dst, p) is not None:
                    getattr(dst, p).set_value(getattr(src, p))

    for r, cell in enumerate(hand.cells):
        for j, lvl in enumerate(levels):
            if str(j) in cell.block1:
                copy(cell.block1[str(j)], f"neck__cell{r}__block1__p{lvl}")
            copy(cell.block2[j], f"neck__cell{r}__block2__p{lvl}")


def timed(fn, runs: int) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - start) * 1e3 / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=10)
    ns = parser.parse_args()
    paddle.set_grad_enabled(False)
    results = []
    for neck, levels in (("fpn", 4), ("bifpn", 5)):
        cfg = NeckConfig(neck=neck, levels=levels, channels=ns.channels, batch=1, size=64, cells=3)
        graph = part_graph(cfg, "neck")
        lowered = paddle_backend.lower(graph)
        feats = paddle_backend.random_inputs(graph)
        lvls = list(range(cfg.min_level, cfg.max_level + 1))
        in_ch = [n.attrs["shape"][1] for n in graph.inputs]
        if neck == "fpn":
            hand = HandFPN(in_ch, ns.channels)
            copy_fpn(lowered, hand, lvls)
        else:
            hand = HandBiFPN(in_ch, ns.channels, cfg.cells, extra=levels - len(in_ch))
            copy_bifpn(lowered, hand, lvls)
        hand.eval()
        ours, theirs = lowered(feats), hand(feats)
        err = max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(ours, theirs, strict=True))
        params = (paddle_backend.count_parameters(lowered), paddle_backend.count_parameters(hand))
        assert params[0] == params[1], params
        for _ in range(3):
            lowered(feats), hand(feats)
        a_ms, b_ms = [], []
        pair = [(a_ms, functools.partial(lowered, feats)), (b_ms, functools.partial(hand, feats))]
        for r in range(ns.rounds):  # interleave, alternating who goes first
            for sink, fn in pair if r % 2 == 0 else pair[::-1]:
                sink.append(timed(fn, ns.runs))
        ratios = [a / b for a, b in zip(a_ms, b_ms, strict=True)]
        results.append(
            {
                "neck": f"{neck} (tutorial)",
                "levels": levels,
                "channels": ns.channels,
                "params": params[0][0],
                "max_abs_output_diff": err,
                "fpnprof_median_ms": statistics.median(a_ms),
                "hand_median_ms": statistics.median(b_ms),
                "ratio_median": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
            }
        )
    print(
        f"paddle {paddle.__version__}, eager, batch 1, 64x64 features of ResNet18 (tutorial stem), {THREADS} threads, "
        f"{ns.rounds} interleaved rounds of {ns.runs} runs"
    )
    print("| neck | params | max abs diff | fpnprof ms | hand-written ms | fpnprof / hand (median, min-max over rounds) |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['neck']} | {r['params']:,} | {r['max_abs_output_diff']:.1e} | {r['fpnprof_median_ms']:.2f} | "
            f"{r['hand_median_ms']:.2f} | {r['ratio_median']:.3f} ({r['ratio_min']:.3f}-{r['ratio_max']:.3f}) |"
        )
    payload = {
        "date": date.today().isoformat(),
        "command": " ".join(sys.argv),
        "paddle": paddle.__version__,
        "threads": THREADS,
        "results": results,
    }
    save_result("overhead", f"threads{THREADS}", payload)


if __name__ == "__main__":
    main()
