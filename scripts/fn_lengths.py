#!/usr/bin/env python3
"""Lists Rust functions longer than a limit (default 80 lines), outside
tests: `#[cfg(test)]` modules, `tests/` directories and `#[test]` functions
are skipped. Functions whose body is mostly view markup (`view! {`) are
marked, since the limit does not apply to them.

    scripts/fn_lengths.py [--limit 80] [DIR ...]
"""
import argparse
import pathlib
import re

FN = re.compile(r'^\s*(pub(\([^)]*\))?\s+)?(async\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)')


def functions(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    skip_depth = None
    depth = 0
    pending_test = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("#[cfg(test)]") or stripped.startswith("#[test]") or stripped.startswith("#[tokio::test"):
            pending_test = True
        m = FN.match(line)
        if m and skip_depth is None:
            # Find the opening brace and count to its match.
            start = i
            d = 0
            opened = False
            j = i
            while j < len(lines):
                code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split("//")[0])
                for ch in code:
                    if ch == "{":
                        d += 1
                        opened = True
                    elif ch == "}":
                        d -= 1
                if opened and d == 0:
                    break
                if not opened and code.rstrip().endswith(";"):
                    break
                j += 1
            body = "\n".join(lines[start:j + 1])
            if opened and not pending_test:
                yield m.group(6), start + 1, j - start + 1, "view!" in body
            pending_test = False
            i = j + 1
            continue
        if pending_test and stripped.startswith("mod "):
            # Skip the whole test module.
            d = 0
            j = i
            while j < len(lines):
                for ch in lines[j]:
                    if ch == "{":
                        d += 1
                    elif ch == "}":
                        d -= 1
                if d == 0 and "{" in "".join(lines[i:j + 1]):
                    break
                j += 1
            pending_test = False
            i = j + 1
            continue
        if stripped and not stripped.startswith("#") and not stripped.startswith("//"):
            pending_test = False if not m else pending_test
        i += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("dirs", nargs="*", default=["core/src", "db/src", "app/src", "server/src", "agent/src"])
    args = ap.parse_args()
    rows = []
    for d in args.dirs:
        for path in sorted(pathlib.Path(d).rglob("*.rs")):
            for name, line, length, view in functions(path):
                if length > args.limit:
                    rows.append((length, f"{path}:{line}", name, view))
    for length, where, name, view in sorted(rows, reverse=True):
        print(f"{length:5}  {where}  {name}{'  (view markup)' if view else ''}")
    print(f"{len(rows)} functions over {args.limit} lines "
          f"({sum(1 for r in rows if not r[3])} without view markup)")


if __name__ == "__main__":
    main()
