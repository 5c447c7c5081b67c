"""What ships speaks to users: no docstring, comment or message cites a document they do not have."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("modeling", "signclip_hf", "hub_cards", "examples")
TEXT_SUFFIXES = {".py", ".j2", ".yaml", ".yml", ".md", ".txt", ".html", ".js", ".json"}


def test_no_internal_spec_references_in_shipped_files():
    offenders = []
    for folder in SHIPPED:
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
                for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                    if re.search(r"\bSPEC\b", line):
                        offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "\n".join(offenders)
