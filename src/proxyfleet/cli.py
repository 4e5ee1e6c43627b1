"""The `proxyfleet` command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
import uvicorn
from rich.console import Console

from proxyfleet import __version__, bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.core.accounts import Role
from proxyfleet.core.errors import DomainError
from proxyfleet.logconfig import configure
from proxyfleet.settings import Settings

app = typer.Typer(help="proxyfleet: gather, check, score and hand out proxies.",
                  no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_app = typer.Typer(help="Administration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
console = Console(stderr=True)

T = TypeVar("T")


def _with_container(settings: Settings, use: Callable[[bootstrap.Container], Awaitable[T]]) -> T:
    async def run() -> T:
        container = bootstrap.build(settings)
        try:
            await container.start()
            return await use(container)
        finally:
            await container.close()

    return asyncio.run(run())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [PROXYFLEET_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [PROXYFLEET_PORT].")] = None,
) -> None:
    """Run proxyfleet: migrations, then the API, in one process."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings().model_copy(update=overrides)
    configure(settings.log_level)
    container = bootstrap.build(settings)
    console.print(f"proxyfleet {__version__} on http://{settings.host}:{settings.port} "
                  f"(database: {container.database.backend}, data: {settings.data_dir})")
    uvicorn.run(create_app(container, own_container=True), host=settings.host,
                port=settings.port, log_level=settings.log_level, proxy_headers=False,
                server_header=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = Settings()

    async def done(_: bootstrap.Container) -> None:
        return None

    _with_container(settings, done)
    console.print("database is at the latest revision")


@admin_app.command("create")
def admin_create(
    email: str,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the UI.")] = None,
) -> None:
    """Create an admin account and print its API key (shown this once)."""
    settings = Settings()

    async def create(container: bootstrap.Container) -> str:
        _, issued = await container.accounts.register(email, display_name, Role.ADMIN)
        return issued.raw

    try:
        raw = _with_container(settings, create)
    except DomainError as error:
        console.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(1) from None
    console.print(f"admin {email} created; API key (shown once):")
    print(raw)


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    app()
