"""The hash-locked requirements agree with the hand-edited ``requirements/*.in`` (scripts/lock.sh)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
LOCKS = ["local", "prod", "dev"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_of_input(path: Path) -> dict[str, str]:
    """``name==version`` of a .in file and of the files it includes with ``-r``."""
    pins: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(pins_of_input(path.parent / line[3:].strip()))
        elif match := PIN.match(line):
            pins[normalized(match[1])] = match[2]
    return pins


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a lock file."""
    found: dict[str, tuple[str, int]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = normalized(match[1])
            found[current] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


@pytest.mark.parametrize("name", LOCKS)
def test_every_pin_of_the_input_is_locked_at_the_same_version(name: str) -> None:
    wanted = pins_of_input(REQUIREMENTS / f"{name}.in")
    lock = locked(REQUIREMENTS / f"{name}.lock")
    disagree = {
        package: (version, lock.get(package, ("missing", 0))[0])
        for package, version in wanted.items()
        if lock.get(package, ("missing", 0))[0] != version
    }
    assert not disagree, f"requirements/{name}.in and {name}.lock disagree; run scripts/lock.sh: {disagree}"


@pytest.mark.parametrize("name", LOCKS)
def test_every_locked_package_carries_hashes(name: str) -> None:
    lock = locked(REQUIREMENTS / f"{name}.lock")
    assert lock
    unhashed = sorted(package for package, (_version, hashes) in lock.items() if hashes == 0)
    assert not unhashed, f"requirements/{name}.lock has packages without hashes: {unhashed}"


def test_the_production_lock_has_no_development_server() -> None:
    assert "secantusdb" not in locked(REQUIREMENTS / "prod.lock")
    assert "secantusdb" in locked(REQUIREMENTS / "local.lock")
