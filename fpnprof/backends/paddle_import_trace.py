"""Trace a Paddle neck into its legacy-IR program: every op with its slots, attributes, the module
whose forward appended it, and the source line that did; every variable's static shape.

``paddle.jit.to_static`` (AST transcription, ``full_graph=True``) traces the layer at concrete input
shapes; forward hooks on every sublayer record which module was running as each op was appended.
The program is read in Paddle's legacy IR (``FLAGS_enable_pir_api=0``): where Paddle was imported with
the new IR, the trace switches to the legacy one and back.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import paddle
from paddle import nn

from fpnprof.errors import ImportRefused

#: Op attributes that say nothing about the computation (bookkeeping, device and kernel choices).
_NOISE_ATTRS = frozenset(
    {
        "op_callstack",
        "op_role",
        "op_role_var",
        "op_namescope",
        "op_device",
        "with_quant_attr",
        "use_mkldnn",
        "use_cudnn",
        "mkldnn_data_type",
        "use_quantizer",
        "name",
    }
)
#: The float types a trace and a proof run in.
Dtype = Literal["float32", "float64"]
#: Ops that make the program branch or loop: a tracer cannot follow them into one op list.
_CONTROL_FLOW = frozenset({"conditional_block", "while", "select_input", "select_output", "pylayer"})


@dataclass(frozen=True)
class TracedOp:
    """One program op: its type, slots (slot -> variable names), attributes, the innermost module whose
    forward appended it (``""`` for the traced layer itself) and which call of that module it was."""

    type: str
    inputs: dict[str, tuple[str, ...]]
    outputs: dict[str, tuple[str, ...]]
    attrs: dict[str, Any]
    module: str
    call: int
    where: str


@dataclass(frozen=True)
class Trace:
    """A traced forward: ops in program order, every variable's shape and dtype, the level inputs'
    variable names (bottom level first), the returned variables (flattened, as returned), and each
    parameter variable's structured name (``lateral_convs.0.weight``)."""

    ops: list[TracedOp]
    shapes: dict[str, tuple[int, ...]]
    inputs: list[str]
    outputs: list[str]
    params: dict[str, str]
    program: Any
    file: str


@contextlib.contextmanager
def legacy_ir() -> Iterator[None]:
    """Paddle's legacy program IR for the block (a no-op where FLAGS_enable_pir_api=0 was set before import)."""
    from paddle import pir_utils

    switch: Any = pir_utils  # untyped module functions
    flag = "FLAGS_enable_pir_api"
    pir = bool(paddle.get_flags(flag)[flag])
    if pir:
        paddle.set_flags({flag: False})
        switch._switch_to_old_ir_()
    try:
        yield
    finally:
        if pir:
            paddle.set_flags({flag: True})
            switch._switch_to_pir_()


def takes_list(layer: nn.Layer, levels: int) -> bool:
    """Whether ``forward`` takes the levels as one list (PaddleDetection's ``blocks``) rather than one
    argument per level; ImportRefused where it takes no tensor at all or too few arguments."""
    params = [p for p in inspect.signature(layer.forward).parameters.values() if p.kind is not p.VAR_KEYWORD]
    if not params:
        raise ImportRefused(f"{type(layer).__name__}.forward takes no tensor inputs: fpnprof feeds it one feature map per level")
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return False
    required = [p for p in params if p.default is p.empty and p.kind is not p.KEYWORD_ONLY]
    if len(required) == 1 and levels > 1:
        return True
    if len(required) <= levels <= len(params):
        return False
    raise ImportRefused(
        f"{type(layer).__name__}.forward takes {len(required)} required arguments; fpnprof feeds {levels} levels "
        "(one list, or one feature map per argument)"
    )


def source_file(layer: nn.Layer) -> str:
    try:
        return os.path.basename(inspect.getsourcefile(type(layer)) or "?")
    except TypeError:
        return "?"


def where(callstack: Sequence[str], fallback: str) -> str:
    """``file.py:line`` of the innermost frame outside Paddle in an op's creation callstack."""
    paddle_dir = os.path.dirname(paddle.__file__)
    for entry in reversed(callstack):
        text = entry.strip()
        if not text.startswith('File "'):
            continue
        path, _, rest = text[len('File "') :].partition('"')
        if path.startswith(paddle_dir) or path == __file__:
            continue
        line = rest.split("line", 1)[-1].split(",", 1)[0].strip()
        return f"{os.path.basename(path)}:{line}"
    return fallback


class _Owners:
    """Forward hooks on every sublayer: which module (and which call of it) appended each op."""

    def __init__(self, layer: nn.Layer) -> None:
        self.stack: list[tuple[str, int]] = [("", 1)]
        self.calls: dict[str, int] = {}
        self.owner: dict[tuple[str, ...], tuple[str, int]] = {}
        self.seen = 0
        self.handles = []
        for path, sub in layer.named_sublayers():
            self.handles.append(sub.register_forward_pre_hook(self._enter(path)))
            self.handles.append(sub.register_forward_post_hook(self._leave))

    def _claim(self) -> None:
        """Give the ops appended since the last event to the module running now."""
        program: Any = paddle.static.default_main_program()
        ops = program.current_block().ops
        for op in ops[self.seen :]:
            self.owner[_key(op)] = self.stack[-1]
        self.seen = len(ops)

    def _enter(self, path: str) -> Any:
        def hook(layer: nn.Layer, inputs: Any) -> None:
            self._claim()
            self.calls[path] = self.calls.get(path, 0) + 1
            self.stack.append((path, self.calls[path]))

        return hook

    def _leave(self, layer: nn.Layer, inputs: Any, output: Any) -> Any:
        self._claim()
        self.stack.pop()
        return None  # the output stands

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _key(op: Any) -> tuple[str, ...]:
    return tuple(name for slot in op.output_names for name in op.output(slot))


def flatten(value: Any) -> list[Any]:
    """Tensors of a returned structure in order: lists and tuples in order, dicts by insertion order."""
    if isinstance(value, list | tuple):
        return [t for v in value for t in flatten(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in flatten(v)]
    return [value]


class _ListCall(nn.Layer):
    """Feeds the traced layer its levels as one list (so its signature's defaults never meet an input spec)."""

    def __init__(self, inner: nn.Layer) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, inputs: list[Any]) -> Any:
        return self.inner(inputs)


class _ArgsCall(_ListCall):
    """Feeds the traced layer one level per argument."""

    def forward(self, inputs: list[Any]) -> Any:
        return self.inner(*inputs)


#: Paddle 3.3 functions with no legacy-IR form (they take eager tensors and new-IR values only): while
#: tracing, each appends its legacy op instead, which the table then reads, or refuses by name and line.
_NO_LEGACY_FORM = ("sigmoid", "tanh", "exp", "gelu")


def _appending(op_type: str, original: Any) -> Any:
    @paddle.jit.not_to_static
    def fn(x: Any, *args: Any, **kwargs: Any) -> Any:
        from paddle.base.framework import Variable, in_dynamic_or_pir_mode

        if in_dynamic_or_pir_mode() or not isinstance(x, Variable):
            return original(x, *args, **kwargs)
        from paddle.base.layer_helper import LayerHelper

        helper = LayerHelper(op_type)
        out = helper.create_variable_for_type_inference(x.dtype)
        helper.append_op(type=op_type, inputs={"X": x}, outputs={"Out": out})
        return out

    return fn


@contextlib.contextmanager
def _legacy_functions() -> Iterator[None]:
    from paddle.nn import functional
    from paddle.nn.functional import activation

    saved = []
    for module in (paddle, paddle.tensor, functional, activation):
        for name in _NO_LEGACY_FORM:
            original = getattr(module, name, None)
            if original is not None:
                saved.append((module, name, original))
                setattr(module, name, _appending(name, original))
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def trace(layer: nn.Layer, shapes: Sequence[tuple[int, int, int, int]], *, as_list: bool, dtype: Dtype = "float32") -> Trace:
    """Trace ``layer`` (in eval mode, restored after) on inputs of ``shapes`` (bottom level first)."""
    from paddle.static import InputSpec

    specs = [InputSpec(list(s), dtype, name=f"level_input_{i}") for i, s in enumerate(shapes)]
    file = source_file(layer)
    modes = {id(sub): sub.training for sub in [layer, *layer.sublayers()]}
    layer.eval()
    owners = _Owners(layer)
    caller = (_ListCall if as_list else _ArgsCall)(layer)
    try:
        with legacy_ir(), _legacy_functions():
            static: Any = paddle.jit.to_static(caller, input_spec=[specs], full_graph=True)
            program = static.forward.concrete_program
            owners._claim()
    except ImportRefused:
        raise
    except Exception as exc:  # Paddle's shape checks and the transcriber's errors, as one line
        raise ImportRefused(_trace_error(exc, type(layer).__name__, file, shapes)) from None
    finally:
        owners.remove()
        for sub in [layer, *layer.sublayers()]:
            sub.training = modes[id(sub)]
    return _read(program, owners, file, layer)


def _trace_error(exc: BaseException, name: str, file: str, shapes: Sequence[tuple[int, ...]]) -> str:
    """One line for a failed trace: an op with no legacy-IR form named as such, else Paddle's own reason."""
    found = re.search(r"(\w+)\(\): argument \(position \d+\) must be Value, but got Variable", str(exc))
    if found:
        op = found.group(1)
        return f"{op} in {name} ({file}): Paddle 3.3 cannot trace it in the legacy IR; fpnprof's import table has no such op"
    return f"{name} ({file}): Paddle could not trace it at {list(shapes)}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "Error" in ln or "error" in ln or "Invalid" in ln] or lines or [type(exc).__name__]
    return useful[-1][:300]


def _read(concrete: Any, owners: _Owners, file: str, layer: nn.Layer) -> Trace:
    block = concrete.main_program.global_block()
    ops = []
    for op in block.ops:
        if op.type in _CONTROL_FLOW:
            stack = op.attr("op_callstack") if op.has_attr("op_callstack") else []
            raise ImportRefused(f"{type(layer).__name__}: control flow on tensor values ({op.type}) at {where(stack, file)}")
        module, call = owners.owner.get(_key(op), ("", 1))
        stack = op.attr("op_callstack") if op.has_attr("op_callstack") else []
        ops.append(
            TracedOp(
                type=op.type,
                inputs={slot: tuple(op.input(slot)) for slot in op.input_names if op.input(slot)},
                outputs={slot: tuple(op.output(slot)) for slot in op.output_names if op.output(slot)},
                attrs={a: op.attr(a) for a in op.attr_names if a not in _NOISE_ATTRS},
                module=module,
                call=call,
                where=where(stack, file),
            )
        )
    shapes = {name: tuple(int(d) for d in var.shape) for name, var in block.vars.items() if var.shape is not None}
    inputs = [v.name for v in flatten(list(concrete.inputs[1:])) if v is not None]
    outputs = [v.name for v in flatten(concrete.outputs)]
    params = {p.name: name for name, p in layer.named_parameters()}
    return Trace(ops, shapes, inputs, outputs, params, concrete.main_program, file)
