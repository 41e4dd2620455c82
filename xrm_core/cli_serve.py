"""``xrm serve``: the web server (uvicorn), ready with no configuration."""

from __future__ import annotations

import secrets

import click

from xrm_core import demo
from xrm_core.cli_common import database_option, opened, shown_url
from xrm_core.demo.plugins import load_plugins
from xrm_core.settings import load_settings
from xrm_core.xrm import XRM

#: The user ``xrm serve --demo`` makes, and the name of the token it prints.
DEMO_USER, DEMO_TOKEN = "demo", "xrm serve --demo"
#: How many main records (accounts, ...) each plugin's demo data makes for ``serve --demo``.
DEMO_SIZE = 100


@click.command("serve")
@database_option
@click.option(
    "--host",
    envvar="XRM_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (env XRM_HOST).",
)
@click.option(
    "--port",
    envvar="XRM_PORT",
    default=8000,
    show_default=True,
    type=int,
    help="Port to listen on (env XRM_PORT).",
)
@click.option(
    "--demo",
    "with_demo",
    is_flag=True,
    help="Load the demo data (once) and print an API token of an administrator 'demo'.",
)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Server processes."
)
def serve_command(url: str, host: str, port: int, with_demo: bool, workers: int) -> None:
    """Prepare the database (as `xrm db upgrade` does) and serve the API over HTTP."""
    import uvicorn

    try:
        settings = load_settings(database_url=url, host=host, port=port)
    except ValueError as exc:  # pydantic's ValidationError is one too
        raise click.ClickException(f"bad settings: {_one_line(exc)}") from None
    with opened(url) as xrm:
        xrm.security.install()
        demo_login = _demo(xrm) if with_demo else None
    base = f"http://{host}:{port}"
    click.echo(f"xRM is serving {shown_url(url)} at {base}/")
    click.echo(f"  REST API: {base}/api/v1/   (send 'Authorization: Bearer <token>')")
    click.echo(f"  Admin UI: {base}/admin/")
    if demo_login:
        token, password = demo_login
        click.echo(f"  API token of user '{DEMO_USER}' (administrator): {token}")
        click.echo(f"  Admin UI sign-in: user '{DEMO_USER}', password {password}")
        click.echo(f"  try: curl -H 'Authorization: Bearer {token}' {base}/api/v1/me")
    if workers > 1:
        # Each process opens the database itself, configured by the environment.
        import os

        os.environ.update({"XRM_DATABASE_URL": url, "XRM_HOST": host, "XRM_PORT": str(port)})
        # One key for all workers, so each accepts the admin session cookies of the others.
        os.environ.setdefault("XRM_SECRET_KEY", secrets.token_urlsafe(32))
        target = "xrm_core.api.app:from_environment"
        uvicorn.run(target, factory=True, host=host, port=port, workers=workers)
        return
    from xrm_core.api.app import create_app

    uvicorn.run(create_app(settings=settings), host=host, port=port, log_level="info")


def _one_line(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):  # a pydantic ValidationError: each setting and what is wrong
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())
    return " ".join(str(exc).split())


def _demo(xrm: XRM) -> tuple[str, str]:
    """Load the demo data; give the demo administrator a fresh token and password.

    The token's older namesakes are revoked; both are new at every start because
    neither is stored where it could be shown again.
    """
    demo.load(xrm)
    load_plugins(xrm, DEMO_SIZE)  # every available plugin, installed and filled once
    security = xrm.security
    users = xrm.records("user").query(filter={"username": DEMO_USER}, limit=1).records
    if users:
        user_id = users[0]["id"]
    else:
        user_id = security.create_user(DEMO_USER, roles=["System Administrator"])
    for info in xrm.auth.tokens(user_id):
        if info.name == DEMO_TOKEN and info.revoked_at is None:
            xrm.auth.revoke(info.id)
    password = secrets.token_urlsafe(12)
    xrm.auth.set_password(user_id, password)
    return xrm.auth.create_token(user_id, name=DEMO_TOKEN).token, password
