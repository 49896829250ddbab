"""JSON from untrusted text with a bound on nesting: deep nesting costs a recursion per level
in the parser and in every later serialiser (json, pydantic), so it is refused where the text
comes in instead of failing later with a RecursionError wherever the value travels."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 16


def nesting_depth(value: Any) -> int:
    """Levels of arrays and objects in ``value`` (a scalar is 0), counted without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in item)
    return deepest


def _refuse_constant(name: str) -> None:
    raise ValueError(f"JSON holds {name}, which is not a number JSON can carry")


def loads_bounded(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, raising ``ValueError`` for invalid JSON (NaN and Infinity included),
    nesting over ``max_depth``, or text that is not Unicode (a lone surrogate such as "\\ud800"
    cannot be written back as UTF-8)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError(f"JSON nested more than {max_depth} levels deep") from None
    if nesting_depth(value) > max_depth:
        raise ValueError(f"JSON nested more than {max_depth} levels deep")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("JSON holds text that is not valid Unicode (a lone surrogate)") from None
    return value
