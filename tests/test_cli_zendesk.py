"""`clonedesk zendesk package|validate`: exit codes and messages."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugin_backend import cli_zendesk
from plugin_backend.cli_zendesk import zendesk

APP = Path(__file__).resolve().parents[1] / "zendesk_app"


def test_validate_the_committed_app() -> None:
    result = CliRunner().invoke(zendesk, ["validate"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_reports_problems_and_exits_1(tmp_path: Path) -> None:
    app = Path(shutil.copytree(APP, tmp_path / "app"))
    (app / "notes.txt").write_text("x", encoding="utf-8")
    manifest = json.loads((app / "manifest.json").read_text(encoding="utf-8"))
    manifest["signedUrls"] = False
    (app / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = CliRunner().invoke(zendesk, ["validate", str(app)])
    assert result.exit_code == 1
    assert "unexpected top-level entry 'notes.txt'" in result.output
    assert "signedUrls must be true" in result.output
    assert "2 problem(s)" in result.output


def test_validate_a_missing_folder_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(zendesk, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "is not a folder" in result.output


def test_package_writes_the_zip(tmp_path: Path) -> None:
    out = tmp_path / "out" / "app.zip"
    result = CliRunner().invoke(zendesk, ["package", "--backend-url",
                                          "https://clonedesk.acme.test", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert "https://clonedesk.acme.test/zendesk/sidebar" in result.output
    assert "apps:create" in result.output
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["location"]["support"]["ticket_sidebar"]["url"] == \
        "https://clonedesk.acme.test/zendesk/sidebar"


def test_package_default_output_is_under_dist(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(zendesk, ["package", "--backend-url", "https://acme.test"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / cli_zendesk.DEFAULT_OUTPUT).is_file()


def test_package_refuses_http_with_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "app.zip"
    result = CliRunner().invoke(zendesk, ["package", "--backend-url",
                                          "http://clonedesk.acme.test", "--output", str(out)])
    assert result.exit_code == 2
    assert "must be an https URL" in result.output
    assert not out.exists()


def test_package_requires_the_backend_url() -> None:
    result = CliRunner().invoke(zendesk, ["package"])
    assert result.exit_code == 2
    assert "--backend-url" in result.output


def test_package_an_invalid_app_exits_1(tmp_path: Path) -> None:
    app = Path(shutil.copytree(APP, tmp_path / "app"))
    (app / "assets" / "logo.png").unlink()
    out = tmp_path / "app.zip"
    result = CliRunner().invoke(zendesk, ["package", "--backend-url", "https://acme.test",
                                          "--output", str(out), "--app-dir", str(app)])
    assert result.exit_code == 1
    assert "assets/logo.png is missing" in result.output
    assert "not packaged" in result.output
    assert not out.exists()
