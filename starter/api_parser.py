"""The API's request parser: django-ninja's JSON and query-string parsing, refusing text
that is not Unicode.

JSON may spell a lone surrogate (``"\\ud800"``): Python decodes it into a ``str`` that no
encoder accepts, so it would fail later, wherever the text is stored, measured or sent on
to a Sprite. It is refused here, at the edge, once for every operation.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

_SURROGATE = re.compile("[\ud800-\udfff]")


class NotUnicode(ValueError):
    """Text in a request holds a lone surrogate; ``location`` says where (as in pydantic)."""

    def __init__(self, location: tuple[str, ...]) -> None:
        self.location = location
        where = ".".join(location[1:]) or location[0]
        super().__init__(
            f"'{where}' is not valid Unicode text: it holds a lone surrogate (\\ud800-\\udfff). "
            "Send the characters themselves, or pairs of surrogates that make one."
        )


def find_lone_surrogate(value: Any, location: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where in decoded JSON (keys included) a string holds a lone surrogate, if anywhere."""
    if isinstance(value, str):
        return location if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_lone_surrogate(key, (*location, "<key>")) or find_lone_surrogate(
                item, (*location, str(key))
            )
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = find_lone_surrogate(item, (*location, str(index)))
            if found:
                return found
    return None


def refuse_lone_surrogates(value: Any, location: tuple[str, ...]) -> None:
    found = find_lone_surrogate(value, location)
    if found:
        raise NotUnicode(found)


class UnicodeParser(Parser):
    """Bodies and query strings as ninja parses them, with lone surrogates refused.

    A body that fails here reaches the handlers as ninja's ``HttpError(400)`` with this
    error as its cause (ninja wraps whatever ``parse_body`` raises); a query string's error
    reaches them as it is.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        refuse_lone_surrogates(data, ("body",))
        return data

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        parsed = super().parse_querydict(data, list_fields, request)
        refuse_lone_surrogates(parsed, ("query",))
        return parsed
