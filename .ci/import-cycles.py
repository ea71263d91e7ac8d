#!/usr/bin/env python3
"""Fails when the modules of a crate in the workspace import each other in a cycle.

Reads every `.rs` file of each library crate (test modules and `tests.rs` files left out), takes
the paths of its `use crate::…`, `use super::…`, `use self::…` and `use <child module>::…`
lines and of inline `crate::…` / `super::…` paths, maps each to the file that defines the module,
and looks for strongly connected components in that graph. A module that re-exports or calls
into one of its own children is an edge like any other: a child that needs its parent back is a
cycle. Prints each cycle's files and exits 1 if there is one.
"""
import os
import re
import sys

CRATES = ["src", "projections/src", "nats/src"]

USE_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]*);", re.S | re.M)
INLINE_RE = re.compile(r"\b((?:crate|super|self)(?:::\w+)+)")


def module_of(root, path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    tree = re.sub(r"\s+", "", tree)
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner, rest = tree[:start], tree[start + 1 : i], tree[i + 1 :]
                parts, d, cur = [], 0, ""
                for c in inner:
                    if c == "," and d == 0:
                        parts.append(cur)
                        cur = ""
                        continue
                    d += c == "{"
                    d -= c == "}"
                    cur += c
                parts.append(cur)
                out = []
                for p in parts:
                    if p:
                        out.extend(expand(prefix + p + rest))
                return out
    return [tree.split(" as ")[0]]


def strip_comments_and_tests(text):
    lines = []
    for line in text.splitlines():
        if line.strip() == "#[cfg(test)]":
            break
        code = line.split("//", 1)[0] if '"' not in line else line
        if line.lstrip().startswith("//"):
            continue
        lines.append(code)
    return "\n".join(lines)


def crate_graph(root):
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.relpath(dirpath, root).split(os.sep)[0] == "bin":
            continue
        for name in filenames:
            if not name.endswith(".rs") or name == "tests.rs" or name.endswith("_tests.rs"):
                continue
            if dirpath == root and name == "main.rs":
                continue
            path = os.path.join(dirpath, name)
            files[module_of(root, path)] = path
    children = {}
    for mod in files:
        if mod:
            children.setdefault(mod[:-1], set()).add(mod[-1])

    def resolve(current, path):
        parts = [p for p in path.split("::") if p]
        if not parts:
            return None
        if parts[0] == "crate":
            base, parts = (), parts[1:]
        elif parts[0] in ("super", "self"):
            base = current
            while parts and parts[0] in ("super", "self"):
                if parts[0] == "super":
                    base = base[:-1]
                parts = parts[1:]
        elif parts[0] in children.get(current, ()):
            base = current
        else:
            return None
        best = base if base in files else None
        mod = base
        for p in parts:
            mod = mod + (p,)
            if mod in files:
                best = mod
            else:
                break
        return best

    edges = {m: set() for m in files}
    for mod, path in files.items():
        with open(path, encoding="utf-8") as f:
            text = strip_comments_and_tests(f.read())
        paths = []
        for m in USE_RE.finditer(text):
            paths.extend(expand(m.group(1)))
        paths.extend(m.group(1) for m in INLINE_RE.finditer(text))
        for child in children.get(mod, ()):
            paths.extend(m.group(0) for m in re.finditer(rf"(?<![\w:]){child}::\w+", text))
        for p in paths:
            target = resolve(mod, p)
            if target is not None and target != mod:
                edges[mod].add(target)
    return files, edges


def cycles(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    failed = False
    for crate in CRATES:
        root = os.path.join(top, crate)
        files, edges = crate_graph(root)
        found = cycles(edges)
        count = sum(len(e) for e in edges.values())
        if not found:
            print(f"{crate}: {len(files)} files, {count} imports, no cycle")
        for comp in found:
            failed = True
            names = [os.path.relpath(files[m], top) for m in comp]
            print(f"{crate}: import cycle of {len(comp)} files:")
            for m in comp:
                into = sorted(os.path.relpath(files[t], top) for t in edges[m] if t in comp)
                print(f"  {os.path.relpath(files[m], top)} -> {', '.join(into)}")
            del names
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
