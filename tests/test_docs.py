"""The configuration page is generated from Settings; it must match the code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_page_matches_the_settings() -> None:
    generated = subprocess.run([sys.executable, "scripts/config_doc.py"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout
    assert (ROOT / "docs" / "configuration.md").read_text() == generated, (
        "run: python scripts/config_doc.py > docs/configuration.md")
