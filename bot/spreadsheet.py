"""CSV files the administrator opens in a spreadsheet: no cell may run as a formula.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with = + - or @ (and
some also after a tab or carriage return), even in a CSV. Names come from the school's
export and could start with anything, so every cell the product writes goes through
`safe_cell`: such a value gets a leading apostrophe, which the spreadsheet shows as
text and does not evaluate (OWASP's advice for CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # Leading spaces do not stop Excel from evaluating "  =1+1" either.
    if text.lstrip(" ").startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A ;-separated CSV (what a Dutch spreadsheet opens directly), every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow([safe_cell(cell) for cell in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()
