"""The Zendesk app package: the committed app is valid, each rule catches a broken copy, and
the built zip is what Zendesk expects (manifest at the root, only the backend URL changed)."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugin_backend.zendesk_package import (
    PLACEHOLDER_BACKEND,
    PackageError,
    build_package,
    png_size,
    render_logo_png,
    validate_package,
)

APP = Path(__file__).resolve().parents[1] / "zendesk_app"
BACKEND = "https://clonedesk.acme.test"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A fresh copy of the committed app to break."""
    return Path(shutil.copytree(APP, tmp_path / "app"))


def _edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _sidebar(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["location"]["support"]["ticket_sidebar"]


def test_committed_app_is_valid() -> None:
    assert validate_package(APP) == []


def test_committed_logos_have_the_exact_sizes() -> None:
    assert png_size(APP / "assets" / "logo.png") == (320, 320)
    assert png_size(APP / "assets" / "logo-small.png") == (128, 128)


def test_committed_manifest_is_a_signed_server_hosted_sidebar() -> None:
    manifest = json.loads((APP / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["frameworkVersion"] == "2.0"
    assert manifest["signedUrls"] is True
    assert _sidebar(manifest) == {"url": f"{PLACEHOLDER_BACKEND}/zendesk/sidebar",
                                  "flexible": True}
    assert [p for p in manifest["parameters"] if p["secure"]], "no secure parameter"


BREAKS: list[tuple[str, Callable[[Path], object], str]] = [
    ("missing key",
     lambda a: _edit_json(a / "manifest.json", lambda m: m.pop("version")),
     "missing key 'version'"),
    ("missing author email",
     lambda a: _edit_json(a / "manifest.json", lambda m: m["author"].pop("email")),
     "author.email is required"),
    ("http sidebar URL",
     lambda a: _edit_json(a / "manifest.json", lambda m: _sidebar(m).update(
         url="http://clonedesk.example.com/zendesk/sidebar")),
     "must be an https URL"),
    ("framework version 1",
     lambda a: _edit_json(a / "manifest.json", lambda m: m.update(frameworkVersion="1.0")),
     "frameworkVersion must be \"2.0\""),
    ("signedUrls false",
     lambda a: _edit_json(a / "manifest.json", lambda m: m.update(signedUrls=False)),
     "signedUrls must be true"),
    ("no secure parameter",
     lambda a: _edit_json(a / "manifest.json", lambda m: m["parameters"][0].update(
         secure=False)),
     "must be secure"),
    ("invalid parameter type",
     lambda a: _edit_json(a / "manifest.json", lambda m: m["parameters"][0].update(
         type="secret")),
     "invalid type 'secret'"),
    ("backend host not whitelisted",
     lambda a: _edit_json(a / "manifest.json", lambda m: m.update(domainWhitelist=[])),
     "domainWhitelist lacks the backend host"),
    ("wrong logo size",
     lambda a: (a / "assets" / "logo.png").write_bytes(render_logo_png(128)),
     "logo.png is 128x128 pixels (must be 320x320)"),
    ("logo not a PNG",
     lambda a: (a / "assets" / "logo-small.png").write_bytes(b"GIF89a not a png"),
     "logo-small.png: logo-small.png is not a PNG file"),
    ("long name",
     lambda a: _edit_json(a / "translations" / "en.json", lambda t: t["app"].update(
         name="CloneDesk reply suggestions for every single agent")),
     "app.name is 50 characters (at most 40)"),
    ("missing short description",
     lambda a: _edit_json(a / "translations" / "en.json", lambda t: t["app"].pop(
         "short_description")),
     "app.short_description is required"),
    ("missing parameter label",
     lambda a: _edit_json(a / "translations" / "en.json", lambda t: t["app"].pop(
         "parameters")),
     "app.parameters.api_key.label is required"),
    ("missing default locale file",
     lambda a: (a / "translations" / "en.json").rename(a / "translations" / "fr.json"),
     "translations/en.json (the defaultLocale) is missing"),
    ("extra top-level file",
     lambda a: (a / "app.js").write_text("// legacy v1 code\n", encoding="utf-8"),
     "unexpected top-level entry 'app.js'"),
    ("hidden file",
     lambda a: (a / "assets" / ".DS_Store").write_bytes(b"\0"),
     "hidden file assets/.DS_Store"),
    ("oversized file",
     lambda a: (a / "assets" / "big.bin").write_bytes(b"\0" * (2 << 20)),
     "assets/big.bin is 2097152 bytes"),
    ("iframe page without the config",
     lambda a: (a / "assets" / "iframe.html").write_text(
         "<html>{{ zaf_sdk_url }} {{ asset_base }}</html>", encoding="utf-8"),
     "does not use the variable 'config_json'"),
    ("manifest not JSON",
     lambda a: (a / "manifest.json").write_text("{not json", encoding="utf-8"),
     "manifest.json is not valid JSON"),
]


@pytest.mark.parametrize(("name", "breaker", "expected"), BREAKS, ids=[b[0] for b in BREAKS])
def test_each_rule_catches_a_broken_copy(app: Path, name: str, breaker: Callable[[Path], object],
                                         expected: str) -> None:
    breaker(app)
    problems = validate_package(app)
    assert any(expected in p for p in problems), problems


def test_readme_and_requirements_are_allowed(app: Path) -> None:
    (app / "README.md").write_text("# CloneDesk\n", encoding="utf-8")
    (app / "requirements.json").write_text("{}", encoding="utf-8")
    assert validate_package(app) == []


def test_build_puts_the_manifest_at_the_root_with_the_backend_url(tmp_path: Path) -> None:
    out = build_package(APP, tmp_path / "app.zip", BACKEND + "/")
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        contents = {n: archive.read(n) for n in names}
    assert names == sorted(names)
    assert "manifest.json" in names and not any(n.endswith("/") for n in names)
    assert _sidebar(manifest)["url"] == f"{BACKEND}/zendesk/sidebar"
    assert manifest["domainWhitelist"] == ["clonedesk.acme.test"]
    original = json.loads((APP / "manifest.json").read_text(encoding="utf-8"))
    for key in ("location", "domainWhitelist"):
        original.pop(key), manifest.pop(key)
    assert manifest == original, "only the sidebar URL and the whitelist may change"
    expected = {p.relative_to(APP).as_posix(): p.read_bytes()
                for p in APP.rglob("*") if p.is_file()}
    assert set(contents) == set(expected)
    for name, data in contents.items():
        if name != "manifest.json":
            assert data == expected[name], f"{name} changed in the zip"


def test_build_keeps_a_path_prefix(tmp_path: Path) -> None:
    out = build_package(APP, tmp_path / "app.zip", "https://acme.test:8443/clonedesk")
    with zipfile.ZipFile(out) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert _sidebar(manifest)["url"] == "https://acme.test:8443/clonedesk/zendesk/sidebar"
    assert manifest["domainWhitelist"] == ["acme.test"]


def test_build_is_deterministic(tmp_path: Path) -> None:
    first = build_package(APP, tmp_path / "one.zip", BACKEND)
    second = build_package(APP, tmp_path / "two.zip", BACKEND)
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("url", ["http://clonedesk.acme.test", "clonedesk.acme.test",
                                 "https://", "https://acme.test/?x=1",
                                 "https://user:pw@acme.test"])
def test_build_refuses_a_bad_backend_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(PackageError):
        build_package(APP, tmp_path / "app.zip", url)
    assert not (tmp_path / "app.zip").exists()


def test_build_refuses_an_invalid_app(app: Path, tmp_path: Path) -> None:
    _edit_json(app / "manifest.json", lambda m: m.update(signedUrls=False))
    with pytest.raises(PackageError) as info:
        build_package(app, tmp_path / "app.zip", BACKEND)
    assert any("signedUrls" in p for p in info.value.problems)
    assert not (tmp_path / "app.zip").exists()


def test_rendered_logo_is_a_valid_png(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    path.write_bytes(render_logo_png(16))
    assert png_size(path) == (16, 16)
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def _render_iframe(config_json: Any) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    template = env.from_string((APP / "assets" / "iframe.html").read_text(encoding="utf-8"))
    return template.render(zaf_sdk_url="/sdk/zaf_sdk.js?v=1&x=2", config_json=config_json,
                           asset_base="/zendesk/assets")


@pytest.mark.parametrize("as_string", [False, True], ids=["dict", "json-string"])
def test_iframe_template_embeds_the_config_safely(as_string: bool) -> None:
    config = {"api": "/zendesk/api", "session": "a</script><script>alert(1)</script>&'\""}
    html = _render_iframe(json.dumps(config) if as_string else config)
    block = re.search(r'<script type="application/json" id="clonedesk-config">(.*?)</script>',
                      html, re.DOTALL)
    assert block is not None
    assert "</script" not in block.group(1)
    assert json.loads(block.group(1)) == config
    assert '<script src="/sdk/zaf_sdk.js?v=1&amp;x=2" defer></script>' in html
    assert '<script src="/zendesk/assets/sidebar.js" defer></script>' in html
    assert 'href="/zendesk/assets/sidebar.css"' in html


def test_sidebar_page_runs_under_a_strict_csp() -> None:
    html = _render_iframe({"api": "/a", "session": "s"})
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL)
    for attrs, body in scripts:
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs
        assert "src=" not in attrs or not body.strip()
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=", html), "inline style attribute"
    code = (APP / "assets" / "sidebar.js").read_text(encoding="utf-8")
    for banned in ("eval(", "new Function", "innerHTML", "document.write"):
        assert banned not in code, banned
