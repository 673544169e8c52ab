"""How ``fpnprof import`` calls and traces a torch neck: its calling convention, example inputs, one
eager run that checks the channels, and ``torch.export`` (or ``torch.fx`` first, where export fails)."""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from fpnprof.errors import ImportRefused

#: The forward takes one list of level tensors (mmdet, PaddleDetection).
LIST = "list"
#: The forward takes one tensor per level (or ``*inputs``).
PER_LEVEL = "per_level"
_LIST_HINTS = ("list", "tuple", "sequence", "iterable")
_NOT_TENSORS = ("int", "float", "str", "bool", "none", "dict")


def _what(module: nn.Module) -> str:
    return f"{type(module).__name__}.forward"


def _hint(param: inspect.Parameter) -> str:
    """A parameter's annotation as lower-case text ('' when it has none)."""
    if param.annotation is param.empty:
        return ""
    return (param.annotation.__name__ if isinstance(param.annotation, type) else str(param.annotation)).lower()


def calling_convention(module: nn.Module, levels: int) -> str:
    """``LIST`` or ``PER_LEVEL``, from the forward's signature; refuse a forward without tensor inputs."""
    params = list(inspect.signature(module.forward).parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return PER_LEVEL
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    hints = [_hint(p) for p in positional]
    if not positional or all(h.startswith(_NOT_TENSORS) for h in hints):
        raise ImportRefused(f"{_what(module)} takes no tensor inputs: fpnprof import needs the pyramid's levels as its arguments")
    required = [p for p in positional if p.default is p.empty]
    if any(word in hints[0] for word in _LIST_HINTS) or (levels > 1 and len(required) <= 1):
        return LIST
    if len(required) <= levels <= len(positional):
        return PER_LEVEL
    raise ImportRefused(f"{_what(module)} takes {len(required)} tensors, but {levels} level(s) were given (--in-channels)")


def example_inputs(
    in_channels: Mapping[int, int],
    sides: Mapping[int, tuple[int, int]],
    batch: int,
    *,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> list[torch.Tensor]:
    """One random NCHW tensor per level, bottom level first."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, in_channels[lv], *sides[lv], generator=gen).to(dtype) for lv in sorted(in_channels)]


def call_args(convention: str, tensors: Sequence[torch.Tensor]) -> tuple[Any, ...]:
    """The forward's positional arguments for these level tensors."""
    return (list(tensors),) if convention == LIST else tuple(tensors)


def flat_outputs(value: Any) -> list[torch.Tensor]:
    """A forward's result as a list of tensors (a tensor, list, tuple or dict of tensors)."""
    if isinstance(value, torch.Tensor):
        return [value]
    items = list(value.values()) if isinstance(value, dict) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(isinstance(t, torch.Tensor) for t in items):
        raise ImportRefused(f"the forward returned {type(value).__name__}: fpnprof import needs a list, tuple or dict of tensors")
    return items


def _expected_channels(module: nn.Module) -> int | None:
    for attr in ("in_channels", "num_features", "num_channels"):
        value = getattr(module, attr, None)
        if isinstance(value, int):
            return value
    return None


def check_channels(module: nn.Module, args: tuple[Any, ...], tensors: Sequence[torch.Tensor], levels: Sequence[int]) -> None:
    """Run the forward once eagerly; where it fails, refuse in one line, naming the layer that
    rejected a level's channels when that is why."""
    running: list[tuple[str, nn.Module, Any]] = []

    def enter(name: str) -> Any:
        def hook(mod: nn.Module, inputs: tuple[Any, ...]) -> None:
            running.append((name, mod, inputs[0] if inputs else None))

        return hook

    def leave(mod: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if running:
            running.pop()

    handles = []
    for name, sub in module.named_modules():
        if name:
            handles += [sub.register_forward_pre_hook(enter(name)), sub.register_forward_hook(leave)]
    try:
        with torch.no_grad():
            module(*args)
    except Exception as exc:  # the user's code may raise anything
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        given = ",".join(str(t.shape[1]) for t in tensors)
        if running:
            name, mod, x = running[-1]
            expects = _expected_channels(mod)
            if expects is not None and isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] != expects:
                level = next((f" at level {lv}" for lv, t in zip(levels, tensors, strict=True) if t is x), "")
                kind = type(mod).__name__
                raise ImportRefused(
                    f"channels {given} do not match the module (its {kind} {name} expects {expects}{level}, got {x.shape[1]})"
                ) from None
        raise ImportRefused(
            f"{_what(module)} failed on {len(tensors)} level(s) of channels {given}: {type(exc).__name__}: {first}"
        ) from None
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """Silence torch's log lines and prints (a failed export prints the graph it got) while tracing:
    the refusal says what went wrong in one line."""
    before = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(before)


def trace(module: nn.Module, args: tuple[Any, ...]) -> torch.export.ExportedProgram:
    """``torch.export`` (non-strict); where it fails, ``torch.fx.symbolic_trace`` then export of that;
    where neither can, refuse with the reason in one line."""
    with _quiet_logs():
        return _trace(module, args)


def _trace(module: nn.Module, args: tuple[Any, ...]) -> torch.export.ExportedProgram:
    try:
        return torch.export.export(module, args, strict=False)
    except Exception as export_error:
        try:
            traced = torch.fx.symbolic_trace(module)
            return torch.export.export(traced, args, strict=False)
        except Exception:
            raise ImportRefused(f"cannot trace {_what(module)}: {_reason(export_error)}") from None


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    data_dependent = ("data-dependent", "data dependent", "GuardOnDataDependent", "Could not guard on")
    if any(word in text for word in data_dependent) or "DataDependent" in type(exc).__name__:
        return "its control flow depends on tensor values (data-dependent), which a trace cannot follow"
    return f"{type(exc).__name__}: {text[:200]}"
