"""A JSON body nested deeper than Python's json reads, refused as any bad body is: naming the field.

`json.loads` recurses once per array or object it enters, so a body of a thousand `[` (a few
kilobytes, well inside the size limit) raises `RecursionError`, which FastAPI answers with a
400 "There was an error parsing the body" naming nothing. No request this API takes nests more
than a few levels, so the body is read again here with every value nested past `MAX_DEPTH`
replaced by null, and checked against the route's own body model: the field whose value should
have been text, a number or an object of fields is the one named, with the same wording and
422 as any other value of the wrong type (`fields.x`: "must be text, true, false, null or a
finite number ...", `deals.0.amount`: "Input should be a valid number").
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

#: How deep a body is read before what is nested further is cut: far past any request's own
#: depth (a batch's deal's attributes are four levels down), far short of the recursion limit.
MAX_DEPTH = 64
#: What is said where the route's model cannot say it (no model, or one taking any value).
TOO_DEEP = (
    f"the JSON is nested more than {MAX_DEPTH} levels deep (arrays and objects inside one "
    "another); no field of this API takes that: a field's value is text, a number, true, false, "
    "null, or the object or list its description shows"
)
#: A JSON string (escapes and all), or one bracket: what the depth of a body is read from.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def too_deep(exc: BaseException) -> bool:
    """Whether the body could not be parsed for being nested too deep (FastAPI's 400 keeps the
    parser's error as its cause)."""
    return isinstance(exc.__cause__, RecursionError)


async def depth_errors(request: Request) -> list[dict[str, Any]]:
    """The body's errors as FastAPI's validation states them (`loc` from "body", `msg`, `type`),
    read with what is nested past `MAX_DEPTH` cut; one error on the whole body where the body
    cannot be read even so, or the route's model has nothing to say of it."""
    whole = [{"loc": ("body",), "msg": TOO_DEEP, "type": "json_too_deep"}]
    value = cut(await request.body())
    route = request.scope.get("route")
    if value is None or not isinstance(route, APIRoute) or route.body_field is None:
        return whole
    _, errors = route.body_field.validate(value, {}, loc=("body",))
    return list(errors) or whole


def cut(body: bytes) -> Any:
    """The body parsed with every array or object nested past `MAX_DEPTH` read as null (None:
    the body is not JSON even so). One pass of a regular expression over strings and brackets:
    no recursion, and linear in the body's size."""
    try:
        text = body.decode(json.detect_encoding(body))
    except (UnicodeDecodeError, LookupError):
        return None
    kept: list[str] = []
    depth, start, last = 0, 0, 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth == MAX_DEPTH + 1:
                start = token.start()
        elif bracket in ("]", "}"):
            if depth == MAX_DEPTH + 1:
                kept.append(text[last:start] + "null")
                last = token.end()
            depth -= 1
    kept.append(text[last:])
    try:
        return json.loads("".join(kept))
    except (ValueError, RecursionError):
        return None
