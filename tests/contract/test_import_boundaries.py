"""The house rule on imports: a service imports only `contracts`, `services.common`, the shared
pure `rules` and its own folder; `rules` imports only `contracts` and itself (no I/O packages)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from contracts.topics import SERVICES

REPO = Path(__file__).resolve().parents[2]
RULES_MAY_IMPORT = {"contracts", "rules", "pydantic"}


def imported(folder: Path) -> set[tuple[str, str]]:
    """(file, module) for every absolute import of every module below `folder`."""
    out = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                out |= {(path.name, a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.add((path.name, node.module))
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    own = f"services.{service.replace('-', '_')}"
    folder = REPO / own.replace(".", "/")

    across = sorted((f, m) for f, m in imported(folder)
                    if m.startswith("services.") and m.split(".")[:2] != own.split(".")
                    and not m.startswith("services.common"))

    assert across == []


def test_the_shared_rules_import_only_contracts_and_the_standard_library() -> None:
    found = {m.split(".")[0] for _, m in imported(REPO / "rules")}

    assert found - sys.stdlib_module_names - RULES_MAY_IMPORT == set()
    assert "contracts" in found and "rules" in found  # the walk saw the modules
