"""The `proxyfleet` command.

Each command imports what it uses inside its own body: `--help`, `version` and `check` must
start without loading the web framework, the ORM or the task queue (a test checks
`sys.modules`). Only the standard library, typer, rich and `core` are imported up here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from signal import SIGINT, SIGTERM
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from proxyfleet import __version__
from proxyfleet.core.proxies import ProxyProtocol
from proxyfleet.runtime import tune_collector

if TYPE_CHECKING:
    from proxyfleet import bootstrap
    from proxyfleet.pool.listcheck import LineVerdict
    from proxyfleet.settings import Settings

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
# How long a `serve --workers` process may take to start before uvicorn replaces it.
WORKER_START_SECONDS = 60


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on standard error, then exit with `code`."""
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and `overrides`); a malformed one ends the command
    with one line naming its variable."""
    from proxyfleet.settings import Settings

    return Settings(**overrides)


def settings_error_line(error: BaseException) -> str | None:
    """One line naming the variable, for an error reading the settings; None for any other
    error."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    if isinstance(error, ValidationError) and error.title == "Settings":
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        message = str(first["msg"])
        count = error.error_count()
        more = f" (and {count - 1} more)" if count > 1 else ""
        return f"PROXYFLEET_{name.upper()}: {message}{more}" if name else message + more
    if isinstance(error, SettingsError):
        import re

        named = re.search(r'field "(\w+)"', str(error))
        cause = f": {error.__cause__}" if error.__cause__ else ""
        return (f"PROXYFLEET_{named.group(1).upper()} cannot be read{cause}" if named
                else str(error))
    return None


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
    from proxyfleet import bootstrap

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
    import uvicorn

    from proxyfleet import bootstrap, metrics
    from proxyfleet.api.app import create_app
    from proxyfleet.logconfig import configure

    overrides: dict[str, Any] = {k: v for k, v in {"host": host, "port": port,
                                                   "workers": workers}.items() if v is not None}
    settings = load_settings(**overrides)
    configure(settings.log_level)
    container = bootstrap.build(settings)
    console.print(f"proxyfleet {__version__} on http://{settings.host}:{settings.port} "
                  f"(database: {container.database.backend}, data: {settings.data_dir}, "
                  f"workers: {settings.workers})")
    if settings.gateway_enabled:
        console.print(f"rotating gateway on {settings.gateway_host}:{settings.gateway_port} "
                      "(HTTP and SOCKS5; log in with your API key as the password)")
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
    # The workers count into files here, and any of them answers /metrics with the sum.
    metrics.use_directory(settings.data_dir / "metrics")
    run_loop(bootstrap.migrate_database(settings))
    # A spawned worker imports the whole package before it can answer the supervisor's
    # ping; on a busy machine that took longer than uvicorn's 5 s, and the workers were
    # killed and restarted over and over.
    uvicorn.run("proxyfleet.api.app:app_from_environment", factory=True,
                workers=settings.workers, timeout_worker_healthcheck=WORKER_START_SECONDS,
                **options)


@app.command()
def worker() -> None:
    """Run queued tasks (scrapes) from the shared Redis stream until stopped."""
    from proxyfleet.logconfig import configure

    settings = load_settings()
    configure(settings.log_level)
    if settings.redis_url is None:
        fail("a worker needs PROXYFLEET_REDIS_URL; without Redis, `proxyfleet serve` runs "
             "every task itself", 2)

    async def consume(container: bootstrap.Container) -> None:
        loop = asyncio.get_running_loop()
        for signal in (SIGINT, SIGTERM):
            loop.add_signal_handler(signal, container.stopping.set)
        console.print("worker consuming the task stream")
        await container.queue.consume(container.stopping)

    _with_container(settings, consume)


@app.command()
def gateway(
    host: Annotated[str | None, typer.Option(
        help="Listen address [PROXYFLEET_GATEWAY_HOST].")] = None,
    port: Annotated[int | None, typer.Option(
        help="Listen port [PROXYFLEET_GATEWAY_PORT].")] = None,
) -> None:
    """Run the rotating gateway alone (no API), e.g. on more machines in front of one pool."""
    given: dict[str, Any] = {"gateway_host": host, "gateway_port": port}
    from proxyfleet.logconfig import configure

    settings = load_settings(**{name: value for name, value in given.items()
                                if value is not None})
    configure(settings.log_level)

    async def run(container: bootstrap.Container) -> None:
        loop = asyncio.get_running_loop()
        for signal in (SIGINT, SIGTERM):
            loop.add_signal_handler(signal, container.stopping.set)
        await container.start_gateway()
        address = container.gateway.address
        console.print(f"proxyfleet gateway on {address[0]}:{address[1]} (HTTP and SOCKS5)")
        await container.stopping.wait()

    _with_container(settings, run)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    settings = load_settings()

    async def done(_: bootstrap.Container) -> None:
        return None

    _with_container(settings, done)
    console.print("database is at the latest revision")


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Argument(help="The admin's email address (any well-formed "
                                              "address; no mail is sent).")],
    display_name: Annotated[str | None, typer.Option(help="Name shown in the UI.")] = None,
) -> None:
    """Create an admin account and print its API key (shown this once)."""
    from proxyfleet.accounts.rules import normalise_email
    from proxyfleet.core.accounts import Role
    from proxyfleet.core.errors import DomainError

    settings = load_settings()

    async def create(container: bootstrap.Container) -> str:
        _, issued = await container.accounts.register(email, display_name, Role.ADMIN)
        return issued.raw

    try:
        normalise_email(email)  # before the database is opened: as the API checks it
        raw = _with_container(settings, create)
    except DomainError as error:
        fail(error.message)
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
    from rich.progress import MofNCompleteColumn, Progress

    from proxyfleet.core.errors import DomainError, InvalidInput
    from proxyfleet.core.proxies import ProxyOrigin, UpsertCounts
    from proxyfleet.logconfig import configure

    settings = load_settings()
    configure("warning")
    content = file.read_text(encoding="utf-8", errors="replace")

    async def run(container: bootstrap.Container) -> UpsertCounts:
        chosen = container.parsers.get(parser) if parser else container.parsers.detect(
            content, None)
        if chosen is None:
            raise InvalidInput("No parser recognises this file; pass --parser.")
        # Parsed first, so the bar counts proxies (not lines: a JSON or CSV file has more).
        proxies = list(chosen.parse(content, protocol))
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn(),
                      console=console) as progress:
            task = progress.add_task(f"importing ({chosen.name})", total=len(proxies))
            return await container.inventory.add(
                proxies, ProxyOrigin.MANUAL, progress=lambda n: progress.advance(task, n))

    try:
        counts = _with_container(settings, run)
    except (DomainError, KeyError) as error:
        fail(str(getattr(error, "message", error)))
    console.print(f"discovered {counts.discovered}, new {counts.new}, "
                  f"updated {counts.updated}")


@app.command()
def check(
    source: Annotated[str, typer.Argument(help="A proxy list file, or - for standard input.")],
    protocol: Annotated[ProxyProtocol, typer.Option(
        help="Protocol for lines that do not name one.")] = ProxyProtocol.HTTP,
    judge: Annotated[str | None, typer.Option(
        help="Judge URL (default: one served here on loopback).")] = None,
    concurrency: Annotated[int, typer.Option(
        min=1, max=20000, help="Proxies checked at once.")] = 500,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per proxy.")] = 10.0,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write a JSON array, one object per input proxy.")] = None,
) -> None:
    """Check a list of proxies now, with no server running; print a summary."""
    from proxyfleet.logconfig import configure
    from proxyfleet.pool.listcheck import proxy_lines

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
        fail(f"cannot read {path}: {error.strerror}", 2)


async def _check_list(lines: list[str], protocol: ProxyProtocol, judge_url: str | None,
                      concurrency: int, seconds: float) -> list[LineVerdict]:
    from rich.progress import MofNCompleteColumn, Progress

    from proxyfleet.pool.checkers import CheckerRegistry, Pipeline
    from proxyfleet.pool.listcheck import check_lines
    from proxyfleet.sim.judge import Judge

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
def demo(
    key: Annotated[str, typer.Option(envvar="ADMIN_KEY", show_envvar=False,
                                     help="An admin's API key (default: $ADMIN_KEY).")],
    api: Annotated[str, typer.Option(help="The proxyfleet to add the source to.")
                   ] = "http://127.0.0.1:8000",
    size: Annotated[int, typer.Option(min=1, max=5000, help="Simulated proxies.")] = 60,
) -> None:
    """Bring a simulated world up on loopback (a proxy farm of every kind and a list server
    listing it) and add the list as a source, so a checked pool shows within a minute; runs
    until stopped (Ctrl-C)."""
    from proxyfleet.logconfig import configure

    configure("warning")
    run_loop(_demo(api.rstrip("/"), key, size))


async def _demo(api: str, key: str, size: int) -> None:
    import httpx

    from proxyfleet.sim.farm import Farm, FarmSpec
    from proxyfleet.sim.lists import Body, ListServer

    async with Farm(FarmSpec.spread(size)) as farm:
        listing = "".join(address.url(with_credentials=True) + "\n"
                          for address, _ in farm.proxies)
        async with ListServer({"/farm.txt": Body(listing)}) as lists:
            async with httpx.AsyncClient(timeout=30) as http:
                try:
                    added = await http.post(f"{api}/sources", json={"url": lists.url(
                        "/farm.txt"), "parser_name": "plaintext"},
                        headers={"Authorization": f"Bearer {key}"})
                except httpx.HTTPError as error:
                    fail(f"cannot reach proxyfleet at {api}: {error}")
            if added.status_code != 201:
                fail(f"adding the source failed: {added.status_code} {added.text}")
            source = added.json()
            console.print(f"demo: {size} simulated proxies on loopback, listed at "
                          f"{lists.url('/farm.txt')}; source {source['id']} added and being "
                          "scraped; they are checked as they come in. Ctrl-C stops the demo.")
            print(source["id"], flush=True)
            stopping = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signal in (SIGINT, SIGTERM):
                loop.add_signal_handler(signal, stopping.set)
            await stopping.wait()


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


@sim_app.command("upstream")
def sim_upstream(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1.")] = 8090,
    products: Annotated[int, typer.Option(min=0, help="Products it starts with.")] = 50,
    token: Annotated[str, typer.Option(help="The API token it accepts (X-API-Key).")] = (
        "sim-upstream-token"),
    churn_seconds: Annotated[float | None, typer.Option(
        min=0.1, help="Flip 5 % of the statuses this often (default: never).")] = None,
    online_fraction: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of the products that start online.")] = 0.9,
) -> None:
    """A simulated upstream proxy provider for the shop (controls under /_sim/)."""
    from proxyfleet.logconfig import configure
    from proxyfleet.sim.upstream import serve as serve_upstream

    configure("warning")
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve_upstream(port, products, token, churn_seconds, online_fraction))


@sim_app.command("telegram")
def sim_telegram(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1.")] = 8091,
    token: Annotated[list[str] | None, typer.Option(
        help="A bot token it accepts (repeatable; default: any).")] = None,
) -> None:
    """A simulated Telegram Bot API (controls under /_sim/: inject messages and taps, read
    what the bot sent)."""
    from proxyfleet.logconfig import configure
    from proxyfleet.sim.telegram import serve as serve_telegram

    configure("warning")
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve_telegram(port, token or []))


@app.command()
def bot() -> None:
    """Run the Telegram bot: a client of this platform's API [PROXYFLEET_TELEGRAM_*]."""
    from proxyfleet.bot.app import run_bot
    from proxyfleet.logconfig import configure

    settings = load_settings()
    configure(settings.log_level)
    token = settings.telegram_bot_token.get_secret_value()
    key = settings.telegram_platform_key.get_secret_value()
    if not token or not key:
        fail("set PROXYFLEET_TELEGRAM_BOT_TOKEN and PROXYFLEET_TELEGRAM_PLATFORM_KEY "
             "(`proxyfleet admin bot-key`)", 2)
    console.print(f"bot polling {settings.telegram_api_url}, platform "
                  f"{settings.telegram_platform_url}")
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(run_bot(token, settings.telegram_api_url, settings.telegram_platform_url, key))


@admin_app.command("bot-key")
def admin_bot_key(
    label: Annotated[str, typer.Option(help="What the key is for.")] = "telegram bot",
) -> None:
    """Issue a key for a Telegram bot and print it (shown this once)."""
    settings = load_settings()

    async def issue(container: bootstrap.Container) -> str:
        return await container.telegram.issue_bot_key(label)

    raw = _with_container(settings, issue)
    console.print("bot key (shown once; set it as PROXYFLEET_TELEGRAM_PLATFORM_KEY):")
    print(raw)


def _without_flag_types(command: Any) -> None:
    """Flags take no value: their help shows no type (typer would print `<bool>`)."""
    context = typer.Context(command)
    command.get_help_option(context)
    for param in command.get_params(context):
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _without_flag_types(sub)


def main() -> None:
    command = typer.main.get_command(app)
    _without_flag_types(command)
    try:
        command(prog_name="proxyfleet")
    except Exception as error:
        line = settings_error_line(error)
        if line is None:
            raise
        console.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True)
        sys.exit(2)
