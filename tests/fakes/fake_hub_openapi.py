"""The fake Hub's ``GET /.well-known/openapi.json``: a small OpenAPI 3.1 document of the Hub API.

Shape source: the Hub publishes its API description at
https://huggingface.co/.well-known/openapi.json (OpenAPI 3.1: ``info``, ``servers``, ``tags``,
``paths`` → method → ``{operationId, summary, description, tags, parameters, requestBody,
responses}``, shared parts under ``components`` referenced with ``$ref``). The endpoints below
are real Hub endpoints (https://huggingface.co/docs/hub/api), abridged to the fields
``find_hf_api`` reads, with ``$ref`` parameters and schemas as the real document uses them.
``requests`` of the fake Hub record the fetch (route name ``openapi``).
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web


def _repo_path_params() -> list[dict[str, Any]]:
    return [{"$ref": "#/components/parameters/namespace"}, {"$ref": "#/components/parameters/repo"}]


def _op(op_id: str, tag: str, summary: str, description: str, **extra: Any) -> dict[str, Any]:
    responses = extra.pop("responses", None) or {
        "200": {"description": "OK"},
        "401": {"description": "Unauthorized: missing or invalid token"},
    }
    return {
        "operationId": op_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        **extra,
        "responses": responses,
    }


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Hugging Face Hub API", "version": "1.0.0"},
    "servers": [{"url": "https://huggingface.co"}],
    "tags": [
        {"name": "models", "description": "Search and inspect models"},
        {"name": "datasets", "description": "Search and inspect datasets"},
        {"name": "repos", "description": "Create, move and configure repositories"},
        {"name": "spaces", "description": "Space runtime and hardware"},
        {"name": "jobs", "description": "Run compute jobs"},
        {"name": "auth", "description": "Identity of the token"},
    ],
    "paths": {
        "/api/models": {
            "get": _op(
                "listModels", "models", "List or search models",
                "Get information from all models on the Hub. Filter with search, author, "
                "filter (tags) and sort; results are paginated with a Link header.",
                parameters=[
                    {"name": "search", "in": "query", "schema": {"type": "string"},
                     "description": "Substring of the model id"},
                    {"name": "author", "in": "query", "schema": {"type": "string"}},
                    {"name": "filter", "in": "query", "schema": {"type": "string"},
                     "description": "Tag filter, e.g. text-generation"},
                    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["downloads", "likes", "trendingScore"]}},
                    {"$ref": "#/components/parameters/limit"},
                ],
            ),
        },
        "/api/models/{namespace}/{repo}": {
            "parameters": _repo_path_params(),
            "get": _op(
                "getModel", "models", "Get a model's info",
                "Card data, siblings (files), tags, downloads and the safetensors summary.",
                parameters=[{"name": "expand", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}}],
                responses={"200": {"description": "OK"}, "404": {"description": "Repository not found"}},
            ),
        },
        "/api/datasets": {
            "get": _op(
                "listDatasets", "datasets", "List or search datasets",
                "Get information from all datasets on the Hub.",
                parameters=[
                    {"name": "search", "in": "query", "schema": {"type": "string"}},
                    {"$ref": "#/components/parameters/limit"},
                ],
            ),
        },
        "/api/repos/create": {
            "post": _op(
                "createRepo", "repos", "Create a repository",
                "Create a model, dataset or Space repository under a user or organization.",
                requestBody={"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RepoCreate"}}}},
                responses={"200": {"description": "Created"}, "409": {"description": "You already created this repo"}},
            ),
        },
        "/api/repos/move": {
            "post": _op(
                "moveRepo", "repos", "Move or rename a repository",
                "Move a repository from one namespace to another, or rename it.",
                requestBody={"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["fromRepo", "toRepo"],
                    "properties": {"fromRepo": {"type": "string"}, "toRepo": {"type": "string"},
                                   "type": {"type": "string", "enum": ["model", "dataset", "space"]}},
                }}}},
            ),
        },
        "/api/spaces/{namespace}/{repo}/runtime": {
            "parameters": _repo_path_params(),
            "get": _op("getSpaceRuntime", "spaces", "Get a Space's runtime",
                       "Stage (BUILDING, RUNNING, SLEEPING…), hardware and requested hardware."),
        },
        "/api/spaces/{namespace}/{repo}/hardware": {
            "parameters": _repo_path_params(),
            "post": _op(
                "requestSpaceHardware", "spaces", "Request hardware for a Space",
                "Upgrade or downgrade the hardware of a Space (billed per minute).",
                requestBody={"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["flavor"],
                    "properties": {"flavor": {"type": "string", "description": "e.g. t4-small"},
                                   "sleepTimeSeconds": {"type": "integer"}},
                }}}},
            ),
        },
        "/api/jobs/{namespace}": {
            "parameters": [{"$ref": "#/components/parameters/namespace"}],
            "get": _op("listJobs", "jobs", "List jobs", "Jobs of a user or organization."),
            "post": _op(
                "createJob", "jobs", "Run a job",
                "Start a Docker image or Space on Hub hardware with a command.",
                requestBody={"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["command", "flavor"],
                    "properties": {"dockerImage": {"type": "string"}, "command": {"type": "array", "items": {"type": "string"}},
                                   "flavor": {"type": "string"}, "timeout": {"type": "integer"},
                                   "environment": {"type": "object"}},
                }}}},
            ),
        },
        "/api/whoami-v2": {
            "get": _op("whoami", "auth", "Who am I",
                       "The user or app behind the token, its organizations and token scopes."),
        },
    },
    "components": {
        "parameters": {
            "namespace": {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"},
                          "description": "User or organization name"},
            "repo": {"name": "repo", "in": "path", "required": True, "schema": {"type": "string"}},
            "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
        },
        "schemas": {
            "RepoCreate": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "organization": {"type": "string"},
                    "type": {"type": "string", "enum": ["model", "dataset", "space"]},
                    "private": {"type": "boolean"},
                    "sdk": {"type": "string", "description": "Spaces only: gradio, docker, static"},
                },
            },
        },
    },
}  # fmt: skip


class OpenApiDocument:
    """The served document; tests may edit ``spec`` (a deep copy of :data:`SPEC`)."""

    def __init__(self) -> None:
        self.spec = copy.deepcopy(SPEC)

    async def serve(self, request: web.Request, params: dict[str, str]) -> web.Response:
        return web.json_response(self.spec)
