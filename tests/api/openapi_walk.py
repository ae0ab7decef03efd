"""Walk the live OpenAPI document: every operation, with the smallest valid request.

Tests that must hold for *every* endpoint (tenancy, authentication, scopes) iterate over
this instead of a hand-picked list, so a new endpoint is covered the day it is added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Values for path and required query parameters that pass validation.
PARAMETER_VALUES = {
    "name": "API_KEY",
    "checkpoint_id": "checkpoint-1",
    "session_id": "session-1",
    "provider": "openai",
    "path": "notes.txt",
    "action": "restart",
    "terminal_id": "0123456789abcdef",
    "organisation_id": "0123456789abcdef",
    "invitation_id": "1",
    "user_id": "1",
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def is_project_scoped(self) -> bool:
        return "{project_id}" in self.path


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method, path, spec)
        for path, methods in document["paths"].items()
        for method, spec in methods.items()
    ]


def resolve(node: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def minimal_value(node: dict[str, Any], document: dict[str, Any]) -> Any:
    node = resolve(node, document)
    if node.get("examples"):
        return node["examples"][0]
    if "default" in node:
        return node["default"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in node:
            options = [option for option in node[combinator] if option.get("type") != "null"]
            return minimal_value(options[0], document)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        return {
            name: minimal_value(properties[name], document) for name in node.get("required", [])
        }
    if kind == "array":
        return []
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return node.get("minimum", node.get("exclusiveMinimum", 0) + 1)
    return "x" * max(1, node.get("minLength", 1))


def request_for(
    operation: Operation, document: dict[str, Any], project_id: str
) -> tuple[str, dict[str, str], Any]:
    """(url path, query, JSON body or None) of a request that passes validation."""
    values = {**PARAMETER_VALUES, "project_id": project_id}
    path = re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], operation.path)
    query = {
        parameter["name"]: values[parameter["name"]]
        for parameter in operation.spec.get("parameters", [])
        if parameter["in"] == "query" and parameter.get("required")
    }
    body = None
    content = operation.spec.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = minimal_value(content["application/json"]["schema"], document)
    return path, query, body
