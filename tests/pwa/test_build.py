"""The build of the app's modules (cdn/build.py): hashed names that every import follows, a
shell that preloads what the app imports, and a worker script made of the modules it imports;
forms it cannot turn into that script, and import cycles, stop the build."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cdn import build
from tests.conftest import APP_SHELL


def built(logical: str) -> str:
    manifest = json.loads((APP_SHELL / build.MANIFEST).read_text())
    return str(manifest["assets"][logical]["path"])


def test_every_import_names_a_built_module() -> None:
    names = {path.name for path in (APP_SHELL / "static").glob("*.js")}
    for module in (APP_SHELL / "static").glob("*.js"):
        for imported in re.findall(r'from "\./([^"]+)"', module.read_text()):
            assert imported in names, (module.name, imported)


def test_the_shell_preloads_every_module_the_app_imports() -> None:
    shell = (APP_SHELL / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)"', shell))
    imported = set(build._imported(build.ENTRY, sources()))
    assert preloaded == {built(name) for name in imported}
    assert f'<script type="module" src="{built(build.ENTRY)}"' in shell


def test_the_worker_is_one_classic_script() -> None:
    script = (APP_SHELL / built(build.WORKER).lstrip("/")).read_text()
    assert not re.search(r"^\s*(import|export)\b", script, re.M)
    assert script.startswith('"use strict";\nconst serve = ')


def sources() -> dict[str, bytes]:
    modules = {path.name: path.read_bytes() for path in build.SOURCE.glob("*.js")}
    return modules | {name: b"export default {};\n" for name in build._generated_modules()}


@pytest.mark.parametrize("form", ["export { a };", "export async function* pages() {}"])
def test_a_form_the_worker_script_cannot_hold_stops_the_build(form: str) -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        build._classic_script("w.js", {"w.js": f"{form}\nexport function serve() {{}}\n".encode()})


def test_an_import_cycle_stops_the_build(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    modules = {"a.js": b'import { b } from "./b.js";\n', "b.js": b'import { a } from "./a.js";\n'}
    with pytest.raises(ValueError, match=re.escape("a.js -> b.js -> a.js")):
        build._emit_modules(tmp_path, modules)


def test_phones_download_no_whole_line_comments() -> None:
    for module in (APP_SHELL / "static").glob("*.js"):
        shipped = module.read_bytes()
        assert build._shipped(shipped) == shipped, module.name


def test_a_line_of_a_template_literal_is_text_not_a_comment() -> None:
    source = b"/** typed */\nconst a = 1; // kept\n// dropped\nconst t = `\n// kept\n`;\n"
    shipped = build._shipped(source)
    assert shipped == b"const a = 1; // kept\nconst t = `\n// kept\n`;\n"
