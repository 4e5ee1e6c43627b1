"""A fresh machine: `make test` installs the Debian packages the tests drive, or stops at once
naming them. The script asks the real dpkg; `apt-get` is a recording stand-in on PATH (tests
never reach Debian's mirrors), and the non-root case runs as the real user `nobody`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "tests" / "ensure_packages.py"
PACKAGES = ROOT / "tests" / "debian-packages.txt"
ABSENT = "proxyfleet-test-no-such-package"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="installing needs root")


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory every user can use (pytest's own is private to root, and one test runs
    as `nobody`)."""
    made = Path(tempfile.mkdtemp(prefix="proxyfleet-packages-", dir="/tmp"))
    made.chmod(0o777)
    yield made
    shutil.rmtree(made)


@pytest.fixture
def apt_log(tmp_path: Path) -> Path:
    """A directory with an `apt-get` that records its arguments into `apt.log`."""
    stand_in = tmp_path / "bin" / "apt-get"
    stand_in.parent.mkdir()
    stand_in.parent.chmod(0o755)
    stand_in.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/apt.log\n')
    stand_in.chmod(0o755)
    return tmp_path / "apt.log"


def run(package_list: Path, apt_log: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    path = f"{apt_log.parent / 'bin'}:{os.environ['PATH']}"
    return subprocess.run([*prefix, sys.executable, str(SCRIPT), str(package_list)],
                          capture_output=True, text=True, env={**os.environ, "PATH": path},
                          timeout=60, check=False)


def write_list(tmp_path: Path, *names: str) -> Path:
    listed = tmp_path / "packages.txt"
    listed.write_text("# a comment\n\n" + "\n".join(names) + "\n")
    listed.chmod(0o644)
    return listed


def test_the_committed_list_is_installed_here_and_nothing_is_installed_again(
        apt_log: Path) -> None:
    done = run(PACKAGES, apt_log)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not apt_log.exists()


def test_the_list_names_the_daemons_the_tests_start() -> None:
    names = PACKAGES.read_text().split()
    assert {"tinyproxy", "squid", "microsocks", "dante-server", "haproxy"} <= set(names)


@as_root
def test_root_installs_only_the_missing_packages(tmp_path: Path, apt_log: Path) -> None:
    done = run(write_list(tmp_path, "dpkg", ABSENT), apt_log)
    assert done.returncode == 0, done.stderr
    assert apt_log.read_text().splitlines() == ["update -qq", f"install -y -qq {ABSENT}"]


@as_root
def test_a_failed_install_stops_make(tmp_path: Path, apt_log: Path) -> None:
    (apt_log.parent / "bin" / "apt-get").write_text("#!/bin/sh\nexit 100\n")
    done = run(write_list(tmp_path, ABSENT), apt_log)
    assert done.returncode == 1
    assert "apt-get update -qq" in done.stderr


def test_a_user_is_told_in_one_line_and_nothing_runs(tmp_path: Path, apt_log: Path) -> None:
    prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups") \
        if os.geteuid() == 0 else ()
    done = run(write_list(tmp_path, "dpkg", ABSENT, "another-absent-package"), apt_log,
               *prefix)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert f"{ABSENT} another-absent-package" in lines[0]
    assert "dpkg" not in lines[0].replace("Debian packages", "")
    assert not apt_log.exists()


def planned(target: str) -> str:
    """What `make -n -B TARGET` would run (as a fresh, top-level make: this test itself may
    run under `make test`)."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    return subprocess.run(["make", "--no-print-directory", "-n", "-B", target], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=True).stdout


def test_make_test_checks_packages_before_anything_else() -> None:
    first = planned("test").splitlines()[0]
    assert "tests/ensure_packages.py tests/debian-packages.txt" in first


def test_make_run_installs_no_test_tools() -> None:
    run = planned("run")
    assert "-e ." in run
    assert "[test]" not in run
    assert "ensure_packages" not in run


def test_ci_installs_nothing_itself() -> None:
    assert "apt-get" not in (ROOT / ".ci" / "run").read_text()
