"""Every URL pattern of the project, found by walking the resolver, with the methods its view answers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass(frozen=True)
class Route:
    pattern: str  # the joined route text, e.g. "api/chat/sessions/<str:session_id>"
    namespace: str  # the namespace it is included under ("" when none)
    callback: Any

    @property
    def view_class(self) -> type | None:
        return getattr(self.callback, "view_class", None) or getattr(self.callback, "cls", None)

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/")

    @property
    def methods(self) -> list[str]:
        """The HTTP methods the view has a handler for (HEAD comes with GET, as Django adds it)."""
        view = self.view_class
        if view is None:
            return ["get", "post"]
        found = [method for method in HTTP_METHODS if hasattr(view, method)]
        return found + (["head"] if "get" in found else [])

    @property
    def refused_methods(self) -> list[str]:
        return [method for method in HTTP_METHODS if method not in self.methods]

    def url(self, values: Mapping[str, object] | None = None) -> str:
        """The path with each parameter replaced by ``values[name]`` (``1`` when not given)."""
        given = values or {}
        return "/" + _PARAMETER.sub(lambda match: str(given.get(match.group(1), 1)), self.pattern)


def _walk(patterns: list[URLPattern | URLResolver], prefix: str, namespace: str) -> Iterator[Route]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        else:
            yield Route(pattern=prefix + str(pattern.pattern), namespace=namespace, callback=pattern.callback)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns, "", ""))
