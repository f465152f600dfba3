"""bandit over the product code: every finding is fixed or justified where it is, on its line, as
``# nosec B<id> - reason``. Run by hand: ``bandit -r accounts chats ehr audit medibot web -q``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

PRODUCT_PACKAGES = ["accounts", "chats", "ehr", "audit", "medibot", "web"]
JUSTIFIED = re.compile(r"#\s*nosec\s+B\d{3}(\s*,\s*B\d{3})*\s+-\s+\S")


def bandit_findings() -> list[str]:
    scan = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", *PRODUCT_PACKAGES, "-q", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if "No module named bandit" in scan.stderr:
        pytest.fail("bandit is not installed: it is pinned in requirements/dev.in")
    report = json.loads(scan.stdout)
    assert not report["errors"], report["errors"]
    return [
        f"{result['filename']}:{result['line_number']} {result['test_id']} {result['issue_text']}"
        for result in report["results"]
    ]


def test_bandit_finds_nothing_unjustified() -> None:
    assert bandit_findings() == []


def test_every_nosec_names_its_check_and_a_reason() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in PRODUCT_PACKAGES
        for path in sorted(Path(ROOT, package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "nosec" in line and not JUSTIFIED.search(line)
    ]
    assert bare == [], "write '# nosec B<id> - reason' (a bare nosec silences every check on the line)"
