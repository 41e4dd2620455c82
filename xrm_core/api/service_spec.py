"""The OpenAPI paths of the import/export, webhook and plugin endpoints (see admin_spec)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xrm_core.api.admin_spec import (
    CURSOR,
    LIMIT,
    LIST,
    OBJECT,
    PLAN,
    V1,
    json_answer,
    operation,
    path_param,
    query_param,
)

if TYPE_CHECKING:
    from xrm_core.api.openapi import Spec


_JOB: dict[str, Any] = {
    "type": "object",
    "description": "An import: settings, status (running, completed, failed, abandoned), counts.",
    "required": ["id", "entity", "status", "rows_done", "created", "updated", "rejected"],
}


def transfer_paths(spec: Spec) -> dict[str, dict[str, Any]]:
    """Imports and exports."""
    job = spec.component("import_job", _JOB)
    upload = {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
    one = [path_param("id")]
    files = {
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    }
    download = ("200", {"description": "The file, streamed", "content": files})
    tag = "imports"
    done = ("200", json_answer(spec, "The import", job))
    paths: dict[str, dict[str, Any]] = {
        f"{V1}/imports": {
            "post": operation(
                spec,
                "Import a CSV or JSON Lines body",
                "startImport",
                tag,
                ("201", json_answer(spec, "The finished import", job)),
                (400, 403, 404, 409, 422),
                parameters=[
                    query_param(
                        "entity", {"type": "string"}, "The entity to import into (required)."
                    ),
                    query_param(
                        "format", {"enum": ["csv", "jsonl"]}, "Default: from Content-Type."
                    ),
                    query_param("mode", {"enum": ["skip_bad_rows", "all_or_nothing"]}, "Bad rows."),
                    query_param("key", {"type": "string"}, "Alternate key to update matches by."),
                    query_param("batch_size", {"type": "integer", "minimum": 1}, "Rows per batch."),
                    query_param("name", {"type": "string"}, "The file's name."),
                    query_param("sha256", {"type": "string"}, "The file's SHA-256 (for resuming)."),
                ],
                body=upload,
            ),
            "get": operation(
                spec,
                "List imports",
                "listImports",
                tag,
                ("200", json_answer(spec, "Imports", LIST)),
                (),
                parameters=[query_param("entity", {"type": "string"}, "Only this entity.")],
            ),
        },
        f"{V1}/imports/{{id}}": {
            "get": operation(spec, "Get an import", "getImport", tag, done, (404,), parameters=one)
        },
        f"{V1}/imports/{{id}}/rejections": {
            "get": operation(
                spec,
                "Rejected rows",
                "importRejections",
                tag,
                ("200", json_answer(spec, "Rows in file order", LIST)),
                (400, 404),
                parameters=[*one, LIMIT, CURSOR],
            )
        },
        f"{V1}/imports/{{id}}/report": {
            "get": operation(
                spec,
                "The report of rejected rows",
                "importReport",
                tag,
                download,
                (400, 404),
                parameters=[
                    *one,
                    query_param("format", {"enum": ["csv", "jsonl"]}, "File format."),
                ],
            )
        },
        f"{V1}/imports/{{id}}/resume": {
            "post": operation(
                spec,
                "Resume with the same file",
                "resumeImport",
                tag,
                done,
                (400, 404, 409, 422),
                parameters=[*one, query_param("sha256", {"type": "string"}, "")],
                body=upload,
            )
        },
        f"{V1}/imports/{{id}}/abandon": {
            "post": operation(
                spec,
                "Give up an interrupted import",
                "abandonImport",
                tag,
                done,
                (404, 409),
                parameters=one,
            )
        },
    }
    query = spec.json_body(
        {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "filter": {"type": ["object", "null"]},
                "order": {"type": ["array", "null"], "items": {"type": "string"}},
                "fields": {"type": ["array", "null"], "items": {"type": "string"}},
                "format": {"enum": ["csv", "jsonl"]},
            },
        },
        required=False,
    )
    for entity in spec.entities:
        params = [
            query_param(
                "filter", {"type": "string"}, "A filter as JSON (or where.<field>[op]=...)."
            ),
            query_param("order", {"type": "string"}, "Comma-separated sort keys."),
            query_param("fields", {"type": "string"}, "Comma-separated columns."),
            query_param("format", {"enum": ["csv", "jsonl"]}, "CSV by default."),
        ]
        paths[f"{V1}/exports/{entity.name}"] = {
            "get": operation(
                spec,
                f"Export {entity.name} records",
                f"export_{entity.name}",
                "exports",
                download,
                (400, 404, 422),
                parameters=params,
            ),
            "post": operation(
                spec,
                f"Export {entity.name} records (query in the body)",
                f"exportPost_{entity.name}",
                "exports",
                download,
                (400, 404, 422),
                body=query,
            ),
        }
    return paths


def admin_paths(spec: Spec) -> dict[str, dict[str, Any]]:
    """Webhooks and plugins (administrators)."""
    hook = spec.component("webhook", {"type": "object", "required": ["name", "url", "events"]})
    plan = spec.component("plugin_plan", PLAN)
    name = [path_param("name")]
    tag, ptag = "webhooks", "plugins"
    shown = ("200", json_answer(spec, "The webhook", hook))
    listed = ("200", json_answer(spec, "A list", LIST))
    planned = ("200", json_answer(spec, "The plan", plan))
    confirm = spec.json_body(
        {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {"confirm": {"type": "boolean"}},
        },
        required=False,
    )
    switched = ("200", json_answer(spec, "The plugin's state", OBJECT))
    return {
        f"{V1}/webhooks": {
            "get": operation(spec, "List webhooks", "listWebhooks", tag, listed, (403,)),
            "post": operation(
                spec,
                "Create a webhook (its secret is shown once)",
                "createWebhook",
                tag,
                ("201", json_answer(spec, "The webhook with its secret", hook)),
                (400, 403, 422),
                body=spec.json_body(hook),
            ),
        },
        f"{V1}/webhooks/{{name}}": {
            "get": operation(
                spec, "Get a webhook", "getWebhook", tag, shown, (403, 404), parameters=name
            ),
            "patch": operation(
                spec,
                "Change a webhook",
                "changeWebhook",
                tag,
                shown,
                (400, 403, 404, 422),
                parameters=name,
                body=spec.json_body(OBJECT),
            ),
            "delete": operation(
                spec,
                "Delete a webhook",
                "deleteWebhook",
                tag,
                ("204", {"description": "Deleted"}),
                (403, 404),
                parameters=name,
            ),
        },
        f"{V1}/webhooks/{{name}}/replay": {
            "post": operation(
                spec,
                "Deliver again",
                "replayWebhook",
                tag,
                ("200", json_answer(spec, "How many", OBJECT)),
                (400, 403, 404),
                parameters=name,
                body=spec.json_body(
                    {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "properties": {"delivery_ids": {"type": "array"}},
                    },
                    required=False,
                ),
            ),
        },
        f"{V1}/webhooks/{{name}}/deliveries": {
            "get": operation(
                spec,
                "Deliveries",
                "webhookDeliveries",
                tag,
                listed,
                (400, 403, 404),
                parameters=[
                    *name,
                    query_param("status", {"enum": ["pending", "delivered", "dead"]}, ""),
                    LIMIT,
                ],
            ),
        },
        f"{V1}/webhooks/{{name}}/attempts": {
            "get": operation(
                spec,
                "The delivery log",
                "webhookAttempts",
                tag,
                listed,
                (400, 403, 404),
                parameters=[*name, query_param("delivery_id", {"type": "string"}, ""), LIMIT],
            ),
        },
        f"{V1}/plugins": {"get": operation(spec, "List plugins", "listPlugins", ptag, listed, ())},
        f"{V1}/plugins/{{name}}/plan": {
            "get": operation(
                spec,
                "Plan an operation",
                "planPlugin",
                ptag,
                planned,
                (400, 403, 404, 409),
                parameters=[
                    *name,
                    query_param("operation", {"enum": ["install", "upgrade", "uninstall"]}, ""),
                    query_param("data", {"enum": ["keep", "export", "drop"]}, "For uninstall."),
                ],
            ),
        },
        f"{V1}/plugins/{{name}}/install": {
            "post": operation(
                spec,
                "Install",
                "installPlugin",
                ptag,
                planned,
                (400, 403, 404, 409),
                parameters=name,
                body=confirm,
            ),
        },
        f"{V1}/plugins/{{name}}/upgrade": {
            "post": operation(
                spec,
                "Upgrade",
                "upgradePlugin",
                ptag,
                planned,
                (400, 403, 404, 409),
                parameters=name,
                body=confirm,
            ),
        },
        f"{V1}/plugins/{{name}}/uninstall": {
            "post": operation(
                spec,
                "Uninstall",
                "uninstallPlugin",
                ptag,
                planned,
                (400, 403, 404, 409),
                parameters=name,
                body=spec.json_body(
                    {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "data": {"enum": ["keep", "export", "drop"]},
                            "confirm": {"type": "boolean"},
                        },
                    }
                ),
            ),
        },
        f"{V1}/plugins/{{name}}/enable": {
            "post": operation(
                spec, "Enable", "enablePlugin", ptag, switched, (403, 404, 409), parameters=name
            ),
        },
        f"{V1}/plugins/{{name}}/disable": {
            "post": operation(
                spec, "Disable", "disablePlugin", ptag, switched, (403, 404, 409), parameters=name
            ),
        },
    }
