"""Which pyramid level an imported op sits at, from the heights the trace saw."""

from __future__ import annotations

from collections.abc import Mapping


class Levels:
    """Levels by side: the input levels' heights, then each new smaller height an op makes past the
    top one defines the next level (the module's own heights, not an assumed halving)."""

    def __init__(self, heights: Mapping[int, int]) -> None:
        self.by_height: dict[int, list[int]] = {}
        for level in sorted(heights):
            self.by_height.setdefault(heights[level], []).append(level)
        self.top = max(heights)
        self.top_height = heights[self.top]

    def assign(self, height: int, first: tuple[int, int] | None, *, may_define: bool) -> int:
        """The level of an op's output of ``height``; ``first`` is its first input's (level, height).

        An output as tall as its first input, or a global pool's, stays at that input's level; else the
        level of that height;
        else, for an op that may define one (not a global pool), a new level when it is below the top;
        else the first input's level (a padded intermediate, a pooled 1x1)."""
        if first is not None and (first[1] == height or not may_define):  # a global pool stays with its input
            return first[0]
        known = self.by_height.get(height)
        if known:
            return first[0] if first is not None and first[0] in known else known[0]
        if may_define and height < self.top_height:
            self.top += 1
            self.top_height = height
            self.by_height[height] = [self.top]
            return self.top
        return first[0] if first is not None else min(level for levels in self.by_height.values() for level in levels)
