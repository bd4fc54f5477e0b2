"""The layered DAG of a model's prunable layers, read off its torch.fx trace.

Each prunable layer lists the prunable layers whose outputs are summed into its
input: element-wise ops, BatchNorm, pooling and reshapes pass producers through,
and an addition (a residual connection) takes the union of both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.fx
from torch import nn

from pipeline.models.kit import PRUNABLE_TYPES
from pipeline.models.members import build_plain

INPUT = "input"


@dataclass(frozen=True)
class LayerNode:
    name: str  # the weight's parameter name
    kind: str  # "linear" | "conv"
    inputs: tuple[str, ...]
    input_shape: tuple[int, ...]  # spatial shape of the input; () after another linear layer


def _producers(node: torch.fx.Node, prunable: dict[str, str], memo: dict) -> frozenset[str]:
    if node in memo:
        return memo[node]
    if node.op == "placeholder":
        found = frozenset([INPUT])
    elif node.op == "call_module" and node.target in prunable:
        found = frozenset([prunable[node.target]])
    else:
        found = frozenset()
        for arg in node.all_input_nodes:
            found |= _producers(arg, prunable, memo)
    memo[node] = found
    return found


def layer_graph(name: str, input_shape: tuple[int, ...], num_classes: int) -> list[LayerNode]:
    model = build_plain(name, input_shape, num_classes).eval()
    modules = {key: m for key, m in model.named_modules() if isinstance(m, PRUNABLE_TYPES)}
    prunable = {key: f"{key}.weight" for key in modules}
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        module.register_forward_pre_hook(
            lambda _m, args, key=key: shapes.__setitem__(key, tuple(args[0].shape[2:]))
        )
        for key, module in modules.items()
    ]
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    for hook in hooks:
        hook.remove()
    traced = torch.fx.symbolic_trace(model)
    memo: dict = {}
    nodes = []
    for node in traced.graph.nodes:
        if node.op == "call_module" and node.target in prunable:
            sources = set()
            for arg in node.all_input_nodes:
                sources |= _producers(arg, prunable, memo)
            kind = "linear" if isinstance(modules[node.target], nn.Linear) else "conv"
            shape = shapes[node.target]
            if kind == "linear" and INPUT in sources:  # a flattened network input
                shape = tuple(input_shape[1:])
            nodes.append(LayerNode(prunable[node.target], kind, tuple(sorted(sources)), shape))
    return nodes


@lru_cache(maxsize=16)
def cached_layer_graph(
    name: str, input_shape: tuple[int, ...], num_classes: int
) -> tuple[LayerNode, ...]:
    """`layer_graph`, traced once per process for each architecture and input."""
    return tuple(layer_graph(name, tuple(input_shape), num_classes))
