"""An independent count of the seed tutorial's models, written from the seed's code (not fpnprof's).

It walks the seed's channel lists exactly as its ``__init__`` methods do and prices each layer by
the textbook formulas: conv params = cin*cout*k*k (+ cout bias); conv MACs = N*cin*cout*k*k*H*W at
the output; BN = 2C params, 2 MACs per element (fvcore, eval); nearest upsample = 1 MAC per output
element; pools, adds, concats and activations = 0 MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

N = 2  # the seed's batch
C = 256  # the seed's out_channel
SIDES = {2: 64, 3: 32, 4: 16, 5: 8}  # C2..C5 sides for a 64x64 image with the seed's stride-1 stem


@dataclass
class Count:
    params: int = 0
    macs: int = 0

    def conv(self, cin: int, cout: int, k: int, side: int, bias: bool = True) -> None:
        self.params += cin * cout * k * k + (cout if bias else 0)
        self.macs += N * cin * cout * k * k * side * side

    def bn(self, c: int, side: int, count_params: bool = True) -> None:
        self.params += 2 * c if count_params else 0
        self.macs += 2 * N * c * side * side

    def upsample(self, c: int, side: int) -> None:
        self.macs += N * c * side * side


def resnet18_tutorial() -> Count:
    """The seed's ResNet18: 3x3/s1 stem, biased 1x1 downsample convs."""
    n = Count()
    n.conv(3, 64, 3, 64, bias=False)
    n.bn(64, 64)
    cin = 64
    for stage, (cout, side) in enumerate(((64, 64), (128, 32), (256, 16), (512, 8))):
        for block in range(2):
            first_in = cin if block == 0 else cout
            n.conv(first_in, cout, 3, side, bias=False)
            n.bn(cout, side)
            n.conv(cout, cout, 3, side, bias=False)
            n.bn(cout, side)
            if block == 0 and stage > 0:
                n.conv(first_in, cout, 1, side, bias=True)
                n.bn(cout, side)
        cin = cout
    return n


def fpn(in_channels: list[int], sides: list[int], n: Count | None = None) -> Count:
    """The seed's FPN: inner 1x1 and out 3x3 per level; 3 upsamples of 256-wide laterals."""
    n = n or Count()
    for cin, side in zip(in_channels, sides, strict=True):
        n.conv(cin, C, 1, side)
        n.conv(C, C, 3, side)
    for side in sides[:-1]:  # every level but the top receives an upsampled lateral
        n.upsample(C, side)
    return n


def pafpn(in_channels: list[int], sides: list[int]) -> Count:
    """The seed's PAFPN: its FPN, one shared 3x3/s2 ConvNormLayer, inner 1x1 (C then 2C inputs), out 3x3."""
    n = fpn(in_channels, sides)
    n.params += C * C * 9 + C + 2 * C  # the shared bottom_up conv + BN, held once
    for i, side in enumerate(sides):
        n.conv(C if i == 0 else 2 * C, C, 1, side)
        n.conv(C, C, 3, side)
        if i > 0:  # the shared conv and BN run once per level above the lowest (params counted above)
            n.macs += N * C * C * 9 * side * side + 2 * N * C * side * side
    return n


def _sepconv(n: Count, cin: int, side: int) -> None:
    n.conv(cin, cin, 3, side)  # the seed's "depthwise" conv has no groups: a full conv
    n.conv(cin, C, 1, side)
    n.bn(C, side)


def bifpn(in_channels: list[int], sides: list[int], cells: int) -> tuple[Count, list[list[int]]]:
    """The seed's BiFPN: BiFPN_block1 and BiFPN_block2 channel lists, per cell.

    Returns the count and the block1 output widths per cell (top level first), as the seed prints them.
    """
    n = Count()
    widths = []
    chans = list(in_channels)
    for _ in range(cells):
        L = len(chans)
        # BiFPN_block1: upsample + concat + node; the widths it passes on are what the seed prints.
        block1 = [chans[-1]]
        node_in = [chans[-1] + chans[-2]] + [C + chans[-2 - i] for i in range(1, L - 2)]
        up_channels = chans[-1]
        for i in range(L - 1):
            side = sides[-2 - i]
            n.upsample(up_channels, side)
            if i < L - 2:
                _sepconv(n, node_in[i], side)
                block1.append(C + chans[-2 - i])
                up_channels = C
            else:
                block1.append(up_channels + chans[0])
        widths.append(block1)
        # BiFPN_block2
        for i in range(L):
            cin = block1[-1] if i == 0 else block1[-1 - i] + C
            _sepconv(n, cin, sides[i])
        chans = [C] * L
    return n, widths
