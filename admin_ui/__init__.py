"""The administrators' web application, mounted by ``xrm serve`` at ``/admin``.

Server-rendered pages (Jinja2) with htmx for partial updates. Every page calls the
record and metadata services in-process as the signed-in user, so permissions,
validation, events and audit are the same as through REST, GraphQL and the CLI.
"""

from admin_ui.app import mount

__all__ = ["mount"]
