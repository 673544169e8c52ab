"""What a kernel class's line misses, learnt from its in-context samples: gradient-boosted regression
trees on ``log(measured / line)`` over the kernel's shapes (an NCHW kernel's speed jumps with its
row width, a conv's with which algorithm the framework picks for its channels: steps no line has).

Fitted with scikit-learn at calibration; kept in the model file as plain arrays (never a pickle)
and evaluated here with numpy, so ``predict`` and ``sweep`` need no scikit-learn. A test holds
these arrays' predictions to scikit-learn's own on the same inputs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: A kernel's features: the logs of its shapes and work (:func:`features`).
FEATURES = (
    "batch",
    "in_channels",
    "out_channels",
    "out_height",
    "out_width",
    "in_height",
    "in_width",
    "inputs",
    "flops",
    "bytes",
    "in_channel_padding",
    "out_channel_padding",
)
#: oneDNN's AVX-512 convs work on channels in blocks of this many: a 3x3 conv of 34 channels took
#: 1.55x its line here (C=39 1.16x, C=46 1.12x; torch, 1 thread), as if padded to 48.
CHANNEL_BLOCK = 16
TREES = 150
DEPTH = 3
RATE = 0.05
#: A class gets trees once it has this many in-context samples.
MIN_SAMPLES = 30


def padding(channels: int) -> float:
    """Channels rounded up to a whole :data:`CHANNEL_BLOCK`, over the channels (1.0 for a multiple)."""
    c = max(int(channels), 1)
    return -(-c // CHANNEL_BLOCK) * CHANNEL_BLOCK / c


def features(dims: Sequence[int], flops: float, nbytes: float) -> list[float]:
    """:data:`FEATURES` of a kernel (``dims``: :attr:`fpnprof.latency.kernels.Kernel.dims`)."""
    n, ci, hi, wi, co, ho, wo, k = dims
    logs = [math.log(max(float(v), 1.0)) for v in (n, ci, co, ho, wo, hi, wi, k, flops, nbytes)]
    return [*logs, math.log(padding(ci)), math.log(padding(co))]


@dataclass(frozen=True)
class Trees:
    """A boosted ensemble as arrays, tree by tree, node by node: a split node sends a row whose
    feature is <= its threshold left; a leaf is its own left and right child (every tree is walked
    ``depth`` steps). Prediction: ``base + rate * sum of the leaves reached``."""

    base: float
    rate: float
    depth: int
    feature: list[list[int]]
    threshold: list[list[float]]
    left: list[list[int]]
    right: list[list[int]]
    value: list[list[float]]

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: Any) -> Trees:
        """Checked: every tree's arrays of one length, children inside the tree, finite numbers."""
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise ValueError("trees have the wrong fields")
        trees = cls(**data)
        arrays = (trees.feature, trees.threshold, trees.left, trees.right, trees.value)
        if not all(isinstance(a, list) and len(a) == len(trees.feature) for a in arrays):
            raise ValueError("trees: arrays of different lengths")
        for f, t, left, right, v in zip(*arrays, strict=True):
            n = len(f)
            if not n or any(len(a) != n for a in (t, left, right, v)):
                raise ValueError("trees: a tree's arrays differ in length")
            if not all(0 <= c < n for c in (*left, *right)) or not all(0 <= x < len(FEATURES) for x in f):
                raise ValueError("trees: a child or feature out of range")
        numbers = [trees.base, trees.rate, *(x for tree in (*trees.threshold, *trees.value) for x in tree)]
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in numbers) or not 0 < trees.depth <= 32:
            raise ValueError("trees: a number is not finite")
        return trees

    @functools.cached_property
    def _arrays(self) -> tuple[np.ndarray, ...]:
        width = max(len(f) for f in self.feature)

        def pad(rows: list[list[Any]], dtype: type) -> np.ndarray:
            out: np.ndarray = np.zeros((len(rows), width), dtype=dtype)
            for i, r in enumerate(rows):
                out[i, : len(r)] = r
            return out

        return (
            pad(self.feature, np.int64),
            pad(self.threshold, np.float64),
            pad(self.left, np.int64),
            pad(self.right, np.int64),
            pad(self.value, np.float64),
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The ensemble's output for each row of ``x`` (rows x :data:`FEATURES`), compared as
        scikit-learn compares (features as float32)."""
        feature, threshold, left, right, value = self._arrays
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        rows = np.arange(len(x))[:, None]
        trees = np.arange(len(feature))[None, :]
        node = np.zeros((len(x), len(feature)), dtype=np.int64)
        for _ in range(self.depth):
            go_left = x[rows, feature[trees, node]] <= threshold[trees, node]
            node = np.where(go_left, left[trees, node], right[trees, node])
        out: np.ndarray = self.base + self.rate * value[trees, node].sum(axis=1)
        return out


def sklearn_available() -> bool:
    try:
        import sklearn.ensemble  # noqa: F401
    except ImportError:
        return False
    return True


def fit_trees(x: Sequence[Sequence[float]], y: Sequence[float], seed: int = 0) -> Trees:
    """Boosted trees (scikit-learn's GradientBoostingRegressor, squared error) on rows ``x`` and
    targets ``y``, as :class:`Trees`. Needs scikit-learn (:func:`sklearn_available`)."""
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(
        n_estimators=TREES, max_depth=DEPTH, learning_rate=RATE, subsample=0.8, random_state=seed
    ).fit(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return from_sklearn(model)


def from_sklearn(model: Any) -> Trees:
    """A fitted GradientBoostingRegressor (one output) as :class:`Trees`."""
    feature: list[list[int]] = []
    threshold: list[list[float]] = []
    left: list[list[int]] = []
    right: list[list[int]] = []
    value: list[list[float]] = []
    for est in model.estimators_[:, 0]:
        t = est.tree_
        nodes = range(t.node_count)
        leaf = [int(t.children_left[i]) == -1 for i in nodes]
        feature.append([0 if leaf[i] else int(t.feature[i]) for i in nodes])
        threshold.append([0.0 if leaf[i] else float(t.threshold[i]) for i in nodes])
        left.append([i if leaf[i] else int(t.children_left[i]) for i in nodes])
        right.append([i if leaf[i] else int(t.children_right[i]) for i in nodes])
        value.append([float(t.value[i].ravel()[0]) for i in nodes])
    base = float(np.asarray(model.init_.constant_).ravel()[0])
    return Trees(base, float(model.learning_rate), int(model.max_depth), feature, threshold, left, right, value)
