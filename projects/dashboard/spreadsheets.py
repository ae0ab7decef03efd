"""A spreadsheet (``.xlsx``) made by the agent, as tables for its viewer: the sheets' names
and one sheet's first rows and columns.

The file is hostile, so it is read with bounds before and while openpyxl parses it:

- the zip's declared uncompressed sizes are checked first (a zip bomb is refused before a
  byte is inflated; Python's zipfile never inflates an entry past its declared size);
- openpyxl reads in read-only mode (rows streamed, nothing kept), ``data_only`` (the values
  the file has cached: formulas are never evaluated, and openpyxl has no evaluator anyway),
  without external links or macros;
- only ``MAX_ROWS`` x ``MAX_COLUMNS`` cells are taken, whatever dimensions the sheet
  claims, and each cell's text is cut at ``MAX_CELL_CHARACTERS``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time

from openpyxl import load_workbook

from projects.errors import ProjectError

MAX_ROWS = 500
MAX_COLUMNS = 50
MAX_CELL_CHARACTERS = 500
MAX_SHEETS = 50
# The sum of the entries' declared uncompressed sizes, and one entry's.
MAX_UNCOMPRESSED_BYTES = 100 * 1024 * 1024
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Sheet:
    names: list[str]  # every sheet's name (the first MAX_SHEETS), for the tabs
    name: str  # the sheet shown
    rows: list[list[str]]
    more_rows: bool
    more_columns: bool


def check_archive(data: bytes) -> None:
    """Refuse what is no xlsx, or would inflate past the bounds, before parsing it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ProjectError("This is not a valid .xlsx file (it is no zip archive).") from error
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise ProjectError(f"This .xlsx holds {len(entries)} parts; it cannot be shown here.")
    total = sum(entry.file_size for entry in entries)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise ProjectError(
            f"This .xlsx unpacks to {total / 1024 / 1024:.0f} MB, more than the "
            f"{MAX_UNCOMPRESSED_BYTES // 1024 // 1024} MB shown here; download it instead.",
            "too_large",
        )


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime) and value.time() == time(0):
        text = value.date().isoformat()
    elif isinstance(value, date | time):
        text = value.isoformat()
    else:
        text = str(value)
    if len(text) > MAX_CELL_CHARACTERS:
        return text[:MAX_CELL_CHARACTERS] + "…"
    return text


def read_sheet(data: bytes, sheet: str | None = None) -> Sheet:
    """The sheet named ``sheet`` (the first one if None or unknown), bounded."""
    check_archive(data)
    try:
        workbook = load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False, keep_vba=False
        )
    except Exception as error:  # openpyxl raises many kinds on a broken file
        raise ProjectError(f"This .xlsx file cannot be read: {type(error).__name__}.") from error
    try:
        names = list(workbook.sheetnames)[:MAX_SHEETS]
        if not names:
            raise ProjectError("This .xlsx file has no sheets.")
        name = sheet if sheet in names else names[0]
        worksheet = workbook[name]
        rows: list[list[str]] = []
        more_rows = False
        # The dimension the sheet claims (it may lie; it only decides the note).
        more_columns = (worksheet.max_column or 0) > MAX_COLUMNS
        try:
            for values in worksheet.iter_rows(
                max_row=MAX_ROWS + 1, max_col=MAX_COLUMNS + 1, values_only=True
            ):
                if len(rows) == MAX_ROWS:
                    more_rows = True
                    break
                cells = list(values)
                if len(cells) > MAX_COLUMNS:
                    more_columns = more_columns or any(v is not None for v in cells[MAX_COLUMNS:])
                    cells = cells[:MAX_COLUMNS]
                rows.append([cell_text(value) for value in cells])
        except Exception as error:
            raise ProjectError(
                f"The sheet {name!r} cannot be read: {type(error).__name__}."
            ) from error
        while rows and not any(rows[-1]):  # a claimed dimension pads with empty rows
            rows.pop()
        # Trailing empty columns (a sheet that claims a wide dimension) are not shown.
        width = max((i + 1 for row in rows for i, v in enumerate(row) if v), default=0)
        return Sheet(
            names=names,
            name=name,
            rows=[row[:width] + [""] * (width - len(row[:width])) for row in rows],
            more_rows=more_rows,
            more_columns=more_columns,
        )
    finally:
        workbook.close()
