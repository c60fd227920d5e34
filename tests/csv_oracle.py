"""Which rows of a cut-off CSV file are complete: the oracle of the truncation fuzz tests.

Why the csv module and not a byte search for line ends: a quoted field may
hold a line break (CRLF included), so the first CRLF after a row's start is
not necessarily that row's end. An oracle fooled by one counts a row as
complete that the cut actually split, and the test then fails by chance
whenever hypothesis draws such a field. Parsing the cut bytes as CSV knows
which line breaks are inside quotes.
"""

from __future__ import annotations

import csv
import io


def complete_records(cut: bytes, encoding: str = "utf-8", lineterminator: str = "\r\n") -> list[list[str]]:
    """The records (header included) of ``cut`` that end, terminator and all, before the cut.

    A record the cut fell inside is not returned: one that ends inside an
    open quoted field (``strict`` makes the csv module raise there instead of
    closing the field), and the last one when the file does not end with its
    terminator (its last field may have lost characters).
    """
    text = cut.decode(encoding, errors="replace")  # a cut may split the last character: only that record suffers
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), strict=True):
            records.append(record)
    except csv.Error:
        return records  # the cut fell inside a quoted field: the partial record was not yielded
    if records and not text.endswith(lineterminator):
        records.pop()
    return records
