"""Issue 17's viewers through the dashboard's views, on a real local Sprite's files: a
spreadsheet, a database, a 50 MB log shown in part, an HTML page framed from the preview
origin (and its link, which opens one file of one project for a short while), Markdown
that tries to run script, and a download button on every viewer."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client
from openpyxl import Workbook

from accounts.models import User
from projects.dashboard import viewers
from projects.models import Project
from projects.preview import raw_files
from projects.preview.links import preview_host
from projects.preview.proxy import PreviewProxy
from projects.sprite.backend import backend_for
from sprites.backends import run_sync


@pytest.fixture
def sprite_home(alice_project: Project, settings: Any, sprite_data_dir: Path) -> Iterator[Path]:
    """A real local Sprite (its home only, no bridge) for alice's project."""
    settings.DATA_DIR = sprite_data_dir
    run_sync(backend_for(alice_project).create(alice_project.sprite_name))
    yield sprite_data_dir / "sprites" / alice_project.sprite_name / "home"


def view(client: Client, project: Project, path: str, **query: str) -> str:
    response = client.get(f"/p/{project.public_id}/files/view/", {"path": path, **query})
    assert response.status_code == 200, response.content
    return response.content.decode()


def test_a_spreadsheet_shows_its_sheets_as_text_tables(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Q1 <b>"
    sheet.append(["region", "total"])
    sheet.append(["<img src=x onerror=alert(1)>", 1200])
    workbook.create_sheet("Costs")["A1"] = "rent"
    workbook.save(sprite_home / "sales.xlsx")
    body = view(alice_client, alice_project, "sales.xlsx")
    assert "<td>region</td>" in body and "<td>1200</td>" in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body and "<img src=x" not in body
    assert "Q1 &lt;b&gt;" in body and "Q1 <b>" not in body
    costs = view(alice_client, alice_project, "sales.xlsx", sheet="Costs")
    assert "<td>rent</td>" in costs and 'aria-current="true"' in costs


def test_a_spreadsheet_bomb_is_described_and_still_downloadable(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (150 * 1024 * 1024))
    (sprite_home / "bomb.xlsx").write_bytes(buffer.getvalue())
    body = view(alice_client, alice_project, "bomb.xlsx")
    assert "unpacks to 150 MB" in body and "viewer-download" in body


def test_a_database_is_browsed_table_by_table_page_by_page(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    connection = sqlite3.connect(sprite_home / "app.db")
    connection.executescript(
        "create table users (id integer primary key, name text);"
        'create table "<script>alert(1)</script>" (x);'
        "with recursive c(n) as (select 1 union all select n + 1 from c where n < 230) "
        "insert into users (name) select 'user ' || n from c;"
    )
    connection.commit()
    connection.close()
    body = view(alice_client, alice_project, "app.db", table="users")
    assert "<td>user 1</td>" in body and "<td>user 100</td>" in body
    assert "<td>user 101</td>" not in body and "Rows 1\N{EN DASH}100 of 230" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body
    last = view(alice_client, alice_project, "app.db", table="users", page="2")
    assert "<td>user 230</td>" in last and "Rows 201\N{EN DASH}230 of 230" in last
    bad = alice_client.get(
        f"/p/{alice_project.public_id}/files/view/", {"path": "app.db", "page": "-1"}
    )
    assert bad.status_code == 400


def test_a_50_mb_log_shows_its_last_megabyte_with_a_note_and_downloads_whole(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    line = b"x" * 99 + b"\n"
    with (sprite_home / "build.log").open("wb") as log:
        log.write(b"FIRST LINE\n")
        for _ in range(50 * 1024 * 1024 // len(line)):
            log.write(line)
        log.write(b"LAST LINE\n")
    size = (sprite_home / "build.log").stat().st_size
    body = view(alice_client, alice_project, "build.log")
    assert "Showing the last 1 MB of 50 MB." in body
    assert "LAST LINE" in body and "FIRST LINE" not in body
    link = re.search(r'class="button button-small viewer-download" href="([^"]+)"', body)
    assert link is not None
    download = alice_client.get(unescape(link.group(1)))
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="build.log"'
    whole = b"".join(download)
    assert len(whole) == size and whole.startswith(b"FIRST LINE\n")


def test_every_viewer_has_a_download_button(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "notes.md").write_text("# Notes\n")
    (sprite_home / "app.py").write_text("print('hi')\n")
    (sprite_home / "data.csv").write_text("a,b\n1,2\n")
    (sprite_home / "blob.bin").write_bytes(b"\0\1\2")
    (sprite_home / "page.html").write_text("<h1>hi</h1>")
    for name in ("notes.md", "app.py", "data.csv", "blob.bin", "page.html"):
        body = view(alice_client, alice_project, name)
        assert "viewer-download" in body and f'download="{name}"' in body, name
    link = re.search(
        r'viewer-download" href="([^"]+)"', view(alice_client, alice_project, "blob.bin")
    )
    assert link is not None and "/workspace-files/download/" in link.group(1)
    assert b"".join(alice_client.get(unescape(link.group(1)))) == b"\0\1\2"


def test_markdown_that_tries_to_run_script_is_only_text_for_the_sanitiser(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "evil.md").write_text(
        '# Hi\n<img src=x onerror="alert(1)"><script>alert(2)</script>\n'
        '<a href="javascript:alert(3)">x</a> <div hx-get="/api/v1/projects/">y</div>\n'
    )
    body = view(alice_client, alice_project, "evil.md")
    assert "<img src=x" not in body and "<script>alert(2)" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
    # htmx never acts on it, even before DOMPurify sees it.
    assert re.search(r'class="viewer viewer-markdown-file" hx-disable', body)


def frame_url(body: str) -> str:
    found = re.search(r'<iframe class="viewer-html"[^>]* src="([^"]+)"', body)
    assert found is not None, body
    return unescape(found.group(1))


def test_an_html_page_is_framed_from_the_preview_origin_sandboxed(
    alice_client: Client, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "report.html").write_text("<script>document.cookie</script><h1>Report</h1>")
    body = view(alice_client, alice_project, "report.html")
    url = frame_url(body)
    assert urlsplit(url).hostname == preview_host(alice_project.public_id)
    assert urlsplit(url).path.startswith(raw_files.FILE_PATH_PREFIX)
    assert 'sandbox="allow-scripts"' in body and "allow-same-origin" not in body
    # The page itself is never in the dashboard's answer.
    assert "<h1>Report</h1>" not in body and "document.cookie" not in body


def test_a_file_link_opens_one_file_of_one_project_for_its_owner_only(
    alice: User, alice_project: Project, bob: User
) -> None:
    link = raw_files.file_link(alice, alice_project, "report.html")
    token = urlsplit(link).path.removeprefix(raw_files.FILE_PATH_PREFIX)
    assert raw_files.read_file_link(token, alice_project.public_id) == (alice.pk, "report.html")
    with pytest.raises(raw_files.FileLinkDenied, match="another project"):
        raw_files.read_file_link(token, "someotherproject")
    with pytest.raises(raw_files.FileLinkDenied, match="not valid"):
        raw_files.read_file_link(token[:-2] + "xx", alice_project.public_id)
    # A preview link's or cookie's value (another salt) is no file link.
    forged = signing.dumps({"u": alice.pk, "p": alice_project.public_id, "f": "x"}, compress=True)
    with pytest.raises(raw_files.FileLinkDenied):
        raw_files.read_file_link(forged, alice_project.public_id)
    from django.http import Http404

    with pytest.raises(Http404):
        raw_files.file_link(bob, alice_project, "report.html")


async def preview_get(
    host: str, path: str, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """One request to the preview proxy's ASGI app, as starter/asgi.py hands it over."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", host.encode())],
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    await PreviewProxy()(scope, receive, send)
    start = sent[0]
    headers = {key.decode(): value.decode() for key, value in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.django_db(transaction=True)
def test_the_preview_origin_serves_the_page_sandboxed_and_refuses_bad_links(
    alice: User, alice_project: Project, sprite_home: Path
) -> None:
    (sprite_home / "report.html").write_text("<h1>Report</h1>")
    link = urlsplit(raw_files.file_link(alice, alice_project, "report.html"))
    status, headers, body = asyncio.run(preview_get(link.netloc, link.path))
    assert status == 200 and body == b"<h1>Report</h1>"
    policy = headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts;") and "allow-same-origin" not in policy
    assert "connect-src 'none'" in policy and "form-action 'none'" in policy
    assert headers["referrer-policy"] == "no-referrer"
    # The link is for this project's plain preview host only, and for GET only.
    other = preview_host("someotherproject")
    assert asyncio.run(preview_get(other, link.path))[0] == 403
    port_host = preview_host(alice_project.public_id, 3000)
    assert asyncio.run(preview_get(port_host, link.path))[0] == 404
    assert asyncio.run(preview_get(link.netloc, link.path, "POST"))[0] == 404
    assert asyncio.run(preview_get(link.netloc, link.path + "x"))[0] == 403
    # A deleted owner's link opens nothing.
    alice.is_active = False
    alice.save()
    assert asyncio.run(preview_get(link.netloc, link.path))[0] == 404


def test_open_file_reads_only_the_part_it_shows(alice_project: Project, sprite_home: Path) -> None:
    (sprite_home / "big.txt").write_bytes(b"a" * (3 * 1024 * 1024) + b"\nend\n")
    file = viewers.open_file(alice_project, "big.txt")
    assert len(file.data) <= viewers.MAX_TEXT_BYTES and file.offset == 0
    assert file.part_note.startswith("Showing the first")
    (sprite_home / "huge.db").write_bytes(b"SQLite format 3\x00" + b"\0" * viewers.MAX_WHOLE_BYTES)
    huge = viewers.open_file(alice_project, "huge.db")
    assert huge.too_large and huge.data == b"" and "Download it" in huge.part_note
