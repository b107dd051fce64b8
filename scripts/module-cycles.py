#!/usr/bin/env python3
"""Fails when modules of src/ import each other in a circle.

Reads every `crate::…`, `super::…` and `self::…` path outside test modules,
resolves it to the module it names, and looks for cycles between modules
at each depth (`http`, then `http::routes`, then `http::routes::login`).
A parent re-exporting its children (`pub use routes::configure`) is not an
import. Usage: scripts/module-cycles.py (from the repository root).
"""

import os
import re
import sys


def module_of(path):
    name = path[len("src/") : -len(".rs")]
    if name.endswith("/mod"):
        name = name[: -len("/mod")]
    return tuple(name.split("/"))


def modules():
    found = {}
    for root, _, files in os.walk("src"):
        for file in files:
            if file.endswith(".rs") and file not in ("main.rs", "lib.rs"):
                path = os.path.join(root, file)
                found[module_of(path)] = path
    return found


def imports(found):
    """(importer, imported) module pairs."""
    pairs = set()
    for module, path in found.items():
        with open(path) as source:
            text = source.read().split("#[cfg(test)]")[0]
        for used in re.findall(r"\b(?:crate|super|self)(?:::\w+)+", text):
            parts = used.split("::")
            if parts[0] == "crate":
                target = parts[1:]
            else:
                target, rest = list(module), parts
                while rest and rest[0] in ("super", "self"):
                    if rest[0] == "super":
                        target.pop()
                    rest = rest[1:]
                target += rest
            for length in range(len(target), 0, -1):
                if tuple(target[:length]) in found:
                    pairs.add((module, tuple(target[:length])))
                    break
    return pairs


def cycles(pairs, depth):
    graph = {}
    for importer, imported in pairs:
        a, b = importer[:depth], imported[:depth]
        # The same module, or a child using what its parent declares.
        if a[: len(b)] == b or b[: len(a)] == a:
            continue
        graph.setdefault(a, set()).add(b)
    found = []

    def walk(start, node, path):
        for following in graph.get(node, ()):
            if following == start:
                found.append(path)
            elif following not in path and len(path) < 8:
                walk(start, following, path + [following])

    for start in graph:
        walk(start, start, [start])
    return found


def main():
    pairs = imports(modules())
    reported = set()
    for depth in range(1, 5):
        for cycle in cycles(pairs, depth):
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                names = ["::".join(module) for module in cycle + [cycle[0]]]
                print("import cycle: " + " -> ".join(names), file=sys.stderr)
    if reported:
        sys.exit(1)
    print(f"no import cycles between the {len(modules())} modules of src/")


if __name__ == "__main__":
    main()
