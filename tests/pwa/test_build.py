"""The build of the app's modules (cdn/build.py): the page and the service worker each one
script made of the modules their entry imports, in an order where each module comes after
what it imports; forms it cannot turn into that script, and import cycles, stop the build."""

from __future__ import annotations

import json
import re

import pytest

from cdn import build
from tests.conftest import APP_SHELL


def built(logical: str) -> str:
    manifest = json.loads((APP_SHELL / build.MANIFEST).read_text())
    return str(manifest["assets"][logical]["path"])


def test_the_page_loads_one_script_made_of_every_module_the_app_imports() -> None:
    shell = (APP_SHELL / "index.html").read_text()
    assert shell.count("<script") == 1 and "modulepreload" not in shell
    assert f'<script type="module" src="{built(build.ENTRY)}"' in shell
    script = (APP_SHELL / built(build.ENTRY).lstrip("/")).read_text()
    assert not re.search(r"^\s*(import|export)\b", script, re.M)
    order = re.findall(r'^modules\["([\w.-]+)"\] = ', script, re.M)
    assert order == [*build._dependencies_first(build.ENTRY, sources()), build.ENTRY]
    assert {"vocabulary.js", "translations.js", "html.js"} <= set(order)


def test_the_board_is_the_offices_own_script_which_joins_the_pages_modules() -> None:
    """Field phones never download the dispatch board: its modules are in a script of their
    own, which the page fetches for dispatchers and admins, holding none of the page's."""
    page = (APP_SHELL / built(build.ENTRY).lstrip("/")).read_text()
    office = (APP_SHELL / built(build.OFFICE).lstrip("/")).read_text()
    in_page = set(re.findall(r'^modules\["([\w.-]+)"\] = ', page, re.M))
    in_office = re.findall(r'^modules\["([\w.-]+)"\] = ', office, re.M)
    assert not {name for name in in_page if name.startswith("board")}
    assert in_office[-1] == build.OFFICE_ENTRY and not in_page & set(in_office)
    assert {*in_page, *in_office} == {
        *build._dependencies_first(build.OFFICE_ENTRY, sources()),
        build.OFFICE_ENTRY,
    } | in_page
    shell = (APP_SHELL / "index.html").read_text()
    assert f'data-office="{built(build.OFFICE)}"' in shell


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


def test_an_import_cycle_stops_the_build() -> None:
    modules = {"a.js": b'import { b } from "./b.js";\n', "b.js": b'import { a } from "./a.js";\n'}
    with pytest.raises(ValueError, match=re.escape("a.js -> b.js -> a.js")):
        build._page_script("a.js", modules)


def test_an_import_of_a_missing_module_stops_the_build() -> None:
    with pytest.raises(ValueError, match="cdn/src does not have"):
        build._page_script("a.js", {"a.js": b'import { b } from "./b.js";\n'})


def test_phones_download_no_whole_line_comments() -> None:
    for module in (APP_SHELL / "static").glob("*.js"):
        shipped = module.read_bytes()
        assert build._shipped(shipped) == shipped, module.name


def test_a_line_of_a_template_literal_is_text_not_a_comment() -> None:
    source = b"/** typed */\nconst a = 1; // kept\n// dropped\nconst t = `\n// kept\n`;\n"
    shipped = build._shipped(source)
    assert shipped == b"const a = 1; // kept\nconst t = `\n// kept\n`;\n"
