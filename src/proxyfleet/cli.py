"""The `proxyfleet` command."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from signal import SIGINT, SIGTERM
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import MofNCompleteColumn, Progress

from proxyfleet import __version__, bootstrap
from proxyfleet.api.app import create_app
from proxyfleet.core.accounts import Role
from proxyfleet.core.errors import DomainError, InvalidInput
from proxyfleet.core.proxies import ProxyOrigin, ProxyProtocol, UpsertCounts
from proxyfleet.logconfig import configure
from proxyfleet.pool.checkers import CheckerRegistry, Pipeline
from proxyfleet.pool.listcheck import LineVerdict, check_lines, proxy_lines
from proxyfleet.runtime import tune_collector
from proxyfleet.settings import Settings
from proxyfleet.sim.judge import Judge

app = typer.Typer(help="proxyfleet: gather, check, score and hand out proxies.",
                  no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
admin_app = typer.Typer(help="Administration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
# Simulated third parties on loopback (`proxyfleet sim NAME`): one command per module of `sim/`,
# each importing its module inside the command.
sim_app = typer.Typer(help="Simulated third parties on loopback, for demos and tests.",
                      no_args_is_help=True)
app.add_typer(sim_app, name="sim")
console = Console(stderr=True)

T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (it comes with uvicorn[standard]): about a third
    less CPU per check than the default loop; with the collector tuned for a busy process."""
    tune_collector()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _with_container(settings: Settings, use: Callable[[bootstrap.Container], Awaitable[T]]) -> T:
    async def run() -> T:
        container = bootstrap.build(settings)
        try:
            await container.start()
            return await use(container)
        finally:
            await container.close()

    return run_loop(run())


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address [PROXYFLEET_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [PROXYFLEET_PORT].")] = None,
    workers: Annotated[int | None, typer.Option(
        help="API processes sharing the port [PROXYFLEET_WORKERS].")] = None,
) -> None:
    """Run proxyfleet: migrations, then the API (in one process, or in --workers)."""
    overrides: dict[str, Any] = {k: v for k, v in {"host": host, "port": port,
                                                   "workers": workers}.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    configure(settings.log_level)
    container = bootstrap.build(settings)
    console.print(f"proxyfleet {__version__} on http://{settings.host}:{settings.port} "
                  f"(database: {container.database.backend}, data: {settings.data_dir}, "
                  f"workers: {settings.workers})")
    options: dict[str, Any] = {"host": settings.host, "port": settings.port,
                               "log_level": settings.log_level, "proxy_headers": False,
                               "server_header": False}
    if settings.workers == 1:
        application = create_app(container, own_container=True)
        tune_collector()
        uvicorn.run(application, **options)
        return
    # Workers are fresh processes that build their own container from the environment, so
    # the command line's options travel there; migrations run once, here, before they start.
    os.environ.update({f"PROXYFLEET_{name.upper()}": str(value)
                       for name, value in overrides.items()})
    run_loop(bootstrap.migrate_database(settings))
    uvicorn.run("proxyfleet.api.app:app_from_environment", factory=True,
                workers=settings.workers, **options)


@app.command()
def worker() -> None:
    """Run queued tasks (scrapes) from the shared Redis stream until stopped."""
    settings = Settings()
    configure(settings.log_level)
    if settings.redis_url is None:
        console.print("[red]error:[/red] a worker needs PROXYFLEET_REDIS_URL; without Redis, "
                      "`proxyfleet serve` runs every task itself")
        raise typer.Exit(2)

    async def consume(container: bootstrap.Container) -> None:
        loop = asyncio.get_running_loop()
        for signal in (SIGINT, SIGTERM):
            loop.add_signal_handler(signal, container.stopping.set)
        console.print("worker consuming the task stream")
        await container.queue.consume(container.stopping)

    _with_container(settings, consume)


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


@app.command("import")
def import_proxies(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A proxy list in any format a parser reads.")],
    protocol: Annotated[ProxyProtocol, typer.Option(
        help="Protocol for entries that do not name one.")] = ProxyProtocol.HTTP,
    parser: Annotated[str | None, typer.Option(
        help="Parser to use (default: detected from the content).")] = None,
) -> None:
    """Add proxies from a file; known ones are refreshed, never duplicated."""
    settings = Settings()
    configure("warning")
    content = file.read_text(encoding="utf-8", errors="replace")

    async def run(container: bootstrap.Container) -> UpsertCounts:
        chosen = container.parsers.get(parser) if parser else container.parsers.detect(
            content, None)
        if chosen is None:
            raise InvalidInput("No parser recognises this file; pass --parser.")
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(),
                      console=console) as progress:
            task = progress.add_task(f"importing ({chosen.name})",
                                     total=content.count("\n") + 1)
            counts = await container.inventory.add(
                chosen.parse(content, protocol), ProxyOrigin.MANUAL,
                progress=lambda n: progress.advance(task, n))
            progress.update(task, completed=progress.tasks[0].total)
        return counts

    try:
        counts = _with_container(settings, run)
    except (DomainError, KeyError) as error:
        console.print(f"[red]error:[/red] {getattr(error, 'message', error)}")
        raise typer.Exit(1) from None
    console.print(f"discovered {counts.discovered}, new {counts.new}, "
                  f"updated {counts.updated}")


@app.command()
def check(
    source: Annotated[str, typer.Argument(help="A proxy list file, or - for standard input.")],
    protocol: Annotated[ProxyProtocol, typer.Option(
        help="Protocol for lines that do not name one.")] = ProxyProtocol.HTTP,
    judge: Annotated[str | None, typer.Option(
        help="Judge URL (default: one served here on loopback).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=20000)] = 500,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per proxy.")] = 10.0,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write a JSON array, one object per input proxy.")] = None,
) -> None:
    """Check a list of proxies now, with no server running; print a summary."""
    configure("warning")
    text = sys.stdin.read() if source == "-" else _read_list(Path(source))
    lines = proxy_lines(text)
    started = time.perf_counter()
    verdicts = run_loop(_check_list(lines, protocol, judge, concurrency, timeout))
    elapsed = time.perf_counter() - started
    if json_out is not None:
        json_out.write_text(json.dumps([v.as_json() for v in verdicts], indent=1) + "\n")
    _print_summary(verdicts, elapsed)


def _read_list(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        console.print(f"[red]error:[/red] cannot read {path}: {error.strerror}")
        raise typer.Exit(2) from None


async def _check_list(lines: list[str], protocol: ProxyProtocol, judge_url: str | None,
                      concurrency: int, seconds: float) -> list[LineVerdict]:
    pipeline = Pipeline(CheckerRegistry.load())
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(),
                  console=console) as progress:
        task = progress.add_task("checking", total=len(lines))

        def advance(_: LineVerdict) -> None:
            progress.advance(task)

        if judge_url is not None:
            return await check_lines(pipeline, lines, protocol, judge_url, concurrency,
                                     seconds, advance)
        async with Judge() as own:
            return await check_lines(pipeline, lines, protocol, own.url, concurrency, seconds,
                                     advance)


def _print_summary(verdicts: list[LineVerdict], elapsed: float) -> None:
    alive = [v for v in verdicts if v.alive]
    kinds = Counter(v.anonymity or "unknown" for v in alive)
    console.print(f"checked {len(verdicts)} in {elapsed:.1f} s: {len(alive)} alive, "
                  f"{len(verdicts) - len(alive)} dead"
                  + (f" ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})"
                     if alive else ""))


@sim_app.command("instagram")
def sim_instagram(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8090,
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
) -> None:
    """A simulated Instagram (web API, cookie and CSRF checks, refusals on demand under
    /_sim/); point PROXYFLEET_INSTAGRAM_BASE_URL at http://HOST:PORT/api/v1."""
    from proxyfleet.sim.instagram import serve_forever

    if not _is_loopback(host):
        console.print("[red]error:[/red] the simulated Instagram listens on loopback only")
        raise typer.Exit(2)
    console.print(f"simulated Instagram on http://{host}:{port}/api/v1 (controls: /_sim/)")
    serve_forever(host, port)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    app()
