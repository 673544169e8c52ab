"""A neck registered at run time shows up everywhere a neck name is accepted: list, shapes, compare,
graph (and the help texts and completion, which read the same registry)."""

from __future__ import annotations

import json

import pytest
from cli_helpers import run

from fpnprof.cli.options import NECK_NAMES
from fpnprof.errors import ConfigError
from fpnprof.model.builder import GraphBuilder
from fpnprof.model.config import NeckConfig
from fpnprof.model.necks import NECKS, register
from fpnprof.model.necks.common import NeckSpec, at_level


def toy_build(b: GraphBuilder, cfg: NeckConfig, features: dict[int, str]) -> dict[int, str]:
    """A 1x1 conv per input level, then max pools for the levels above the inputs."""
    outputs = {}
    for level in range(cfg.min_level, cfg.max_level + 1):
        at_level(b, level, f"neck.toy.p{level}.")
        if level in features and level <= cfg.top_input_level:
            outputs[level] = b.conv(features[level], cfg.channels, 1, "proj")
        else:
            outputs[level] = b.maxpool(outputs[level - 1], 1, 2, "pool")
    return outputs


TOY = NeckSpec("toy", toy_build, default_levels=3, description="a 1x1 conv per level", variants=("paper",))


@pytest.fixture
def toy() -> object:
    register(TOY)
    yield TOY
    del NECKS["toy"]


def test_registered_neck_appears_in_list_shapes_compare_and_graph(toy: object) -> None:
    listed = json.loads(run("list", "-f", "json").stdout)
    assert (
        "toy" in listed["necks"]
        and {"neck": "toy", "variant": "paper", "levels": "P2-P4", "channels": 256, "cells": 3}
        | {"framework": None, "imported_from": None}
        in (listed["defaults"])
    )
    shapes = json.loads(run("shapes", "toy", "--variant", "paper", "-f", "json").stdout)
    assert [lvl["name"] for lvl in shapes["levels"]] == ["P2", "P3", "P4"]  # its own default levels
    assert shapes["neck_total"]["params"] == (64 + 128 + 256) * 256 + 3 * 256  # three 1x1 convs with bias, by hand
    compared = json.loads(run("compare", "fpn", "toy", "--variant", "paper", "-f", "json").stdout)
    assert [r["neck"] for r in compared["rows"]] == ["fpn", "toy"]
    assert NECK_NAMES("to") == ["toy"]  # shell completion reads the registry too
    drawn = run("graph", "toy", "--variant", "paper", "--levels", "5")
    assert drawn.exit_code == 0 and "toy.p6.pool" in drawn.stdout and "toy.p2.proj" in drawn.stdout


def test_a_neck_refuses_variants_it_does_not_have(toy: object) -> None:
    result = run("shapes", "toy")
    assert result.exit_code == 2 and "toy comes as paper, not 'tutorial'" in result.stderr


def test_a_name_cannot_be_registered_twice(toy: object) -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register(TOY)
