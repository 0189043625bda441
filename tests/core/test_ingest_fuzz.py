"""Generated RFC 4180 files with random quoting, newlines and row lengths, checked against Python's csv.

Each file is either read to exactly the records Python's ``csv`` module sees, or refused as a ragged
row naming a line where a record of the wrong length is: pandas pads short rows silently, so this
checks the byte-level short-row scan (quote parity across chunk boundaries included) as well.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import pytest

from predictml_desktop.core.ingest import IngestError, read_table

PLAIN = "abcdefghij XYZ"
OUTCOMES: list[bool] = []
SPECIAL = 'abc,;|\t"\n\r '


def _field(rng: random.Random, delimiter: str) -> str:
    if rng.random() < 0.1:
        return ""
    if rng.random() < 0.4:
        text = "".join(rng.choice(SPECIAL) for _ in range(rng.randint(1, 6)))
        text = "q" + text  # always text, never a number
        return '"' + text.replace('"', '""') + '"'
    return "p" + "".join(rng.choice(PLAIN) for _ in range(rng.randint(0, 5)))


def _make(rng: random.Random, n_rows: int) -> tuple[str, str, str]:
    delimiter = rng.choice([",", ";", "\t", "|"])
    newline = rng.choice(["\n", "\r\n"])
    width = rng.randint(2, 6)
    bad_rate = rng.choice([0.0, 0.02, 0.05, 0.2])  # a quarter of the files are surely clean
    lines = [delimiter.join(f"col{i}" for i in range(width))]
    for _ in range(n_rows):
        n = width
        roll = rng.random()
        if roll < bad_rate * 0.6:
            n = width - rng.randint(1, width - 1)
        elif roll < bad_rate:
            n = width + 1
        lines.append(delimiter.join(_field(rng, delimiter) for _ in range(n)))
        if rng.random() < 0.03:
            lines.append("")  # a blank line, which both pandas and csv skip
    text = newline.join(lines) + (newline if rng.random() < 0.8 else "")
    return text, delimiter, newline


def _oracle(text: str, delimiter: str) -> tuple[list[list[str]], set[int]]:
    """The records Python's csv sees, and every line on which a record with a wrong length lies."""
    # Lines as pandas and most tools number them: ended by LF (a CR inside a quoted value is not a
    # line break), so csv.reader's line_num counts the same way.
    lines = re.findall(r"[^\n]*\n|[^\n]+$", text)
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader)
    rows: list[list[str]] = []
    bad_lines: set[int] = set()
    first_line = reader.line_num + 1
    for record in reader:
        if record and len(record) != len(header):
            bad_lines.update(range(first_line, reader.line_num + 1))
        elif record:
            rows.append(record)
        first_line = reader.line_num + 1
    return [header, *rows], bad_lines


@pytest.mark.parametrize("seed", range(60))
def test_random_files_match_pythons_csv(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    n_rows = rng.choice([5, 50, 400]) if seed % 10 else 150_000  # a few span several 4 MB chunks
    text, delimiter, _ = _make(rng, n_rows)
    path = tmp_path / "random.csv"
    path.write_bytes(text.encode("utf-8"))
    records, bad_lines = _oracle(text, delimiter)
    OUTCOMES.append(bool(bad_lines))
    if not bad_lines:
        frame = read_table(path).frame
        assert list(frame.columns) == records[0]
        got = [["" if v != v else v for v in row] for row in frame.itertuples(index=False, name=None)]
        assert got == records[1:]
        return
    with pytest.raises(IngestError) as info:
        read_table(path)
    # Refused as a ragged row, naming a line where a record of the wrong length really is.
    assert info.value.code == "ragged_row", str(info.value)
    assert info.value.line in bad_lines, (str(info.value), sorted(bad_lines)[:10])


def test_the_generated_files_were_a_mix_of_good_and_ragged() -> None:
    if len(OUTCOMES) < 60:
        pytest.skip("runs after the generated-file tests")
    assert 15 <= sum(OUTCOMES) <= 50
