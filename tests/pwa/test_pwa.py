"""The installable app as the server delivers it: the shell, hashed and precompressed
assets, and the web manifest and service worker rendered per locale and role."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path
from typing import Any

import brotli
import httpx
from PIL import Image

from server.context import AppContext
from server.pwa.shell import AppShell
from tests.problems import assert_problem
from tests.world import World, bearer

ROOT = Path(__file__).resolve().parents[2]


async def test_the_shell_is_revalidated_and_points_at_hashed_assets(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    response = await client.get("/", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-encoding"] == "br"
    html = response.text  # httpx decodes br
    for logical in ("app.js", "app.css"):
        asset = ctx.shell.assets[logical]
        assert f'"{asset["path"]}"' in html
        assert asset["integrity"] in html
    assert 'rel="manifest" href="/manifest.webmanifest" crossorigin="use-credentials"' in html
    again = await client.get(
        "/", headers={"Accept-Encoding": "br", "If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


async def test_assets_are_immutable_and_precompressed(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    total_compressed = 0
    for logical, asset in ctx.shell.assets.items():
        plain = await client.get(asset["path"], headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200, logical
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert len(plain.content) == asset["size"]
        if logical.endswith((".js", ".css")):
            raw = await client.get(asset["path"], headers={"Accept-Encoding": "br"})
            assert raw.headers["content-encoding"] == "br"
            assert raw.headers["vary"] == "Accept-Encoding"
            assert raw.content == plain.content  # httpx decoded the Brotli
            zipped = client.build_request("GET", asset["path"], headers={"Accept-Encoding": "gzip"})
            stream = await client.send(zipped, stream=True)
            assert await stream.aread() == plain.content  # httpx decoded the gzip
            assert stream.headers["content-encoding"] == "gzip"
            total_compressed += len(gzip.compress(plain.content))
            await stream.aclose()
    # 50.4 KB since the share inbox is sealed like the vault (cdn/src/inbox.js).
    assert total_compressed < 52_000, "the whole shell stays small on the wire"
    missing = await client.get("/static/app.000000000000.js")
    assert_problem(missing, 404, "not_found")


async def test_icons_are_the_sizes_the_manifest_states(
    client: httpx.AsyncClient,
) -> None:
    manifest = (await client.get("/manifest.webmanifest")).json()
    purposes = set()
    for icon in manifest["icons"]:
        png = (await client.get(icon["src"])).content
        width, height = Image.open(io.BytesIO(png)).size
        assert f"{width}x{height}" == icon["sizes"]
        purposes.add(icon["purpose"])
    assert purposes == {"any", "maskable"}
    for shot in manifest["screenshots"]:
        png = (await client.get(shot["src"])).content
        width, height = Image.open(io.BytesIO(png)).size
        assert f"{width}x{height}" == shot["sizes"]


async def manifest_for(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/manifest.webmanifest", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/manifest+json"
    assert response.headers["cache-control"] == "private, no-cache"
    assert "Cookie" in response.headers["vary"] and "Accept-Language" in response.headers["vary"]
    body: dict[str, Any] = response.json()
    return body


async def test_the_manifest_speaks_the_users_language_and_fits_their_role(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    visitor_en = await manifest_for(client, {"Accept-Language": "en-GB,en;q=0.9"})
    visitor_th = await manifest_for(client, {"Accept-Language": "th-TH"})
    staff = await manifest_for(client, bearer(ctx.signer, world.staff_a))  # locale th
    office = await manifest_for(client, bearer(ctx.signer, world.dispatcher))

    assert (visitor_en["lang"], visitor_en["name"]) == ("en", "Tinedy Field")
    assert visitor_th["lang"] == staff["lang"] == "th"
    assert "งาน" in staff["name"]
    assert [s["url"] for s in staff["shortcuts"]] == ["/#today", "/#checkin", "/#sync"]
    assert [s["url"] for s in office["shortcuts"]] == ["/#board"]
    for manifest in (visitor_th, staff, office):
        assert manifest["id"] == visitor_en["id"] == "/"
        assert manifest["scope"] == visitor_en["scope"] == "/"
        assert manifest["icons"] == visitor_en["icons"]
        assert manifest["display"] == "standalone"
        assert manifest["share_target"]["params"]["files"][0]["name"] == "file"
    assert {s["form_factor"] for s in staff["screenshots"]} == {"narrow", "wide"}


async def test_the_service_worker_is_the_same_bytes_for_one_strategy_set(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    async def worker(headers: dict[str, str]) -> httpx.Response:
        response = await client.get("/sw.js", headers=headers | {"Accept-Encoding": "identity"})
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["content-type"].startswith("text/javascript")
        return response

    staff_a = await worker(bearer(ctx.signer, world.staff_a))
    staff_b = await worker(bearer(ctx.signer, world.staff_b))
    office = await worker(bearer(ctx.signer, world.dispatcher))
    visitor_en = await worker({"Accept-Language": "en"})

    assert staff_a.content == staff_b.content, "no user is baked in"
    assert world.staff_a["id"] not in staff_a.text
    assert staff_a.headers["etag"] == staff_b.headers["etag"]
    assert office.content != staff_a.content
    assert visitor_en.content != (await worker({"Accept-Language": "th"})).content
    for asset in ctx.shell.assets.values():
        assert json.dumps(asset["path"]) in staff_a.text, "every asset is precached"
    assert '"stale-while-revalidate"' in staff_a.text


def test_a_new_build_changes_the_service_worker(tmp_path: Path, ctx: AppContext) -> None:
    copy = tmp_path / "dist"
    shutil.copytree(ctx.settings.app_shell_dir, copy)
    manifest = json.loads((copy / "asset-manifest.json").read_text())
    manifest["version"] = "0123456789abcdef"
    (copy / "asset-manifest.json").write_text(json.dumps(manifest))
    rebuilt = AppShell.load(copy, ROOT)
    before = ctx.shell.render_worker("th", "field")
    after = rebuilt.render_worker("th", "field")
    assert before != after
    assert worker_config(after)["version"] == "0123456789abcdef-field-th"
    assert ctx.shell.render_worker("th", "field") == before, "rendering is deterministic"


def worker_config(worker: bytes) -> dict[str, Any]:
    """The one config object a rendered service worker serves with."""
    [line] = [line for line in worker.decode().splitlines() if line.startswith("serve(")]
    config: dict[str, Any] = json.loads(line.removeprefix("serve(").removesuffix(");"))
    return config


def test_brotli_variants_are_quality_11(ctx: AppContext) -> None:
    js = ctx.shell.files[ctx.shell.asset("app.js").removeprefix("/static/")]
    plain = js.variants["identity"]
    assert brotli.decompress(js.variants["br"]) == plain
    assert len(js.variants["br"]) <= len(brotli.compress(plain, quality=5))
