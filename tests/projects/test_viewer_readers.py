"""The heavy viewers' readers on real files made here (openpyxl, sqlite3), and on hostile
ones: a spreadsheet that claims huge dimensions or is a zip bomb, a database with a huge
table, a crafted schema (a view that ATTACHes, loads an extension or never ends)."""

from __future__ import annotations

import io
import sqlite3
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from projects.dashboard import spreadsheets, sqlite_browser
from projects.errors import ProjectError


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def sales_workbook() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["region", "total", "when"])
    sheet.append(["North", 1200, datetime(2026, 3, 1)])
    sheet.append(["South", 900, datetime(2026, 3, 2)])
    sheet["B4"] = "=SUM(B2:B3)"
    notes = workbook.create_sheet("Notes")
    notes["A1"] = "<script>alert(1)</script>"
    return workbook_bytes(workbook)


def test_a_workbook_shows_its_sheets_as_tables() -> None:
    sheet = spreadsheets.read_sheet(sales_workbook())
    assert sheet.names == ["Sales", "Notes"] and sheet.name == "Sales"
    assert sheet.rows[0] == ["region", "total", "when"]
    assert sheet.rows[1] == ["North", "1200", "2026-03-01"]
    # A formula is never evaluated (nor shown as code): no cached value was saved, so its
    # row is empty, and empty trailing rows are not shown.
    assert len(sheet.rows) == 3
    assert not any("SUM" in cell for row in sheet.rows for cell in row)
    assert not sheet.more_rows and not sheet.more_columns
    other = spreadsheets.read_sheet(sales_workbook(), "Notes")
    assert other.name == "Notes" and other.rows == [["<script>alert(1)</script>"]]
    # An unknown sheet name shows the first sheet.
    assert spreadsheets.read_sheet(sales_workbook(), "Nope").name == "Sales"


def test_a_sheet_is_bounded_whatever_dimensions_it_claims() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in range(1, 700):
        sheet.cell(row=row, column=1, value=f"r{row}")
    sheet.cell(row=1, column=80, value="far right")
    sheet.cell(row=1_000_000, column=16_000, value="far away")
    sheet["B2"] = "x" * 5000
    read = spreadsheets.read_sheet(workbook_bytes(workbook))
    assert len(read.rows) == spreadsheets.MAX_ROWS and read.more_rows
    assert read.more_columns
    assert all(len(row) <= spreadsheets.MAX_COLUMNS for row in read.rows)
    assert read.rows[1][1] == "x" * spreadsheets.MAX_CELL_CHARACTERS + "…"


def test_a_zip_bomb_is_refused_before_it_is_inflated() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        # 200 MB of zeros compress to ~200 KB.
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (200 * 1024 * 1024))
    data = buffer.getvalue()
    assert len(data) < 1024 * 1024
    started = time.monotonic()
    with pytest.raises(ProjectError, match="unpacks to 200 MB") as raised:
        spreadsheets.read_sheet(data)
    assert raised.value.code == "too_large"
    assert time.monotonic() - started < 1.0


def test_what_is_no_xlsx_is_a_clear_error() -> None:
    with pytest.raises(ProjectError, match=r"not a valid \.xlsx"):
        spreadsheets.read_sheet(b"PK\x03\x04 not really")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ProjectError, match="cannot be read"):
        spreadsheets.read_sheet(buffer.getvalue())


def database_bytes(tmp_path: Path, script: str) -> bytes:
    path = tmp_path / "made.db"
    connection = sqlite3.connect(path)
    connection.executescript(script)
    connection.commit()
    connection.close()
    return path.read_bytes()


def test_a_database_lists_its_tables_and_pages_through_rows(tmp_path: Path) -> None:
    data = database_bytes(
        tmp_path,
        "create table people (id integer primary key, name text, photo blob);"
        "create table empty_one (x);"
        "create view adults as select name from people where id > 5;"
        "with recursive c(n) as (select 0 union all select n + 1 from c where n < 249) "
        "insert into people (name, photo) select 'person ' || n, x'00ff' from c;",
    )
    first = sqlite_browser.browse(data, "people")
    assert first.tables == ["empty_one", "people", "adults"]
    assert first.columns == ["id", "name", "photo"]
    assert first.rows[0] == ["1", "person 0", "<2 bytes>"]
    assert len(first.rows) == sqlite_browser.PAGE_ROWS and first.has_next
    assert first.total_rows == 250 and (first.first_row, first.last_row) == (1, 100)
    last = sqlite_browser.browse(data, "people", 2)
    assert len(last.rows) == 50 and not last.has_next and last.rows[-1][1] == "person 249"
    assert sqlite_browser.browse(data, "adults").rows[0] == ["person 5"]
    # A name that is no table of the database shows the first one; never read as SQL.
    assert sqlite_browser.browse(data, 'people"; drop table people; --').table == "empty_one"


def test_a_huge_table_is_read_a_page_at_a_time_within_the_time_limit(tmp_path: Path) -> None:
    data = database_bytes(
        tmp_path,
        "create table big (n integer, text text);"
        "with recursive c(n) as (select 1 union all select n + 1 from c where n < 300000) "
        "insert into big select n, printf('%0200d', n) from c;",
    )
    started = time.monotonic()
    page = sqlite_browser.browse(data, "big", 1000)
    assert time.monotonic() - started < sqlite_browser.TIME_LIMIT_SECONDS + 1
    assert page.rows[0][0] == "100001"
    assert len(page.rows[0][1]) == 200


def test_a_crafted_schema_cannot_attach_load_or_run_forever(tmp_path: Path) -> None:
    data = database_bytes(
        tmp_path,
        "create table t (x);"
        "insert into t values (1);"
        "create view forever as with recursive c(n) as (select 1 union all select n + 1 from c)"
        " select count(*) from c;"
        "create view loads as select load_extension('/tmp/evil.so') as x;"
        "create view reads_a_file as select readfile('/etc/passwd') as x;",
    )
    started = time.monotonic()
    with pytest.raises(ProjectError, match="took longer than"):
        sqlite_browser.browse(data, "forever")
    assert time.monotonic() - started < sqlite_browser.TIME_LIMIT_SECONDS + 1
    with pytest.raises(ProjectError, match="cannot be read"):
        sqlite_browser.browse(data, "loads")
    with pytest.raises(ProjectError, match="cannot be read"):
        sqlite_browser.browse(data, "reads_a_file")
    assert sqlite_browser.browse(data, "t").rows == [["1"]]


def test_attach_and_writes_are_refused_by_the_connection_itself(tmp_path: Path) -> None:
    data = database_bytes(tmp_path, "create table t (x); insert into t values ('kept');")
    with sqlite_browser._connection(data) as connection:
        for statement in (
            f"attach database '{tmp_path / 'other.db'}' as other",
            "insert into t values ('written')",
            "pragma writable_schema = 1",
            "select load_extension('/tmp/evil.so')",
        ):
            with pytest.raises(sqlite3.Error):
                connection.execute(statement)
    assert not (tmp_path / "other.db").exists()


def test_cells_are_bounded_and_what_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    data = database_bytes(
        tmp_path, "create table t (x); insert into t values (printf('%.*c', 5000, 'y'));"
    )
    assert sqlite_browser.browse(data).rows[0][0] == "y" * 500 + "…"
    with pytest.raises(ProjectError, match="not a SQLite database"):
        sqlite_browser.browse(b"hello")
    (tmp_path / "empty").mkdir()
    emptied = database_bytes(tmp_path / "empty", "create table t (x); drop table t;")
    assert sqlite_browser.browse(emptied).tables == []


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lollollollollollollollollollol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    "</sheetData></worksheet>"
)


def test_an_entity_bomb_in_a_sheet_is_not_expanded() -> None:
    source = zipfile.ZipFile(io.BytesIO(sales_workbook()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in source.infolist():
            body = source.read(entry)
            if entry.filename == "xl/worksheets/sheet1.xml":
                body = LAUGHS.encode()
            archive.writestr(entry.filename, body)
    started = time.monotonic()
    try:
        sheet = spreadsheets.read_sheet(buffer.getvalue())
    except ProjectError as error:
        assert "cannot be read" in error.message
    else:
        assert all(len(cell) <= spreadsheets.MAX_CELL_CHARACTERS + 1 for cell in sheet.rows[0])
    assert time.monotonic() - started < 2.0


def test_a_malformed_schema_is_a_clear_error(tmp_path: Path) -> None:
    data = database_bytes(
        tmp_path,
        "create table t (x);"
        "pragma writable_schema = on;"
        "update sqlite_master set sql = 'create table t (x' where name = 't';",
    )
    with pytest.raises(ProjectError, match="cannot be read here"):
        sqlite_browser.browse(data)
