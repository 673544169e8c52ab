"""Random valid neck files, for ``calibrate --validate``: necks no shipped form has, so a prediction is
checked on wirings the model was never fitted near.

Each file has a lateral node per level, then one to three passes, each top-down or bottom-up, each
fusing the previous pass's node with its own neighbour (sum, concat, fast normalised or softmax
fusion) and running a block drawn from the items necks use (plain, separable and YOLO convs, C3,
BatchNorm, activations); the resampling (pooling or a strided conv), the levels and the extra
levels are drawn too. A file is kept only if it builds and stays under the neck's FLOPs cap.
"""

from __future__ import annotations

import random

from fpnprof.latency.sampling import CHANNELS, SIZES, builds_within
from fpnprof.model.config import NeckConfig
from fpnprof.model.neckfile import adopt_neck_text

LATERALS = ('["conv1x1"]', '["conv1x1(bias=false)", "bn"]', '["cbs"]', '["conv1x1(bias=false)", "bn", "relu"]')
#: Blocks after a fusion whose output keeps the node's width (concat changes it: its block starts with a conv).
BLOCKS = (
    '["conv3x3"]',
    '["relu", "conv3x3(bias=false)", "bn"]',
    '["swish", "sepconv3x3", "bn"]',
    '["cbs(k=3)"]',
    '["c3(n=1, shortcut=false)"]',
    '["dwconv3x3", "conv1x1(bias=false)", "bn", "relu"]',
    '["conv1x1"]',
)
FUSIONS = ("sum", "concat", "fast_normalized", "softmax")
DOWNS = ('["maxpool(k=3, s=2, pad=same)"]', '["conv3x3(s=2)"]', '["maxpool(k=2, s=2)"]')
EXTRAS = ('"resample"', '["maxpool(k=1, s=2)"]', '["conv3x3(s=2)"]')


def random_neck_text(rng: random.Random, name: str) -> str:
    """One random neck file's TOML."""
    levels = rng.choice((3, 4, 5))
    lines = [
        "[neck]",
        f'name = "{name}"',
        'description = "a random neck file (fpnprof calibrate --validate)"',
        f"levels = {levels}",
        "min_level = 3",
        "repeat = false",
    ]
    if levels > 3:  # P6 and above come from the levels below (ResNet18 gives up to C5)
        lines += ["[extra]", f'from = "{rng.choice(("input", "output"))}"', f"block = {rng.choice(EXTRAS)}"]
    lines += ["[resample]", 'up = "nearest"', f"down = {rng.choice(DOWNS)}", 'width = ["conv1x1", "bn"]']
    lines += ["[[node]]", 'name = "lateral"', 'levels = "all"', 'inputs = ["in@l"]', f"block = {rng.choice(LATERALS)}"]
    previous, down = "lateral", rng.random() < 0.5
    for k in range(rng.randint(1, 3)):
        node = f"pass{k}"
        fusion = rng.choice(FUSIONS)
        block = rng.choice(BLOCKS[:1] + BLOCKS[3:4] + BLOCKS[6:]) if fusion == "concat" else rng.choice(BLOCKS)
        levels_expr, neighbour = ("bottom..top", f"{node}@l-1?") if down else ("top..bottom", f"{node}@l+1?")
        lines += [
            "[[node]]",
            f'name = "{node}"',
            f'levels = "{levels_expr}"',
            f'inputs = ["{previous}@l", "{neighbour}"]',
            f'fusion = "{fusion}"',
            f"block = {block}",
        ]
        previous, down = node, not down
    return "\n".join(lines) + "\n"


def random_file_necks(count: int, rng: random.Random, max_flops: int, prefix: str = "random") -> list[tuple[NeckConfig, str]]:
    """``count`` random neck files, each adopted in this process under its name (``<prefix>-<i>.toml``)
    at a random width, size and batch: (configuration, file text) pairs, the text for worker processes."""
    out: list[tuple[NeckConfig, str]] = []
    tries = 0
    while len(out) < count:
        tries += 1
        name = f"{prefix}-{tries}.toml"
        text = random_neck_text(rng, name)
        spec = adopt_neck_text(name, text)
        cfg = NeckConfig(
            name, variant="paper", channels=rng.choice(CHANNELS), size=rng.choice(SIZES), batch=rng.choice((1, 2)),
            levels=spec.default_levels, min_level=3,
        )  # fmt: skip
        if builds_within(cfg, max_flops):
            out.append((cfg, text))
    return out
