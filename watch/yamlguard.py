"""Limits on what a YAML configuration may cost to read (issue 15): its size, and how far its aliases expand.

YAML aliases (`*name`) repeat an anchored value (`&name`) without copying it; PyYAML builds one shared object, but
everything that walks the result (line marks, `${VAR}` interpolation, validation) visits each repetition. Nested,
a few hundred bytes of them stand for billions of values: `veille sources check` ran for 77 s and 5.9 GB before
a MemoryError. The composed node graph is measured here, each distinct node once, before anything walks it.
"""

from __future__ import annotations

import yaml

MAX_CONFIG_BYTES = 4_000_000      # a watch of a thousand commented sources is well under 1 MB
MAX_ALIAS_EXPANSION = 100_000      # values that aliases may add once expanded (anchors reused as templates fit)


def expansion_problem(root: yaml.Node) -> tuple[int, int] | None:
    """(line, values) of the first node whose aliases expand past the budget, or None when the document is fine.

    `values` counts the nodes a full walk would visit (-1: an alias inside its own anchor, which never ends);
    each distinct node is sized once (sizes are memoised), so a bomb is measured in the time its text takes to read.
    """
    sizes: dict[int, int] = {}
    opened: set[int] = set()
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if not children_done:
            if id(node) in opened:
                return node.start_mark.line + 1, -1
            opened.add(id(node))
            stack.append((node, True))
            for child in children:
                if id(child) in opened and id(child) not in sizes:
                    return child.start_mark.line + 1, -1
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        distinct += 1
        size = 1 + sum(sizes.get(id(child), 0) for child in children)
        sizes[id(node)] = size
        if size - distinct > MAX_ALIAS_EXPANSION:
            return node.start_mark.line + 1, size
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
