"""The command line as a new user meets it: each command imports only what it uses, flags
show no type, every option says what it does, and a malformed setting is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from proxyfleet.cli import app

HEAVY = ("fastapi", "starlette", "sqlalchemy", "alembic", "taskiq", "uvicorn")

# Runs the CLI's main() with the given arguments in a fresh interpreter, then prints which
# heavy packages got imported.
PROBE = """
import json, sys
watched = set(json.loads(sys.argv[2]))
sys.argv = ["proxyfleet", *json.loads(sys.argv[1])]
from proxyfleet.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted({name.split(".")[0] for name in sys.modules} & watched)
print("HEAVY " + json.dumps(heavy), file=sys.stderr)
"""


def heavy_imports(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=120, check=False)
    marker = [line for line in done.stderr.splitlines() if line.startswith("HEAVY ")]
    assert marker, done.stderr
    found: list[str] = json.loads(marker[-1].removeprefix("HEAVY "))
    return found


def command_paths(command: Any, path: tuple[str, ...] = ()
                  ) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += command_paths(sub, (*path, name))
    return found


COMMANDS = command_paths(typer.main.get_command(app))


def test_help_and_version_import_no_web_framework_orm_or_queue() -> None:
    assert heavy_imports("--help") == []
    assert heavy_imports("version") == []


def test_check_imports_no_web_framework_orm_or_queue(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("127.0.0.1:9\nnot a proxy\n")
    assert heavy_imports("check", str(listing), "--timeout", "1") == []


def test_every_commands_help_imports_nothing_heavy() -> None:
    # A command that imports at the top of cli.py slows every other command down.
    for path, _ in COMMANDS:
        assert heavy_imports(*path, "--help") == [], path


def test_serve_still_loads_what_it_needs() -> None:
    # The probe can tell: a command that does import the web framework is seen doing so.
    env = {**os.environ, "PROXYFLEET_PORT": "not a port"}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["db", "upgrade"]),
                           json.dumps(["pydantic_settings"])], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert 'HEAVY ["pydantic_settings"]' in done.stderr


def test_flags_show_no_type_and_every_option_says_what_it_does() -> None:
    for path, _ in COMMANDS:
        shown = subprocess.run([sys.executable, "-m", "proxyfleet", *path, "--help"],
                               capture_output=True, text=True, timeout=60, check=True,
                               env={**os.environ, "COLUMNS": "200"}).stdout
        assert "<bool>" not in shown, path
    for path, command in COMMANDS:
        for param in command.params:
            if param.param_type_name == "option":
                assert getattr(param, "help", None), (path, param.name)


def test_a_malformed_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    for value in ('{"eth0": ', '{"eth0": "not a prefix"}'):
        env = {**os.environ, "PROXYFLEET_DATA_DIR": str(tmp_path),
               "PROXYFLEET_IPV6_PREFIXES": value}
        done = subprocess.run([sys.executable, "-m", "proxyfleet", "db", "upgrade"], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "PROXYFLEET_IPV6_PREFIXES" in done.stderr


def test_version_prints_the_package_version() -> None:
    from proxyfleet import __version__

    done = subprocess.run([sys.executable, "-m", "proxyfleet", "version"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == __version__


@pytest.mark.parametrize("email", ["notanemail", "two@@example.com", "x@-bad-.com"])
def test_admin_create_refuses_what_the_api_refuses(tmp_path: Path, email: str) -> None:
    env = {**os.environ, "PROXYFLEET_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "proxyfleet", "admin", "create", email],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "Not a valid email address" in done.stderr
    assert not (tmp_path / "proxyfleet.db").exists()
