"""Minimisation as data: a table of the element paths that are kept and the field each maps to.

Each format declares a `Keep` table (paths relative to the pupil element). `minimise` walks a
parsed pupil element against it: kept leaves become plain strings, kept repeating groups become
lists of dicts, and every other element (the prohibited sections and anything unknown) is
dropped unread; only its name is counted. Nothing outside the table can leave this function.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

# A target ending in "[]" collects every occurrence (e.g. phone numbers); others keep the first.
# A target "part.field" is gathered into a nested dict under "part" (e.g. an address).
LIST_SUFFIX = "[]"

_LEAF, _LIST, _GROUP, _PREFIX = range(4)


@dataclass(frozen=True)
class Keep:
    """Paths kept under one element: leaf path -> field, group path -> (field, its own table)."""

    fields: Mapping[str, str]
    groups: Mapping[str, tuple[str, Keep]] = field(default_factory=dict)
    # path -> (what to do, where it goes): one dict lookup per element while walking.
    nodes: Mapping[str, tuple[int, tuple[str, ...], Keep | None]] = field(init=False)

    def __post_init__(self) -> None:
        nodes: dict[str, tuple[int, tuple[str, ...], Keep | None]] = {}
        for path in (*self.fields, *self.groups):
            parts = path.split("/")
            for i in range(1, len(parts)):
                nodes["/".join(parts[:i])] = (_PREFIX, (), None)
        for path, target in self.fields.items():
            kind = _LIST if target.endswith(LIST_SUFFIX) else _LEAF
            nodes[path] = (kind, tuple(target.removesuffix(LIST_SUFFIX).split(".")), None)
        for path, (target, sub) in self.groups.items():
            nodes[path] = (_GROUP, (target,), sub)
        object.__setattr__(self, "nodes", nodes)

    def element_names(self) -> frozenset[str]:
        """Every element name this table keeps or descends through (for sanity checks)."""
        names = {part for path in (*self.fields, *self.groups) for part in path.split("/")}
        for _, sub in self.groups.values():
            names |= sub.element_names()
        return frozenset(names)


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[0] == "{" else tag


def minimise(element: etree._Element, keep: Keep, dropped: Counter[str]) -> dict[str, Any]:
    """The allow-listed content of `element`; the names of everything else counted in `dropped`."""
    out: dict[str, Any] = {}
    _walk(element, "", keep.nodes, out, dropped)
    return out


def _walk(
    element: etree._Element,
    base: str,
    nodes: Mapping[str, tuple[int, tuple[str, ...], Keep | None]],
    out: dict[str, Any],
    dropped: Counter[str],
) -> None:
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):  # comments and processing instructions carry nothing we keep
            continue
        if tag[0] == "{":
            tag = tag.rpartition("}")[2]
        path = base + tag
        node = nodes.get(path)
        if node is None:
            dropped[tag] += 1
            continue
        kind, target, sub = node
        if kind == _PREFIX:
            _walk(child, path + "/", nodes, out, dropped)
            continue
        if kind == _GROUP:
            out.setdefault(target[0], []).append(minimise(child, sub, dropped))  # type: ignore[arg-type]
            continue
        text = child.text
        if text and (text := " ".join(text.split())):  # line breaks and runs of spaces fold
            holder = out
            for part in target[:-1]:
                holder = holder.setdefault(part, {})
            if kind == _LIST:
                holder.setdefault(target[-1], []).append(text)
            else:
                holder.setdefault(target[-1], text)
        if len(child):  # a kept leaf holds text only; anything inside it goes
            for grandchild in child:
                if isinstance(grandchild.tag, str):
                    dropped[local_name(grandchild.tag)] += 1
