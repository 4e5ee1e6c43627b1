"""A small mutation run: how many AST-level mutants of a module its tests kill.

    .venv/bin/python -m bench.mutants src/proxyfleet/pool/health.py tests/unit/pool/test_health.py
    .venv/bin/python -m bench.mutants MODULE TESTS... [--most 60] [--show-survivors]

Each mutant changes one thing: a comparison flipped (< and <=, == and !=, in and not in), an
arithmetic operator swapped (+ and -, * and /), a number shifted by one, a boolean
constant negated, an `is` / `is not` swapped, or a `raise` removed (replaced by `pass`).
Mutants run against a copy of the package put first on PYTHONPATH, never the source tree.
Prints the mutants made, killed and survived, and the score; `--show-survivors` lists where
each survivor is.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.Add: ast.Sub, ast.Sub: ast.Add,
    ast.Mult: ast.Div, ast.Div: ast.Mult,
}


@dataclass(frozen=True)
class Mutant:
    index: int
    line: int
    what: str


class _Mutator(ast.NodeTransformer):
    """Applies the `target`-th possible mutation (in walk order) and no other."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.done: Mutant | None = None

    def _turn(self, node: ast.AST, what: str) -> bool:
        hit = self.seen == self.target
        if hit:
            self.done = Mutant(self.target, getattr(node, "lineno", 0), what)
        self.seen += 1
        return hit

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for i, op in enumerate(node.ops):
            swap = _SWAPS.get(type(op))
            if swap and self._turn(node, f"{type(op).__name__} -> {swap.__name__}"):
                node.ops[i] = swap()
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        swap = _SWAPS.get(type(node.op))
        if swap and self._turn(node, f"{type(node.op).__name__} -> {swap.__name__}"):
            node.op = swap()
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._turn(node, f"{value} -> {not value}"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int | float) and self._turn(node, f"{value} -> {value + 1}"):
            return ast.copy_location(ast.Constant(value + 1), node)
        return node

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.generic_visit(node)
        if self._turn(node, "raise removed"):
            return ast.copy_location(ast.Pass(), node)
        return node


def mutants_of(source: str) -> Iterator[tuple[Mutant, str]]:
    index = 0
    while True:
        mutator = _Mutator(index)
        tree = mutator.visit(ast.parse(source))
        if mutator.done is None:
            return
        yield mutator.done, ast.unparse(ast.fix_missing_locations(tree))
        index += 1


def _killed(copy_root: Path, tests: list[str]) -> bool:
    env = dict(os.environ, PYTHONPATH=str(copy_root))
    run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                          "-o", "addopts=", *tests], env=env, capture_output=True, timeout=600)
    return run.returncode != 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="a file under src/proxyfleet")
    parser.add_argument("tests", nargs="+", help="test files or node ids to run per mutant")
    parser.add_argument("--most", type=int, default=60, help="mutants at most (60)")
    parser.add_argument("--show-survivors", action="store_true")
    options = parser.parse_args()

    module = Path(options.module).resolve()
    package = Path("src/proxyfleet").resolve()
    relative = module.relative_to(package)
    source = module.read_text()
    started = time.monotonic()
    killed, survivors = 0, []
    with tempfile.TemporaryDirectory() as folder:
        copy_root = Path(folder)
        shutil.copytree(package, copy_root / "proxyfleet")
        target = copy_root / "proxyfleet" / relative
        if _killed(copy_root, options.tests):
            raise SystemExit("the tests fail without any mutant: fix them first")
        made = 0
        for mutant, mutated in mutants_of(source):
            if made >= options.most:
                break
            made += 1
            target.write_text(mutated)
            dead = _killed(copy_root, options.tests)
            killed += dead
            if not dead:
                survivors.append(mutant)
            print(f"  {'killed  ' if dead else 'SURVIVED'} line {mutant.line}: {mutant.what}",
                  flush=True)
        target.write_text(source)
    score = killed / made if made else 1.0
    print(f"{relative}: {made} mutants, {killed} killed, {len(survivors)} survived, "
          f"score {score:.0%} ({time.monotonic() - started:.0f} s)")
    if options.show_survivors:
        for mutant in survivors:
            print(f"  line {mutant.line}: {mutant.what}")


if __name__ == "__main__":
    main()
