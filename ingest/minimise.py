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

# One level of a table, resolved once: child element name -> (what to do, where it goes, below).
# "Below" is the next level for a prefix, the group's own table for a group. Walking a pupil is
# then one dict lookup per element, with no path strings built per element.
Level = dict[str, tuple[int, str | None, str, Any]]


@dataclass(frozen=True)
class Keep:
    """Paths kept under one element: leaf path -> field, group path -> (field, its own table)."""

    fields: Mapping[str, str]
    groups: Mapping[str, tuple[str, Keep]] = field(default_factory=dict)
    # The table as nested levels (see `Level`), built once.
    tree: Level = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tree: Level = {}
        for path in (*self.fields, *self.groups):
            level = tree
            *parents, _last = path.split("/")
            for name in parents:
                node = level.setdefault(name, (_PREFIX, None, "", {}))
                if node[0] != _PREFIX:
                    raise ValueError(f"{path}: {name} is both kept and descended through")
                level = node[3]
        for path, target in self.fields.items():
            kind = _LIST if target.endswith(LIST_SUFFIX) else _LEAF
            parts = target.removesuffix(LIST_SUFFIX).split(".")
            if len(parts) > 2:
                raise ValueError(f"{path}: target {target} nests deeper than part.field")
            holder = parts[0] if len(parts) == 2 else None
            _place(tree, path, (kind, holder, parts[-1], None))
        for path, (target, sub) in self.groups.items():
            _place(tree, path, (_GROUP, None, target, sub))
        object.__setattr__(self, "tree", tree)

    def element_names(self) -> frozenset[str]:
        """Every element name this table keeps or descends through (for sanity checks)."""
        names = {part for path in (*self.fields, *self.groups) for part in path.split("/")}
        for _, sub in self.groups.values():
            names |= sub.element_names()
        return frozenset(names)


def _place(tree: Level, path: str, node: tuple[int, str | None, str, Any]) -> None:
    level = tree
    *parents, last = path.split("/")
    for name in parents:
        level = level[name][3]
    if last in level and level[last][0] == _PREFIX:
        raise ValueError(f"{path} is both kept and descended through")
    level[last] = node


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[0] == "{" else tag


def minimise(element: etree._Element, keep: Keep, dropped: Counter[str]) -> dict[str, Any]:
    """The allow-listed content of `element`; the names of everything else counted in `dropped`."""
    out: dict[str, Any] = {}
    _walk(element, keep.tree, out, dropped)
    return out


def _walk(element: etree._Element, level: Level, out: dict[str, Any], dropped: Counter[str]) -> None:
    for child in element:
        tag = child.tag
        if tag.__class__ is not str:  # comments and processing instructions carry nothing we keep
            continue
        if tag[0] == "{":
            tag = tag.rpartition("}")[2]
        node = level.get(tag)
        if node is None:
            dropped[tag] += 1
            continue
        kind, holder_name, name, below = node
        if kind == _PREFIX:
            _walk(child, below, out, dropped)
            continue
        if kind == _GROUP:
            item: dict[str, Any] = {}
            _walk(child, below.tree, item, dropped)
            out.setdefault(name, []).append(item)
            continue
        text = child.text
        if text and (text := " ".join(text.split())):  # line breaks and runs of spaces fold
            holder = out if holder_name is None else out.setdefault(holder_name, {})
            if kind == _LIST:
                holder.setdefault(name, []).append(text)
            elif name not in holder:
                holder[name] = text
        if len(child):  # a kept leaf holds text only; anything inside it goes
            for grandchild in child:
                tag = grandchild.tag
                if tag.__class__ is str:
                    dropped[local_name(tag)] += 1
