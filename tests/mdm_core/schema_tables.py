"""What the tests of the tables generated from Apple's schemas share: where the schemas are, and the
checks that a shipped table is exactly what its generator derives and is stored indented and sorted."""
from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / ".." / "shared" / "apple-device-management"
needs_schemas = pytest.mark.skipif(not (SCHEMA_DIR / "SOURCE_COMMIT").is_file(), reason="../shared schemas absent")


def shipped(data_file: str) -> str:
    return resources.files("mdm_core").joinpath("data", data_file).read_text(encoding="utf-8")


def assert_generated(tool: str, data_file: str) -> None:
    """``mdm_core/data/<data_file>`` is what ``tools/<tool>.py`` writes from ``SCHEMA_DIR``."""
    spec = importlib.util.spec_from_file_location(tool, REPO_ROOT / "tools" / f"{tool}.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.render(generator.generate(SCHEMA_DIR)) == shipped(data_file), \
        f"stale tables: run python tools/{tool}.py"


def assert_indented_and_sorted(data_file: str) -> None:
    text = shipped(data_file)
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
