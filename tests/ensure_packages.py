"""Make sure the Debian packages the tests drive are installed (`make test` runs this first).

    python3 tests/ensure_packages.py [LIST]     (default: tests/debian-packages.txt)

Reads the list (one package per line, `#` comments), asks dpkg which are not installed, and
then: nothing missing, exit 0 quietly; missing and root, `apt-get update` and `apt-get install`
them; missing and not root, one line naming them and exit 1, before anything else runs.
Standard library only: it runs with the system's python3, before the virtual environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DEFAULT_LIST = Path(__file__).with_name("debian-packages.txt")


def read_list(path: Path) -> list[str]:
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name and name not in names:
            names.append(name)
    return names


def missing_packages(names: list[str]) -> list[str]:
    """The names dpkg does not report as installed (unknown names included)."""
    if not names:
        return []
    listed = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${Package}\t${db:Status-Status}\n", *names],
        capture_output=True, text=True, check=False).stdout
    installed = {package.split(":", 1)[0] for package, _, status in
                 (line.partition("\t") for line in listed.splitlines())
                 if status.strip() == "installed"}
    return [name for name in names if name not in installed]


def install(names: list[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing Debian packages the tests drive: {' '.join(names)}", flush=True)
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", *names]):
        if subprocess.run(command, env=env, check=False).returncode != 0:
            print(f"error: `{' '.join(command)}` failed", file=sys.stderr)
            return 1
    return 0


def main(argv: list[str]) -> int:
    names = read_list(Path(argv[0]) if argv else DEFAULT_LIST)
    if shutil.which("dpkg-query") is None:
        print("note: no dpkg here; the tests drive these Debian packages, install their "
              f"equivalents: {' '.join(names)}", file=sys.stderr)
        return 0
    missing = missing_packages(names)
    if not missing:
        return 0
    if os.geteuid() == 0:
        return install(missing)
    print(f"error: the tests need these Debian packages, not installed: {' '.join(missing)} "
          f"(as root: apt-get install {' '.join(missing)}, or run make test as root)",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
