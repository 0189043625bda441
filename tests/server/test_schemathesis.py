"""schemathesis against the service's own OpenAPI document (reliability S-3 / L-6): zero failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import deploy_copy, live_server
from tests.trained_models import TrainedTemplate

pytestmark = pytest.mark.slow

# negative_data_rejection expects 400/401/403/404/405/406/409/415/422/428/429 by default; this
# service answers a batch over its row limit with 413, as documented in its OpenAPI responses.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""


def test_schemathesis_finds_no_failures(trained_template: TrainedTemplate, tmp_path: Path) -> None:
    paths, _gov, _session = deploy_copy(trained_template, tmp_path)
    key = "a-key-for-the-schemathesis-run"
    key_file = tmp_path / "key"
    key_file.write_text(key, "utf-8")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG, "utf-8")
    cli = Path(sys.executable).with_name("schemathesis")
    with live_server(paths, api_key_file=key_file, preload=True) as url:
        result = subprocess.run(
            [str(cli), "--config-file", str(config), "run", f"{url}/openapi.json", "--checks", "all",
             "--max-examples", "100", "--seed", "20240917", "--workers", "1", "--no-color",
             "-H", f"X-API-Key: {key}", "--report-dir", str(tmp_path / "report")],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,
        )
    tail = result.stdout[-4000:]
    assert result.returncode == 0, tail
    assert "No issues found" in tail
    assert "7/7" in tail  # every operation was tested: 4 GETs, one POST per dataset, the seed POST
