#!/usr/bin/env python3
"""Independent ground truth for "which advisories does this update fix on this server?".

The Rust matcher in core/ answers that question for the portal. This script answers
it a second time, independently of the Rust code, from the same real advisory files
(core/tests/fixtures/advisories/, see PROVENANCE.md there) and with the package
managers' own version comparison:

* rpm: ``rpm.labelCompare`` from python3-rpm (Debian/Ubuntu package ``python3-rpm``);
* deb: ``dpkg --compare-versions`` run as a subprocess.

Cases file
----------
A JSON file holding either a list of cases or an object with a ``"cases"`` list.
Each case::

    {"name": "...",
     "release": "almalinux:9" | "ubuntu:22.04" | "debian:12" | "rocky:9" | "rhel:9",
     "format": "rpm" | "deb",
     "package": "<binary package name>",
     "source": "<source package name>" | null,
     "installed": "<binary version>",
     "installed_source": "<source version>" | null,
     "target": "<binary version offered by the update>",
     "target_source": "<source version>" | null,
     "origin": "<apt origin or dnf repository the update comes from>",
     "fixtures": ["<path relative to the fixtures directory>", ...],
     "expect": ["<advisory id>", ...],
     "why": "<the expected answer in words>"}

Rule
----
An advisory record counts for a case when it is not withdrawn and at least one of
its ``affected[]`` entries satisfies all of:

1. Ecosystem belongs to the server's release:
   ``almalinux:N`` -> ``AlmaLinux:N``; ``rocky:N`` -> ``Rocky Linux:N``;
   ``rhel:N`` -> ``Red Hat:enterprise_linux:N`` or ``Red Hat:enterprise_linux:N::<anything>``;
   ``debian:N`` -> ``Debian:N``;
   ``ubuntu:X.Y`` -> ``Ubuntu:X.Y:LTS`` or ``Ubuntu:X.Y``, plus ``Ubuntu:Pro:X.Y:LTS`` only
   when the case's origin is an Ubuntu Pro/ESM apt origin (``UbuntuESM``,
   ``UbuntuESMApps``); the FIPS streams ``Ubuntu:Pro:FIPS:X.Y:LTS``,
   ``Ubuntu:Pro:FIPS-updates:X.Y:LTS`` and ``Ubuntu:Pro:FIPS-preview:X.Y:LTS`` count only
   for the matching origins ``UbuntuFIPS``, ``UbuntuFIPSUpdates``, ``UbuntuFIPSPreview``.
2. Package name: deb -> the source name (``source``, or ``package`` when ``source`` is
   null), because Debian and Ubuntu name source packages; rpm -> the binary name.
3. The "from" version (deb: ``installed_source`` if given else ``installed``; rpm:
   ``installed``) is affected per the OSV evaluation: inside an ``ECOSYSTEM`` range
   (events ``introduced``/``fixed``/``last_affected``/``limit``, ``"introduced": "0"``
   meaning minus infinity) or listed in ``versions``.
4. Among the ranges that contain "from", the lowest ``fixed`` event above "from" exists,
   and the "to" version (deb: ``target_source`` if given else ``target``; rpm:
   ``target``) is at or past it.
5. "to" itself is not affected by the entry (not inside any range, not listed in
   ``versions``).

Files that are not OSV records (e.g. the KEV catalog) contribute nothing.

Usage
-----
::

    scripts/ground_truth.py core/tests/fixtures/ground_truth.json           # print results
    scripts/ground_truth.py --check core/tests/fixtures/ground_truth.json   # exit 1 on mismatch
    scripts/ground_truth.py --write core/tests/fixtures/ground_truth.json   # fill "expect"

The fixtures directory defaults to ``advisories/`` next to the cases file
(``--fixtures DIR`` overrides it).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

try:  # python3-rpm is installed for the system interpreter, not for pyenv/venv ones.
    import rpm  # type: ignore
except ImportError:  # pragma: no cover - depends on the machine
    rpm = None

_REEXEC_FLAG = "GROUND_TRUTH_REEXEC"
_SYSTEM_PYTHON = "/usr/bin/python3"

UBUNTU_PRO_ORIGINS = {"UbuntuESM", "UbuntuESMApps"}
UBUNTU_FIPS_ORIGINS = {
    "UbuntuFIPS": "FIPS",
    "UbuntuFIPSUpdates": "FIPS-updates",
    "UbuntuFIPSPreview": "FIPS-preview",
}


class CaseError(ValueError):
    """A case that cannot be evaluated (unknown release, bad format, missing file)."""


# --------------------------------------------------------------------------- versions


def _ensure_rpm() -> None:
    """Make rpm.labelCompare available, re-running under the system Python if needed."""
    if rpm is not None:
        return
    system = Path(_SYSTEM_PYTHON)
    if (
        not os.environ.get(_REEXEC_FLAG)
        and system.exists()
        and Path(sys.executable).resolve() != system.resolve()
    ):
        os.environ[_REEXEC_FLAG] = "1"
        os.execv(str(system), [str(system), os.path.abspath(__file__), *sys.argv[1:]])
    raise SystemExit(
        "ground_truth.py: the rpm Python module is missing; install python3-rpm "
        "(apt-get install python3-rpm) and run with the system python3"
    )


def _split_evr(version: str) -> tuple[str, str, str]:
    """Split an rpm EVR string; a missing epoch is epoch 0."""
    epoch, sep, rest = version.partition(":")
    if not sep:
        epoch, rest = "0", version
    ver, sep, rel = rest.rpartition("-")
    if not sep:
        ver, rel = rest, ""
    return (epoch or "0", ver, rel)


@functools.lru_cache(maxsize=None)
def rpm_compare(a: str, b: str) -> int:
    """rpm's own ordering of two EVR strings: -1, 0 or 1."""
    _ensure_rpm()
    return int(rpm.labelCompare(_split_evr(a), _split_evr(b)))


@functools.lru_cache(maxsize=None)
def deb_compare(a: str, b: str) -> int:
    """dpkg's own ordering of two Debian versions: -1, 0 or 1."""
    if a == b:
        return 0
    for op, result in (("lt", -1), ("gt", 1)):
        proc = subprocess.run(
            ["dpkg", "--compare-versions", a, op, b],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            return result
        if proc.returncode != 1 or proc.stderr.strip():
            raise CaseError(f"dpkg cannot compare {a!r} and {b!r}: {proc.stderr.strip()}")
    return 0


Compare = Callable[[str, str], int]

# ---------------------------------------------------------------------- ecosystems


def ecosystem_matcher(release: str, origin: str) -> Callable[[str], bool]:
    """Return a predicate telling whether an OSV ecosystem belongs to the release."""
    distro, _, version = release.partition(":")
    if not version:
        raise CaseError(f"release {release!r} has no version")
    if distro == "almalinux":
        wanted = {f"AlmaLinux:{version}"}
        return wanted.__contains__
    if distro == "rocky":
        wanted = {f"Rocky Linux:{version}"}
        return wanted.__contains__
    if distro == "rhel":
        base = f"Red Hat:enterprise_linux:{version}"
        return lambda eco: eco == base or eco.startswith(base + "::")
    if distro == "debian":
        wanted = {f"Debian:{version}"}
        return wanted.__contains__
    if distro == "ubuntu":
        wanted = {f"Ubuntu:{version}:LTS", f"Ubuntu:{version}"}
        if origin in UBUNTU_PRO_ORIGINS:
            wanted.add(f"Ubuntu:Pro:{version}:LTS")
        if origin in UBUNTU_FIPS_ORIGINS:
            wanted.add(f"Ubuntu:Pro:{UBUNTU_FIPS_ORIGINS[origin]}:{version}:LTS")
        return wanted.__contains__
    raise CaseError(f"unknown release {release!r}")


# ------------------------------------------------------------------- OSV evaluation


def _sorted_events(events: list[dict[str, str]], cmp: Compare) -> list[tuple[str, Optional[str]]]:
    """Events as (kind, version) sorted by version; introduced "0" sorts first."""
    flat: list[tuple[str, Optional[str]]] = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected", "limit"):
            if kind in event:
                value = event[kind]
                flat.append((kind, None if kind == "introduced" and value == "0" else value))

    def key(a: tuple[str, Optional[str]], b: tuple[str, Optional[str]]) -> int:
        if a[1] is None or b[1] is None:
            return (a[1] is not None) - (b[1] is not None)
        return cmp(a[1], b[1])

    return sorted(flat, key=functools.cmp_to_key(key))


def range_contains(events: list[dict[str, str]], version: str, cmp: Compare) -> bool:
    """OSV evaluation of one ECOSYSTEM range for one version."""
    ordered = _sorted_events(events, cmp)
    limits = [v for kind, v in ordered if kind == "limit" and v is not None]
    if limits and not any(cmp(version, limit) < 0 for limit in limits):
        return False
    affected = False
    for kind, value in ordered:
        if kind == "introduced":
            if value is None or cmp(version, value) >= 0:
                affected = True
        elif kind == "fixed":
            if value is not None and cmp(version, value) >= 0:
                affected = False
        elif kind == "last_affected":
            if value is not None and cmp(version, value) > 0:
                affected = False
    return affected


def _ecosystem_ranges(entry: dict[str, Any]) -> Iterable[list[dict[str, str]]]:
    for rng in entry.get("ranges") or []:
        if rng.get("type") == "ECOSYSTEM":
            yield rng.get("events") or []


def entry_affects(entry: dict[str, Any], version: str, cmp: Compare) -> bool:
    if version in (entry.get("versions") or []):
        return True
    return any(range_contains(events, version, cmp) for events in _ecosystem_ranges(entry))


def entry_fixed_by_update(entry: dict[str, Any], frm: str, to: str, cmp: Compare) -> bool:
    """Rule steps 3-5 for one affected[] entry."""
    if not entry_affects(entry, frm, cmp):
        return False
    fixes = [
        e["fixed"]
        for events in _ecosystem_ranges(entry)
        if range_contains(events, frm, cmp)
        for e in events
        if "fixed" in e and cmp(e["fixed"], frm) > 0
    ]
    if not fixes:
        return False
    lowest = min(fixes, key=functools.cmp_to_key(cmp))
    return cmp(to, lowest) >= 0 and not entry_affects(entry, to, cmp)


# ------------------------------------------------------------------------ the cases


def load_records(path: Path) -> list[dict[str, Any]]:
    """OSV records in a fixture file; anything else (e.g. the KEV catalog) yields none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CaseError(f"fixture {path} does not exist") from exc
    items = data if isinstance(data, list) else [data]
    return [r for r in items if isinstance(r, dict) and "id" in r and "affected" in r]


def evaluate(case: dict[str, Any], fixtures_dir: Path) -> list[str]:
    """Advisory ids whose records the case's update fixes, sorted."""
    fmt = case.get("format")
    if fmt == "rpm":
        cmp: Compare = rpm_compare
        # The Red Hat family names binary RPMs, sometimes source RPMs.
        names = {case["package"], case.get("source") or case["package"]}
        frm, to = case["installed"], case["target"]
    elif fmt == "deb":
        cmp = deb_compare
        names = {case.get("source") or case["package"]}
        frm = case.get("installed_source") or case["installed"]
        to = case.get("target_source") or case["target"]
    else:
        raise CaseError(f"unknown format {fmt!r}")
    in_release = ecosystem_matcher(case["release"], case.get("origin") or "")

    found: set[str] = set()
    for rel in case.get("fixtures") or []:
        for record in load_records(fixtures_dir / rel):
            if record.get("withdrawn"):
                continue
            for entry in record.get("affected") or []:
                package = entry.get("package") or {}
                if package.get("name") not in names or not in_release(package.get("ecosystem", "")):
                    continue
                if entry_fixed_by_update(entry, frm, to, cmp):
                    found.add(record["id"])
                    break
    return sorted(found)


def _load_cases(path: Path) -> tuple[Any, list[dict[str, Any]]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    cases = doc["cases"] if isinstance(doc, dict) else doc
    if not isinstance(cases, list):
        raise SystemExit(f"{path}: expected a list of cases or an object with a 'cases' list")
    return doc, cases


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", type=Path, help="cases file (JSON)")
    parser.add_argument("--fixtures", type=Path, default=None,
                        help="fixtures directory (default: advisories/ next to the cases file)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="exit non-zero if any case's expect differs from the computed answer")
    mode.add_argument("--write", action="store_true", help="fill every case's expect in place")
    args = parser.parse_args(argv)

    doc, cases = _load_cases(args.cases)
    fixtures_dir = args.fixtures or args.cases.resolve().parent / "advisories"
    if any(c.get("format") == "rpm" for c in cases):
        _ensure_rpm()

    mismatches: list[str] = []
    names: set[str] = set()
    for index, case in enumerate(cases):
        label = case.get("name") or f"case #{index}"
        if label in names:
            mismatches.append(f"{label}: duplicate case name")
        names.add(label)
        try:
            got = evaluate(case, fixtures_dir)
        except (CaseError, KeyError) as exc:
            mismatches.append(f"{label}: cannot evaluate: {exc}")
            continue
        if args.write:
            case["expect"] = got
        elif args.check:
            want = sorted(case.get("expect") or [])
            if want != got:
                mismatches.append(f"{label}: expect {want}, computed {got}")
        else:
            print(f"{label}: {got}")

    if args.write and not mismatches:
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        args.cases.write_text(text, encoding="utf-8")
        print(f"wrote expect for {len(cases)} cases to {args.cases}")
    if mismatches:
        print(f"{len(mismatches)} problem(s):", file=sys.stderr)
        for line in mismatches:
            print(f"  {line}", file=sys.stderr)
        return 1
    if args.check:
        print(f"all {len(cases)} cases agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
