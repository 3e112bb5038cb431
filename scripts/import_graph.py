"""The import graph of the edgekit package, and its contracts.

edgekit maps the top-level folders exporters/ and runtimes/ into the package (setuptools
package-dir). Import tools (grimp, import-linter) find a package's modules by walking its folder,
so they would miss those two; this script first lays the package out as it imports, a folder of
symlinks in a temporary directory, and runs the tools there.

    python scripts/import_graph.py            # modules per package, cycles, the longest chain
    python scripts/import_graph.py --json     # the same as JSON
    python scripts/import_graph.py --lint     # run the import-linter contracts of pyproject.toml

Every import counts, also one inside a function (a lazy import is still a dependency)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# import name -> folder, as pyproject.toml's package-dir maps them
MAPPED = {"edgekit": "edgekit", "edgekit/exporters": "exporters", "edgekit/runtimes": "runtimes"}


@contextmanager
def import_tree(repo: Path = REPO, with_benchmarks: bool = False):
    """A temporary folder where `edgekit` (and `benchmarks`) import as installed: symlinks only."""
    with tempfile.TemporaryDirectory(prefix="edgekit-imports-") as d:
        root = Path(d)
        (root / "edgekit").mkdir()
        for entry in (repo / "edgekit").iterdir():
            os.symlink(entry, root / "edgekit" / entry.name)
        for name, folder in MAPPED.items():
            if name != "edgekit":
                os.symlink(repo / folder, root / name)
        if with_benchmarks:
            os.symlink(repo / "benchmarks", root / "benchmarks")
        yield root


def build_graph(root: Path, packages=("edgekit",)):
    """A grimp graph of `packages` laid out under `root` (imported in a child process's path)."""
    sys.path.insert(0, str(root))
    try:
        import grimp

        return grimp.build_graph(*packages, cache_dir=None)
    finally:
        sys.path.remove(str(root))


def _sccs(nodes, edges) -> list:
    """Strongly connected components (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(edges.get(start, ())))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(edges.get(w, ()))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def cycles(graph) -> list:
    """Groups of modules that import each other, directly or through others (size >= 2)."""
    nodes = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in nodes}
    return sorted((c for c in _sccs(nodes, edges) if len(c) > 1), key=lambda c: (-len(c), c))


def longest_chain(graph) -> list:
    """The longest chain of imports a -> b -> c ... (over the graph with each cycle as one node)."""
    nodes = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in nodes}
    comp_of = {}
    for i, c in enumerate(_sccs(nodes, edges)):
        for m in c:
            comp_of[m] = i
    memo: dict = {}

    def best(m, seen=()):
        if m in memo:
            return memo[m]
        chain = [m]
        for n in edges[m]:
            if comp_of[n] == comp_of[m]:
                continue
            sub = best(n)
            if len(sub) + 1 > len(chain):
                chain = [m] + sub
        memo[m] = chain
        return chain

    sys.setrecursionlimit(10_000)
    return max((best(m) for m in nodes), key=len, default=[])


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return module
    path = REPO / "/".join(parts[:2]).replace("edgekit/exporters", "exporters").replace("edgekit/runtimes", "runtimes")
    return ".".join(parts[:2]) if path.is_dir() else parts[0] + " (root modules)"


def lines_of(module: str, root: Path) -> int:
    rel = Path(*module.split("."))
    for p in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
        if p.is_file():
            return sum(1 for _ in open(p, encoding="utf-8"))
    return 0


def summary(root: Path) -> dict:
    g = build_graph(root)
    mods = sorted(g.modules)
    per_pkg = Counter(package_of(m) for m in mods)
    loc = Counter()
    for m in mods:
        loc[package_of(m)] += lines_of(m, root)
    cyc = cycles(g)
    chain = longest_chain(g)
    return {"modules": len(mods), "lines": sum(loc.values()),
            "packages": {k: {"modules": per_pkg[k], "lines": loc[k]} for k in sorted(per_pkg)},
            "imports": sum(len(g.find_modules_directly_imported_by(m)) for m in mods),
            "cycles": cyc, "modules_in_cycles": sum(len(c) for c in cyc),
            "longest_chain": chain}


def lint(root: Path, config: Path) -> int:
    """import-linter over the laid-out tree; returns its exit status."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe) if exe.exists() else "lint-imports", str(config), "--no-cache"]
    return subprocess.call(cmd, cwd=root, env=env)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--lint", action="store_true", help="run the import-linter contracts (pyproject.toml)")
    ap.add_argument("--repo", default=str(REPO), help="another checkout to measure (default: this one)")
    a = ap.parse_args(argv)
    repo = Path(a.repo).resolve()
    with import_tree(repo, with_benchmarks=a.lint) as root:
        if a.lint:
            return lint(root, repo / "pyproject.toml")
        s = summary(root)
    if a.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"{s['modules']} modules, {s['lines']} lines, {s['imports']} imports between them")
    for k, v in s["packages"].items():
        print(f"  {k:<28} {v['modules']:>3} modules {v['lines']:>6} lines")
    print(f"cycles: {len(s['cycles'])} ({s['modules_in_cycles']} modules)")
    for c in s["cycles"]:
        print("  " + " <-> ".join(c))
    print(f"longest chain ({len(s['longest_chain'])} modules): " + " -> ".join(s["longest_chain"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
