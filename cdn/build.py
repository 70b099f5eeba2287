"""Build the app shell into ``cdn/dist``: content-hashed assets, Brotli (quality 11) and gzip
variants beside each, icons and install screenshots drawn with Pillow, the HTML shell, and
an asset manifest (logical name -> hashed path, size, SRI hash) that the shell, the web
manifest and the service worker read.

The app's sources are native ES modules (checked by ESLint and TypeScript as they are), and
phones download each entry as one script, with no bundler to install: ``app.js`` and every
module it imports become the page's one script, ``worker.js`` and what it imports the service
worker's (a classic script for ``importScripts``: browsers fetch a module worker without
cookies, and the server renders the worker per role). Each module is a function of its own
there, after the modules it imports; the module graph may have no cycle. One request instead
of one per module is what a start on a slow phone network needs. The server's vocabulary
(server/pwa/vocabulary.py: event names, statuses, cache names...) is written as the module
``vocabulary.js``, its translations (server/pwa/translations.py) as ``translations.js``.

Run ``python -m cdn.build``; it does nothing when the sources have not changed.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import brotli
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from PIL import Image, ImageDraw, ImageFont

from server.pwa import translations, vocabulary

SOURCE = Path(__file__).resolve().parent / "src"
DIST = Path(__file__).resolve().parent / "dist"
MANIFEST = "asset-manifest.json"
STAMP = ".source-hash"
VOCABULARY = "vocabulary.js"
TRANSLATIONS = "translations.js"
ENTRY = "app.js"
WORKER = "worker.js"
OFFICE = "office.js"  # the dispatch board: what ``board.js`` needs beyond the page's modules
OFFICE_ENTRY = "board.js"
IMPORT = re.compile(r'(\bfrom\s*|\bimport\s*)"\./([\w.-]+\.js)"')
BRAND = (15, 118, 110)
TEXT_TYPES = {".js", ".css", ".html", ".json", ".svg", ".txt"}
ICONS = ((192, False), (512, False), (192, True), (512, True))
SCREENSHOTS = (("narrow", 540, 1170), ("wide", 1280, 720))


@dataclass(frozen=True)
class Asset:
    path: str
    size: int
    integrity: str


def build(out: Path = DIST, force: bool = False) -> Path:
    """Build into ``out`` unless it already holds a build of these sources; returns ``out``."""
    stamp = _sources_hash()
    if not force and (out / STAMP).exists() and (out / STAMP).read_text() == stamp:
        return out
    shutil.rmtree(out, ignore_errors=True)
    (out / "static").mkdir(parents=True)
    assets: dict[str, Asset] = {}
    modules = {source.name: _shipped(source.read_bytes()) for source in sorted(SOURCE.glob("*.js"))}
    modules |= _generated_modules()
    assets[ENTRY] = _emit(out, ENTRY, _page_script(ENTRY, modules))
    assets[OFFICE] = _emit(out, OFFICE, _office_script(OFFICE_ENTRY, ENTRY, modules))
    assets[WORKER] = _emit(out, WORKER, _classic_script(WORKER, modules))
    for source in sorted(SOURCE.glob("*.css")):
        assets[source.name] = _emit(out, source.name, source.read_bytes())
    for name, image in _images():
        assets[name] = _emit(out, name, image)
    shell = _render_shell(assets)
    (out / "index.html").write_bytes(shell)
    _precompress(out / "index.html", shell)
    manifest = {"version": stamp[:16], "assets": {k: vars(v) for k, v in sorted(assets.items())}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / STAMP).write_text(stamp)
    return out


WHOLE_LINE_COMMENT = re.compile(rb"^[ \t]*(?://[^\n]*|/\*\*(?:(?!\*/)[\s\S])*\*/[ \t]*)\n", re.M)


def _shipped(source: bytes) -> bytes:
    """A module as phones download it: without its whole-line comments, the JSDoc that types
    it for the checker among them (about a third of its compressed bytes). A line inside a
    template literal (after an odd number of backticks) is text, and stays."""

    def drop(match: re.Match[bytes]) -> bytes:
        inside_template = source.count(b"`", 0, match.start()) % 2 == 1
        return match.group(0) if inside_template else b""

    return WHOLE_LINE_COMMENT.sub(drop, source)


def _sources_hash() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for body in _generated_modules().values():
        digest.update(body)
    for source in sorted(SOURCE.glob("*")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _generated_modules() -> dict[str, bytes]:
    """The modules written from the server's own words: its vocabulary and its translations."""
    words = {VOCABULARY: vocabulary.for_app(), TRANSLATIONS: translations.for_app()}
    return {name: _data_module(data) for name, data in words.items()}


def _data_module(data: object) -> bytes:
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return f"export default Object.freeze({text});\n".encode()


def _imports(body: bytes) -> list[str]:
    return [match[1] for match in IMPORT.findall(body.decode())]


NAMED_IMPORT = re.compile(r'^import \{([^}]*)\} from "\./([\w.-]+\.js)";$', re.M)
DEFAULT_IMPORT = re.compile(r'^import (\w+) from "\./([\w.-]+\.js)";$', re.M)
EXPORT = re.compile(r"^export (async function|function|const|let|class) (\w+)", re.M)
EXPORT_DEFAULT = re.compile(r"^export default ", re.M)
LEFT = re.compile(r"^\s*(import|export)\b", re.M)


def _classic_script(entry: str, modules: dict[str, bytes]) -> bytes:
    """``entry`` and every module it imports as one classic script, which declares ``serve``
    (what ``entry`` exports as ``serve``)."""
    return (
        f'"use strict";\nconst serve = (() => {{\nconst modules = {{}};\n'
        f"{_wrapped(entry, modules)}\nreturn modules[{json.dumps(entry)}].serve;\n}})();\n"
    ).encode()


def _page_script(entry: str, modules: dict[str, bytes]) -> bytes:
    """``entry`` and every module it imports as the page's one script; its modules are kept
    where the office's script finds them (``vocabulary.MODULES``)."""
    wrapped = _wrapped(entry, modules)
    registry = f"globalThis[{json.dumps(vocabulary.MODULES)}] = {{}}"
    return f'"use strict";\n(() => {{\nconst modules = {registry};\n{wrapped}\n}})();\n'.encode()


def _office_script(entry: str, page: str, modules: dict[str, bytes]) -> bytes:
    """``entry`` and the modules it imports that the ``page`` script does not hold, joining
    the page's own: loaded after it, by the office alone (field phones never fetch it)."""
    loaded = {*_dependencies_first(page, modules), page}
    wrapped = _wrapped(entry, modules, skip=loaded)
    registry = f"globalThis[{json.dumps(vocabulary.MODULES)}]"
    return f'"use strict";\n(() => {{\nconst modules = {registry};\n{wrapped}\n}})();\n'.encode()


def _wrapped(
    entry: str, modules: dict[str, bytes], skip: frozenset[str] | set[str] = frozenset()
) -> str:
    """Each module ``entry`` needs, itself last, each after what it imports (but those in
    ``skip``). Only the forms the app uses are understood: named and default imports of
    ``./name.js``, ``export`` before a declaration, ``export default``."""
    names = [n for n in [*_dependencies_first(entry, modules), entry] if n not in skip]
    return "\n".join(_classic_module(name, modules[name].decode()) for name in names)


def _classic_module(name: str, body: str) -> str:
    """The module as a function of its own whose answer is its exports, kept in ``modules``."""
    exports: list[str] = []

    def exported(match: re.Match[str]) -> str:
        exports.append(match[2])
        return f"{match[1]} {match[2]}"

    def imported(match: re.Match[str]) -> str:
        return f"const {{{match[1].replace(' as ', ': ')}}} = modules[{json.dumps(match[2])}];"

    body = NAMED_IMPORT.sub(imported, body)
    body = DEFAULT_IMPORT.sub(
        lambda m: f"const {m[1]} = modules[{json.dumps(m[2])}].default;", body
    )
    body = EXPORT.sub(exported, body)
    if EXPORT_DEFAULT.search(body):
        body = EXPORT_DEFAULT.sub("const default_ = ", body)
        exports.append("default: default_")
    if LEFT.search(body):
        raise ValueError(f"{name}: an import or export the one-script build cannot hold")
    answer = ", ".join(exports)
    return f"modules[{json.dumps(name)}] = (() => {{\n{body}\nreturn {{ {answer} }};\n}})();"


def _dependencies_first(entry: str, modules: dict[str, bytes]) -> list[str]:
    """What ``entry`` imports, directly or not, each after its own imports; a module missing
    from cdn/src, or modules that import each other, stop the build."""
    order: list[str] = []

    def visit(name: str, importers: tuple[str, ...]) -> None:
        if name in importers:
            raise ValueError("modules import each other: " + " -> ".join((*importers, name)))
        if name not in modules:
            raise ValueError(f"{importers[-1]} imports {name}, which cdn/src does not have")
        for dependency in _imports(modules[name]):
            if dependency not in order:
                visit(dependency, (*importers, name))
                order.append(dependency)

    visit(entry, ())
    return order


def _emit(out: Path, logical: str, body: bytes) -> Asset:
    """Write ``body`` under a name carrying its content hash, with its compressed variants."""
    stem, _, suffix = logical.rpartition(".")
    name = f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}.{suffix}"
    target = out / "static" / name
    target.write_bytes(body)
    if target.suffix in TEXT_TYPES:
        _precompress(target, body)
    integrity = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
    return Asset(path=f"/static/{name}", size=len(body), integrity=integrity)


def _precompress(target: Path, body: bytes) -> None:
    target.with_name(target.name + ".br").write_bytes(brotli.compress(body, quality=11))
    target.with_name(target.name + ".gz").write_bytes(gzip.compress(body, 9, mtime=0))


def _render_shell(assets: dict[str, Asset]) -> bytes:
    env = Environment(loader=FileSystemLoader(SOURCE), undefined=StrictUndefined, autoescape=True)
    template = env.get_template("index.html")
    return template.render(asset=assets.__getitem__).encode()


def _images() -> list[tuple[str, bytes]]:
    images = [
        (f"icon-{size}{'-maskable' if maskable else ''}.png", _png(_icon(size, maskable)))
        for size, maskable in ICONS
    ]
    images += [(f"screenshot-{form}.png", _png(_screenshot(w, h))) for form, w, h in SCREENSHOTS]
    return images


def _icon(size: int, maskable: bool) -> Image.Image:
    """A teal tile with a white check mark; a maskable one keeps it in the 80 % safe zone."""
    image = Image.new("RGBA", (size, size), BRAND if maskable else (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if not maskable:
        draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=BRAND)
    scale = 0.55 if maskable else 0.7
    inset = size * (1 - scale) / 2
    points = [(0.12, 0.55), (0.4, 0.8), (0.88, 0.25)]
    line = [(inset + x * size * scale, inset + y * size * scale) for x, y in points]
    draw.line(line, fill="white", width=max(4, size // 10), joint="curve")
    return image


def _screenshot(width: int, height: int) -> Image.Image:
    """The job list as the install dialog shows it: a bar and a column of job cards."""
    image = Image.new("RGB", (width, height), (248, 250, 252))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 96), fill=BRAND)
    font = ImageFont.load_default(size=40)
    draw.text((32, 26), "Tinedy Field", fill="white", font=font)
    card_width = min(width - 64, 760)
    for n in range(max(1, (height - 140) // 150)):
        top = 130 + n * 150
        draw.rounded_rectangle((32, top, 32 + card_width, top + 126), 18, (255, 255, 255))
        draw.text((60, top + 24), f"{8 + n:02d}:00  Deep clean", fill=(15, 23, 42), font=font)
        draw.rectangle((60, top + 84, 60 + card_width * 0.6, top + 96), fill=(226, 232, 240))
    return image


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DIST)
    parser.add_argument("--force", action="store_true", help="build even if nothing changed")
    args = parser.parse_args()
    print(f"app shell built in {build(args.out, args.force)}")


if __name__ == "__main__":
    main()
