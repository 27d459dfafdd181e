"""Settlement reports as CSV: one row per member and window, the columns of `ReportRow` in order."""

from __future__ import annotations

import csv
import io

from .models import ReportRow

REPORT_COLUMNS = tuple(ReportRow.__struct_fields__)


def report_csv(rows: list[ReportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for row in rows:
        writer.writerow([getattr(row, c) for c in REPORT_COLUMNS])
    return out.getvalue()
