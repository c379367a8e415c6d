"""The Zendesk (ZAF v2) app package: check it against Zendesk's documented rules and zip it.

``zcli apps:validate`` and ``zcli apps:package`` call the Zendesk API and fail without account
credentials, so the rules they (and Zendesk's ``zendesk_apps_support`` validator) apply are
checked here, plus a few of our own (marked *ours*). ``build_package`` writes the zip Zendesk
expects — ``manifest.json`` at the root — with the sidebar URL pointed at a given backend.
Standard library only: no Flask, no torch.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PLACEHOLDER_BACKEND = "https://clonedesk.example.com"
SIDEBAR_PATH = "/zendesk/sidebar"
#: the parameter types ZAF accepts (zendesk_apps_support Manifest::Parameter::TYPES)
PARAMETER_TYPES = ("text", "password", "checkbox", "url", "number", "multiline", "hidden")
REQUIRED_KEYS = ("name", "author", "defaultLocale", "location", "version", "frameworkVersion")
ALLOWED_TOP_LEVEL = {"manifest.json": "file", "translations": "dir", "assets": "dir",
                     "README.md": "file", "requirements.json": "file"}
TRANSLATION_KEYS = ("name", "short_description", "long_description", "installation_instructions")
LOGOS = {"assets/logo.png": 320, "assets/logo-small.png": 128}
#: what the backend renders into assets/iframe.html (see docs/zendesk-app.md)
IFRAME_VARIABLES = ("zaf_sdk_url", "config_json", "asset_base")
MAX_NAME = 40          # Zendesk Marketplace: app name at most 40 characters, spaces included
MAX_SHORT_DESCRIPTION = 80   # ours: one line on the Marketplace card
MAX_FILE_BYTES = 1 << 20     # ours
MAX_PACKAGE_BYTES = 2 << 20  # ours
_LOCALE = re.compile(r"^[a-z]{2}(-\w{2,3})?$")
_SECRET_NAME = re.compile(r"token|key|pwd|password", re.IGNORECASE)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackageError(ValueError):
    """The app folder or the backend URL is not fit to package; ``problems`` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG file's IHDR chunk; ValueError when it is not a PNG."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ValueError(f"{path.name} is not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _package_files(app_dir: Path) -> list[Path]:
    """Every file and symlink under the app folder, sorted by relative path."""
    return sorted((p for p in app_dir.rglob("*") if p.is_file() or p.is_symlink()),
                  key=lambda p: p.relative_to(app_dir).as_posix())


def _check_layout(app_dir: Path) -> list[str]:
    """Top-level entries, hidden files, symlinks and sizes."""
    problems = []
    for entry in sorted(app_dir.iterdir()):
        kind = ALLOWED_TOP_LEVEL.get(entry.name)
        if kind is None:
            problems.append(f"unexpected top-level entry {entry.name!r} (allowed: "
                            f"{', '.join(sorted(ALLOWED_TOP_LEVEL))})")
        elif (kind == "dir") != entry.is_dir():
            problems.append(f"{entry.name} must be a {'folder' if kind == 'dir' else 'file'}")
    total = 0
    for path in _package_files(app_dir):
        rel = path.relative_to(app_dir).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            problems.append(f"hidden file {rel}")
        if path.is_symlink():
            problems.append(f"symlink {rel} (Zendesk rejects symlinks in a package)")
            continue
        size = path.stat().st_size
        total += size
        if size > MAX_FILE_BYTES:
            problems.append(f"{rel} is {size} bytes (at most {MAX_FILE_BYTES})")
    if total > MAX_PACKAGE_BYTES:
        problems.append(f"package is {total} bytes (at most {MAX_PACKAGE_BYTES})")
    return problems


def _is_https(url: Any) -> bool:
    """An absolute https URL with a host."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.hostname)


def _check_manifest(manifest: Any, app_dir: Path) -> list[str]:
    """The manifest rules of zendesk_apps_support, for a server-hosted ticket sidebar app."""
    if not isinstance(manifest, dict):
        return ["manifest.json must hold a JSON object"]
    problems = [f"manifest.json: missing key {key!r}" for key in REQUIRED_KEYS
                if key not in manifest]
    author = manifest.get("author")
    if "author" in manifest:
        if not isinstance(author, dict):
            problems.append("manifest.json: author must be an object")
        else:
            for field in ("name", "email"):
                if not isinstance(author.get(field), str) or not author[field].strip():
                    problems.append(f"manifest.json: author.{field} is required")
            if isinstance(author.get("email"), str) and "@" not in author["email"]:
                problems.append("manifest.json: author.email is not an e-mail address")
            if "url" in author and not _is_https(author["url"]):
                problems.append("manifest.json: author.url must be an https URL")
    for key in ("name", "version", "defaultLocale"):
        if key in manifest and not isinstance(manifest[key], str):
            problems.append(f"manifest.json: {key} must be a string")
    if "frameworkVersion" in manifest and manifest["frameworkVersion"] != "2.0":
        problems.append(f"manifest.json: frameworkVersion must be \"2.0\", "
                        f"not {manifest['frameworkVersion']!r}")
    locale = manifest.get("defaultLocale")
    if isinstance(locale, str):
        if not _LOCALE.match(locale):
            problems.append(f"manifest.json: defaultLocale {locale!r} is not a locale")
        elif not (app_dir / "translations" / f"{locale}.json").is_file():
            problems.append(f"translations/{locale}.json (the defaultLocale) is missing")
    for key in ("signedUrls", "private", "singleInstall"):
        if key in manifest and not isinstance(manifest[key], bool):
            problems.append(f"manifest.json: {key} must be true or false")
    if manifest.get("signedUrls") is not True:
        problems.append("manifest.json: signedUrls must be true (the backend authenticates "
                        "the first load with Zendesk's signed token)")
    problems += _check_location(manifest)
    problems += _check_parameters(manifest.get("parameters"))
    return problems


def _sidebar(manifest: dict[str, Any]) -> Any:
    """location.support.ticket_sidebar, or None."""
    location = manifest.get("location")
    support = location.get("support") if isinstance(location, dict) else None
    return support.get("ticket_sidebar") if isinstance(support, dict) else None


def _sidebar_url(manifest: dict[str, Any]) -> Any:
    """location.support.ticket_sidebar.url, or None."""
    sidebar = _sidebar(manifest)
    return sidebar.get("url") if isinstance(sidebar, dict) else None


def _check_location(manifest: dict[str, Any]) -> list[str]:
    """The ticket sidebar location: a remote https URL, flexible a boolean, host whitelisted."""
    if "location" not in manifest:
        return []
    sidebar = _sidebar(manifest)
    if not isinstance(sidebar, dict):
        return ["manifest.json: location.support.ticket_sidebar must be an object with a url"]
    problems = []
    url = sidebar.get("url")
    if not _is_https(url):
        problems.append(f"manifest.json: ticket_sidebar url {url!r} must be an https URL")
    if "flexible" in sidebar and not isinstance(sidebar["flexible"], bool):
        problems.append("manifest.json: ticket_sidebar flexible must be true or false")
    whitelist = manifest.get("domainWhitelist")
    if not (isinstance(whitelist, list) and all(isinstance(d, str) for d in whitelist)):
        problems.append("manifest.json: domainWhitelist must be a list of host names")
    elif _is_https(url):
        host = str(urlsplit(url).hostname)
        if host not in whitelist:
            problems.append(f"manifest.json: domainWhitelist lacks the backend host {host}")
    return problems


def _check_parameters(parameters: Any) -> list[str]:
    """Settings: known types, boolean flags, no duplicates, secrets kept secure."""
    if not isinstance(parameters, list):
        return ["manifest.json: parameters must be a list"]
    problems, names = [], []
    for param in parameters:
        if not isinstance(param, dict) or not isinstance(param.get("name"), str):
            problems.append("manifest.json: every parameter needs a name")
            continue
        name = param["name"]
        names.append(name)
        kind = param.get("type", "text")
        if kind not in PARAMETER_TYPES:
            problems.append(f"manifest.json: parameter {name!r} has invalid type {kind!r} "
                            f"(one of {', '.join(PARAMETER_TYPES)})")
        for flag in ("required", "secure"):
            if flag in param and not isinstance(param[flag], bool):
                problems.append(f"manifest.json: parameter {name!r} {flag} must be a boolean")
        if name == "name":
            problems.append("manifest.json: a parameter may not be called 'name'")
        if kind == "hidden" and param.get("required"):
            problems.append(f"manifest.json: hidden parameter {name!r} cannot be required")
        if _SECRET_NAME.search(name) and kind in ("text", "password") and not param.get("secure"):
            problems.append(f"manifest.json: parameter {name!r} holds a secret and must be "
                            f"secure")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"manifest.json: duplicate parameters {', '.join(duplicates)}")
    if not any(isinstance(p, dict) and p.get("secure") is True for p in parameters):
        problems.append("manifest.json: the account's API key must be a secure parameter")
    return problems


def _check_translations(app_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """translations/*.json: valid objects; en.json holds the Marketplace texts and labels."""
    folder = app_dir / "translations"
    if not folder.is_dir():
        return ["translations/ is missing"]
    problems = []
    for path in sorted(folder.glob("*.json")):
        if not _LOCALE.match(path.stem):
            problems.append(f"translations/{path.name}: {path.stem!r} is not a locale")
    en_path = folder / "en.json"
    if not en_path.is_file():
        return problems + ["translations/en.json is missing"]
    try:
        app = json.loads(en_path.read_text(encoding="utf-8")).get("app")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return problems + ["translations/en.json is not a JSON object"]
    if not isinstance(app, dict):
        return problems + ["translations/en.json: missing the \"app\" object"]
    for key in TRANSLATION_KEYS:
        if not isinstance(app.get(key), str) or not app[key].strip():
            problems.append(f"translations/en.json: app.{key} is required")
    if isinstance(app.get("name"), str) and len(app["name"]) > MAX_NAME:
        problems.append(f"translations/en.json: app.name is {len(app['name'])} characters "
                        f"(at most {MAX_NAME})")
    short = app.get("short_description")
    if isinstance(short, str) and len(short) > MAX_SHORT_DESCRIPTION:
        problems.append(f"translations/en.json: app.short_description is {len(short)} "
                        f"characters (at most {MAX_SHORT_DESCRIPTION})")
    labels = app["parameters"] if isinstance(app.get("parameters"), dict) else {}
    for param in manifest.get("parameters") or []:
        name = param.get("name") if isinstance(param, dict) else None
        entry = labels.get(name) if isinstance(name, str) else None
        if isinstance(name, str) and not (isinstance(entry, dict)
                                          and isinstance(entry.get("label"), str)
                                          and entry["label"].strip()):
            problems.append(f"translations/en.json: app.parameters.{name}.label is required")
    return problems


def _check_assets(app_dir: Path) -> list[str]:
    """The two logos at their exact sizes, and the sidebar page with its template variables."""
    problems = []
    for rel, side in LOGOS.items():
        path = app_dir / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
            continue
        try:
            size = png_size(path)
        except ValueError as exc:
            problems.append(f"{rel}: {exc}")
            continue
        if size != (side, side):
            problems.append(f"{rel} is {size[0]}x{size[1]} pixels (must be {side}x{side})")
    page = app_dir / "assets" / "iframe.html"
    if not page.is_file():
        problems.append("assets/iframe.html is missing")
    else:
        text = page.read_text(encoding="utf-8")
        for name in IFRAME_VARIABLES:
            if not re.search(r"\{\{\s*" + name + r"\b", text):
                problems.append(f"assets/iframe.html does not use the variable {name!r}")
    for name in ("sidebar.js", "sidebar.css"):
        if not (app_dir / "assets" / name).is_file():
            problems.append(f"assets/{name} is missing")
    return problems


def validate_package(app_dir: Path | str) -> list[str]:
    """Every problem that Zendesk (or our own rules) would find in the app folder; [] = valid."""
    app_dir = Path(app_dir)
    if not app_dir.is_dir():
        return [f"{app_dir} is not a folder"]
    problems = _check_layout(app_dir)
    manifest_path = app_dir / "manifest.json"
    if not manifest_path.is_file():
        return problems + ["manifest.json is missing"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return problems + [f"manifest.json is not valid JSON: {exc}"]
    problems += _check_manifest(manifest, app_dir)
    if isinstance(manifest, dict):
        problems += _check_translations(app_dir, manifest)
    problems += _check_assets(app_dir)
    return problems


def normalise_backend_url(backend_url: str) -> str:
    """The backend's base URL without a trailing slash; PackageError unless plain https."""
    parts = urlsplit(backend_url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise PackageError([(f"backend URL {backend_url!r} must be an https URL "
                             f"(Zendesk loads server-hosted apps over https only)")])
    if parts.query or parts.fragment or parts.username or parts.password:
        raise PackageError([(f"backend URL {backend_url!r} must not carry credentials, "
                             f"a query or a fragment")])
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def packaged_manifest(manifest: dict[str, Any], backend_url: str) -> dict[str, Any]:
    """A copy of the manifest whose sidebar URL and domainWhitelist point at the backend."""
    base = normalise_backend_url(backend_url)
    old_host = urlsplit(_sidebar_url(manifest) or PLACEHOLDER_BACKEND).hostname
    new_host = urlsplit(base).hostname
    result = json.loads(json.dumps(manifest))
    result["location"]["support"]["ticket_sidebar"]["url"] = base + SIDEBAR_PATH
    hosts = [h for h in result.get("domainWhitelist", []) if h not in (old_host, new_host)]
    result["domainWhitelist"] = [new_host, *hosts]
    return result


def build_package(app_dir: Path | str, out_zip: Path | str, backend_url: str) -> Path:
    """Validate the app, point it at ``backend_url`` and write a deterministic zip."""
    app_dir, out_zip = Path(app_dir), Path(out_zip)
    base = normalise_backend_url(backend_url)
    problems = validate_package(app_dir)
    if problems:
        raise PackageError(problems)
    manifest = json.loads((app_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest_bytes = (json.dumps(packaged_manifest(manifest, base), indent=2,
                                 ensure_ascii=False) + "\n").encode("utf-8")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_zip.with_name(out_zip.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for path in _package_files(app_dir):
            rel = path.relative_to(app_dir).as_posix()
            info = zipfile.ZipInfo(rel, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            data = manifest_bytes if rel == "manifest.json" else path.read_bytes()
            archive.writestr(info, data, compresslevel=9)
    tmp.replace(out_zip)
    return out_zip


def render_logo_png(side: int) -> bytes:
    """CloneDesk's logo (a white reply bubble on indigo) as an RGBA PNG of side x side pixels.

    Used once to write assets/logo.png and assets/logo-small.png:
    ``python -c "from plugin_backend.zendesk_package import write_logos; write_logos('zendesk_app')"``
    """
    samples = 4  # supersampling per axis, for smooth edges
    brand, white = (59, 91, 219), (255, 255, 255)

    def colour(x: float, y: float) -> tuple[int, int, int]:
        """The colour at a point of the unit square."""
        in_bubble = _in_round_rect(x, y, 0.18, 0.22, 0.82, 0.66, 0.10) or (
            0.30 <= x <= 0.46 and 0.60 <= y <= 0.80 and y - 0.60 <= (0.46 - x) * 1.25)
        if not in_bubble:
            return brand
        on_line = (_in_round_rect(x, y, 0.30, 0.36, 0.70, 0.41, 0.025)
                   or _in_round_rect(x, y, 0.30, 0.47, 0.58, 0.52, 0.025))
        return brand if on_line else white

    rows = []
    for py in range(side):
        row = bytearray(b"\x00")  # filter type 0
        for px in range(side):
            acc = [0, 0, 0]
            for sy in range(samples):
                for sx in range(samples):
                    c = colour((px + (sx + 0.5) / samples) / side,
                               (py + (sy + 0.5) / samples) / side)
                    acc = [a + b for a, b in zip(acc, c)]
            row += bytes(round(a / samples ** 2) for a in acc) + b"\xff"
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        """One PNG chunk with its CRC."""
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return _PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _in_round_rect(x: float, y: float, x0: float, y0: float, x1: float, y1: float,
                   r: float) -> bool:
    """Whether (x, y) lies inside the rectangle with corners rounded by radius r."""
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def write_logos(app_dir: Path | str) -> None:
    """Write assets/logo.png (320x320) and assets/logo-small.png (128x128)."""
    for rel, side in LOGOS.items():
        (Path(app_dir) / rel).write_bytes(render_logo_png(side))
