"""Malformed and awkward files: each is refused with its specific sentence, and nothing is stored.

Every case imports through `import_dataset` (read + profile + store) and then checks that every
file under the data home is byte-for-byte what it was before.
"""

from __future__ import annotations

import gzip
import io
import os
import resource
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from predictml_desktop.core.ingest import IngestError, import_dataset, list_sheets, read_table
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.settings import Limits
from predictml_desktop.core.store import Store
from tests.core.ingest_helpers import (
    SHEET,
    forge_declared_size,
    overlapping_zip,
    rewrite_zip,
    sheet_rows,
    small_workbook,
    snapshot,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return build


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _parquet(name: str, table: Callable[[], object], *, cut: int = 0) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        import pyarrow.parquet as pq

        path = folder / name
        pq.write_table(table(), path)
        if cut:
            data = path.read_bytes()
            path.write_bytes(data[:-cut])
        return path

    return build


def _arrow(columns: dict[str, object]) -> Callable[[], object]:
    def make() -> object:
        import pyarrow as pa

        return pa.table(columns)

    return make


def _folder(folder: Path) -> Path:
    path = folder / "a_folder.csv"
    path.mkdir()
    return path


def _missing(folder: Path) -> Path:
    return folder / "not_there.csv"


def _dangling_link(folder: Path) -> Path:
    path = folder / "link.csv"
    path.symlink_to(folder / "gone.csv")
    return path


def _workbook_with(replace: dict[str, bytes], name: str = "book.xlsx") -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        src = small_workbook(folder / "src.xlsx")
        out = rewrite_zip(src, folder / name, replace)
        src.unlink()
        return out

    return build


def _sheet_xml(rows: list[list[object]]) -> bytes:
    cells = []
    for r, row in enumerate(rows, start=1):
        parts = []
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if value is None:
                continue
            if isinstance(value, str):
                parts.append(f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>')
            else:
                parts.append(f'<c r="{ref}"><v>{value}</v></c>')
        cells.append(f'<row r="{r}">{"".join(parts)}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        f'2006/main"><sheetData>{"".join(cells)}</sheetData></worksheet>'
    ).encode()


_BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol4;</t></is></c></row></sheetData></worksheet>'
)


def _ole2(payload: bytes) -> bytes:
    # An OLE2 compound file: what Excel writes for .xls, and for an .xlsx protected with a password
    # (the package then sits encrypted in a stream named "EncryptedPackage").
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + payload + b"\x00" * 512


@dataclass
class Case:
    id: str
    build: Callable[[Path], Path]
    message: str
    code: str
    limits: Limits | None = None


CASES = [
    Case("empty", _write("empty.csv", b""), r"^empty\.csv is empty \(0 bytes\)\.$", "empty"),
    Case("blank-lines", _write("blank.csv", b"\n\n\r\n\n"), r"^blank\.csv has no data \(only blank lines", "empty"),
    Case("spaces-only", _write("spaces.csv", b"   \n \t \n"), r"^spaces\.csv has no data", "empty"),
    Case("header-only", _write("header.csv", b"a,b,c\n"), r"^header\.csv has a header row but no data rows\.$",
         "header_only"),
    Case("header-only-semicolon-crlf", _write("header2.csv", b"a;b;c\r\n\r\n"),
         r"^header2\.csv has a header row but no data rows\.$", "header_only"),
    Case("png-renamed", _write("picture.csv", PNG), r"^picture\.csv is not a text table: it is a PNG image", "binary"),
    Case("gzip-renamed", _write("data.csv", gzip.compress(b"a,b\n1,2\n")),
         r"^data\.csv is not a text table: it is a gzip-compressed file", "binary"),
    Case("zip-renamed", _write("data.tsv", _zip_bytes({"a.csv": b"a,b\n1,2\n"})),
         r"^data\.tsv is not a text table: it is a zip archive", "binary"),
    Case("random-binary", _write("noise.txt", bytes(range(256)) * 40),
         r"^noise\.txt is not a text table: it holds binary data", "binary"),
    Case("utf16-without-bom", _write("wide.csv", "a,b\n1,2\n3,4\n".encode("utf-16-le")),
         r"^wide\.csv looks like UTF-16 text without a byte-order mark; save it as UTF-8", "encoding"),
    Case("shift-jis", _write("japan.csv", "名前,値\n東京,1\n大阪,2\n京都,3\n".encode("shift_jis")),
         r"^japan\.csv is not UTF-8 text \(first undecodable byte on line 1, position 1\); it looks like "
         r"Shift-JIS \(Japanese\)", "encoding"),
    Case("xls-extension", _write("old.xls", _ole2(b"Workbook")),
         r"^old\.xls is an old-format Excel workbook \(\.xls\), which is not supported; open it in Excel and "
         r"save it as \.xlsx or CSV\.$", "xls"),
    Case("json-extension", _write("data.json", b'{"a": 1}'),
         r"^data\.json has the extension \.json; PredictML reads only these file types: \.csv \.tsv \.txt "
         r"\.xlsx \.xlsm \.parquet\.$", "extension"),
    Case("no-extension", _write("README", b"a,b\n1,2\n"), r"^README has no extension; PredictML reads only",
         "extension"),
    Case("xlsb", _write("book.xlsb", b"whatever"), r"^book\.xlsb is a \.xlsb spreadsheet, which is not supported",
         "extension"),
    Case("ragged-long-row", _write("ragged.csv", b"a,b,c\n1,2,3\n4,5,6,7\n"),
         r"^Line 3 of ragged\.csv has 4 values but the header has 3 columns", "ragged_row"),
    Case("ragged-short-row", _write("short.csv", b"a,b,c\n1,2,3\n4,5\n7,8,9\n"),
         r"^Line 3 of short\.csv has 2 values but the header has 3 columns", "ragged_row"),
    Case("ragged-short-row-quoted", _write("shortq.csv", b'a,b,c\n"x\ny",2,3\n"p,q",5\n7,8,9\n'),
         r"^Line 4 of shortq\.csv has 2 values but the header has 3 columns", "ragged_row"),
    Case("ragged-short-last-row-no-newline", _write("shortend.csv", b"a,b,c\n1,2,3\n4,5"),
         r"^Line 3 of shortend\.csv has 2 values", "ragged_row"),
    Case("short-row-after-leading-blank-lines", _write("lead.csv", b"\n  \na,b,c\n1,2\n4,5,6\n"),
         r"^Line 4 of lead\.csv has 2 values but the header has 3 columns", "ragged_row"),
    Case("long-row-after-a-multiline-value", _write("longq.csv", b'a,b\n"x\ny\nz",1\n1,2,3\n'),
         r"^Line 5 of longq\.csv has 3 values but the header has 2 columns", "ragged_row"),
    Case("extra-value-every-row", _write("extra.csv", b"a,b\n1,2,3\n4,5,6\n"),
         r"^The data rows of extra\.csv have one more value than the header has column names", "ragged_row"),
    Case("unclosed-quote", _write("quote.csv", b'a,b\n1,2\n3,"4\n5,6\n'),
         r"^quote\.csv has a double quote that is never closed, in the value starting on row 3", "unclosed_quote"),
    Case("nul-byte", _write("nul.csv", b"a,b\n1,2\n3,x\x00y\n"),
         r"^nul\.csv contains a NUL byte on line 3, position 4 \(column 'b'\)", "nul"),
    Case("nul-byte-utf16", _write("nul16.csv", "a,b\n1,x\x00y\n".encode("utf-16")),
         r"^nul16\.csv contains a NUL character on line 2, position 4 \(column 'b'\)", "nul"),
    Case("duplicate-headers", _write("dupes.csv", b"a,b,a\n1,2,3\n"),
         r"^dupes\.csv has 2 columns named 'a' \(columns 1, 3\); rename them", "duplicate_header"),
    Case("blank-header", _write("blankh.csv", b"a,,c\n1,2,3\n"),
         r"^Column 2 of blankh\.csv has no name in the header row", "blank_header"),
    Case("blank-first-header-index-export", _write("index.csv", b",a,b\n0,1,2\n1,3,4\n"),
         r"^Column 1 of index\.csv has no name in the header row", "blank_header"),
    Case("cell-over-limit", _write("long.csv", b"a,b\n1," + b"x" * 150 + b"\n"),
         r"^A value in column 'b' of long\.csv \(data row 1\) is 150 characters long, over the limit of 100 "
         r"characters per cell\.$", "cell_too_long", Limits(max_cell_chars=100)),
    Case("header-over-cell-limit", _write("longh.csv", b"a," + b"h" * 150 + b"\n1,2\n"),
         r"^The name of column 2 of longh\.csv is 150 characters long", "cell_too_long", Limits(max_cell_chars=100)),
    Case("over-size-limit", _write("big.csv", b"a,b\n" + b"1,2\n" * 1000),
         r"^big\.csv is 4 KB, over the limit of 1 KB", "too_large", Limits(max_file_bytes=1024)),
    Case("over-row-limit", _write("rows.csv", b"a,b\n" + b"1,2\n" * 11),
         r"^rows\.csv has more than 10 data rows \(the limit\)", "too_many_rows", Limits(max_rows=10)),
    Case("over-row-limit-multiline", _write("rowsq.csv", b"a,b\n" + b'"x\ny",2\n' * 11),
         r"^rowsq\.csv has more than 10 data rows", "too_many_rows", Limits(max_rows=10)),
    Case("over-column-limit", _write("cols.csv", b"a,b,c,d,e,f\n1,2,3,4,5,6\n"),
         r"^cols\.csv has 6 columns, over the limit of 5", "too_many_columns", Limits(max_columns=5)),
    Case("one-row-20000-columns", _write("wide.csv", (",".join(f"c{i}" for i in range(20_000)) + "\n"
                                                       + ",".join("1" * 20_000) + "\n").encode()),
         r"^wide\.csv has 20,000 columns, over the limit of 500", "too_many_columns"),
    Case("folder", _folder, r"a_folder\.csv is a folder, not a file", "folder"),
    Case("missing", _missing, r"^The file .*not_there\.csv does not exist\.$", "not_found"),
    Case("dangling-symlink", _dangling_link, r"^The file .*link\.csv does not exist\.$", "not_found"),
    # Workbooks.
    Case("xlsx-that-is-text", _write("text.xlsx", b"a,b\n1,2\n"),
         r"^text\.xlsx is not an Excel workbook \(it is not a zip package\); if it is a CSV file, give it a \.csv "
         r"name\.$", "not_workbook"),
    Case("xlsx-truncated", lambda f: _write("cut.xlsx", small_workbook(f / "s.xlsx").read_bytes()[:600])(f),
         r"^cut\.xlsx is damaged or not an Excel workbook", "not_workbook"),
    Case("zip-without-workbook", _write("plain.xlsx", _zip_bytes({"notes.txt": b"hello"})),
         r"^plain\.xlsx could not be read as an Excel workbook", "not_workbook"),
    Case("xls-renamed-xlsx", _write("renamed.xlsx", _ole2(b"Workbook")),
         r"^renamed\.xlsx is an old-format Excel workbook \(\.xls\) with an \.xlsx name", "xls"),
    Case("encrypted-xlsx", _write("secret.xlsx", _ole2("EncryptionInfo\0EncryptedPackage".encode("utf-16-le"))),
         r"^secret\.xlsx is password-protected; open it in Excel, remove the password", "encrypted"),
    Case("zip-bomb-ratio", _workbook_with({SHEET: b"<" + b"\x00" * (60 << 20)}, "bomb.xlsx"),
         r"^bomb\.xlsx contains a part \(xl/worksheets/sheet1\.xml\) compressed [\d,]+ times, beyond the limit of "
         r"200; it looks like a zip bomb", "zip_bomb"),
    Case("zip-declared-over-budget", _workbook_with({}, "large.xlsx"),
         r"^large\.xlsx would expand to \d+ KB when unpacked, over the limit of 1 KB", "zip_bomb",
         Limits(max_decompressed_bytes=1024)),
    Case("zip-overlapping-entries", lambda f: overlapping_zip(f / "overlap.xlsx"),
         r"^overlap\.xlsx has overlapping parts, a trick used by zip bombs", "zip_bomb"),
    Case("zip-forged-small-size", lambda f: forge_declared_size(
        rewrite_zip(small_workbook(f / "s.xlsx"), f / "big.xlsx", {SHEET: sheet_rows(50_000)}), f / "forged.xlsx",
        SHEET, 5_000),
         r"^forged\.xlsx could not be read as an Excel workbook \(Bad CRC-32", "not_workbook"),
    Case("xml-bomb", _workbook_with({SHEET: _BILLION_LAUGHS}, "laughs.xlsx"),
         r"^laughs\.xlsx contains XML entity declarations, which Excel never writes", "xml_bomb"),
    Case("xlsx-empty-sheet", _workbook_with({SHEET: _sheet_xml([])}, "blank.xlsx"),
         r"^sheet 'Data' of blank\.xlsx is empty\.$", "empty"),
    Case("xlsx-header-only", _workbook_with({SHEET: _sheet_xml([["a", "b"]])}, "hdr.xlsx"),
         r"^sheet 'Data' of hdr\.xlsx has a header row but no data rows\.$", "header_only"),
    Case("xlsx-duplicate-header", _workbook_with({SHEET: _sheet_xml([["a", "a"], [1, 2]])}, "dup.xlsx"),
         r"^sheet 'Data' of dup\.xlsx has 2 columns named 'a' \(columns 1, 2\)", "duplicate_header"),
    Case("xlsx-blank-header", _workbook_with({SHEET: _sheet_xml([["a", None, "c"], [1, 2, 3]])}, "gap.xlsx"),
         r"^Column 2 of sheet 'Data' of gap\.xlsx has no name in the header row", "blank_header"),
    Case("xlsx-value-beyond-header", _workbook_with({SHEET: _sheet_xml([["a", "b"], [1, 2, 3]])}, "beyond.xlsx"),
         r"^Row 2 of sheet 'Data' of beyond\.xlsx has a value in column 3, which has no name", "blank_header"),
    Case("xlsx-cell-over-limit", _workbook_with({SHEET: _sheet_xml([["a"], ["y" * 80]])}, "cell.xlsx"),
         r"^A value in column 'a' of sheet 'Data' of cell\.xlsx \(row 2\) is 80 characters long", "cell_too_long",
         Limits(max_cell_chars=50)),
    Case("xlsx-over-column-limit", _workbook_with({SHEET: _sheet_xml([list("abcdef"), [1, 2, 3, 4, 5, 6]])},
                                                  "cols.xlsx"),
         r"^sheet 'Data' of cols\.xlsx has 6 columns, over the limit of 5", "too_many_columns", Limits(max_columns=5)),
    Case("parquet-not-parquet", _write("renamed.parquet", b"a,b\n1,2\n"),
         r"^renamed\.parquet is not a Parquet file \(it does not start with Parquet's signature\)", "not_parquet"),
    Case("parquet-truncated", _parquet("cut.parquet", _arrow({"a": [1, 2, 3]}), cut=20),
         r"^cut\.parquet is incomplete or damaged: it does not end with Parquet's signature", "damaged"),
    Case("parquet-damaged-footer", _write("footer.parquet", b"PAR1" + b"\x00" * 64 + b"\xff\xff\x00\x00PAR1"),
         r"^footer\.parquet could not be read as a Parquet file: ", "damaged"),
    Case("parquet-list-column", _parquet("lists.parquet", _arrow({"a": [1, 2], "tags": [["x"], ["y", "z"]]})),
         r"^Column 'tags' of lists\.parquet holds lists \(list<element: string>\), which PredictML cannot use",
         "column_type"),
    Case("parquet-binary-column", _parquet("bytes.parquet", _arrow({"a": [1, 2], "blob": [b"\x00", b"\x01"]})),
         r"^Column 'blob' of bytes\.parquet holds raw bytes \(binary\)", "column_type"),
    Case("parquet-blank-name", _parquet("blank.parquet", _arrow({"a": [1, 2], "": [3, 4]})),
         r"^Column 2 of blank\.parquet has no name in the header row", "blank_header"),
    Case("parquet-no-rows", _parquet("empty.parquet", _arrow({"a": [], "b": []})),
         r"^empty\.parquet has column names but no data rows\.$", "header_only"),
    Case("parquet-over-row-limit", _parquet("rows.parquet", _arrow({"a": list(range(20))})),
         r"^rows\.parquet has 20 data rows, over the limit of 10;", "too_many_rows", Limits(max_rows=10)),
    Case("parquet-over-column-limit", _parquet("wide.parquet", _arrow({f"c{i}": [i] for i in range(6)})),
         r"^wide\.parquet has 6 columns, over the limit of 5", "too_many_columns", Limits(max_columns=5)),
    Case("parquet-long-cell", _parquet("long.parquet", _arrow({"a": [1, 2], "t": ["ok", "x" * 50]})),
         r"^A value in column 't' of long\.parquet \(data row 2\) is 50 characters long, over the limit of 40",
         "cell_too_long", Limits(max_cell_chars=40)),
    Case("parquet-named-csv", _parquet("data.csv", _arrow({"a": [1, 2]})),
         r"^data\.csv is not a text table: it is a Parquet file with a \.csv name\. Rename it to end in \.parquet "
         r"and open it again\.$", "binary"),
    Case("xlsx-over-row-limit", _workbook_with({SHEET: b"".join(sheet_rows(20))}, "rows.xlsx"),
         r"^sheet 'Data' of rows\.xlsx has more than 10 data rows", "too_many_rows", Limits(max_rows=10)),
]


def test_there_are_at_least_30_cases() -> None:
    assert len(CASES) >= 30


@pytest.fixture
def store(predictml_home: Path) -> Store:
    s = Store(Paths(predictml_home))
    s.startup()
    # A dataset already stored: a refused import must leave it, and everything else, untouched.
    good = predictml_home.parent / "good.csv"
    good.write_bytes(b"x,y\n1,2\n3,4\n")
    import_dataset(s, good)
    return s


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_with_its_sentence_and_nothing_stored(case: Case, store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path = case.build(folder)
    before = snapshot(store.paths.home)
    started = time.perf_counter()
    with pytest.raises(IngestError) as info:
        import_dataset(store, path, limits=case.limits or Limits())
    assert time.perf_counter() - started < 5  # hostile files included: refused within seconds
    message = str(info.value)
    assert info.value.code == case.code, message
    assert "\n" not in message and "Traceback" not in message
    import re

    assert re.search(case.message, message), message
    assert snapshot(store.paths.home) == before


def test_unreadable_file(store: Store, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions, so an unreadable file cannot be made here")
    path = tmp_path / "locked.csv"
    path.write_bytes(b"a,b\n1,2\n")
    path.chmod(0)
    before = snapshot(store.paths.home)
    with pytest.raises(IngestError, match="not allowed to read"):
        import_dataset(store, path)
    assert snapshot(store.paths.home) == before


def test_a_file_deleted_after_it_was_chosen(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "gone.csv"
    path.write_bytes(b"a,b\n1,2\n")
    seen = []

    def progress(fraction: float) -> None:
        if not seen:
            seen.append(fraction)
            path.unlink()  # the file disappears while it is being read

    before = snapshot(store.paths.home)
    # The open handle keeps reading the deleted file on POSIX; what matters is that the copy into
    # uploads/ then fails cleanly and nothing is stored.
    with pytest.raises(IngestError) as info:
        import_dataset(store, path, progress=progress)
    assert info.value.code in {"not_found", "copy_failed"}, str(info.value)
    assert snapshot(store.paths.home) == before


def test_sheet_that_does_not_exist(store: Store, tmp_path: Path) -> None:
    path = small_workbook(tmp_path / "book.xlsx")
    before = snapshot(store.paths.home)
    with pytest.raises(IngestError, match=r"^book\.xlsx has no worksheet named 'Nope'; its sheets are: 'Data'\.$"):
        import_dataset(store, path, sheet="Nope")
    assert snapshot(store.paths.home) == before


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow
def test_xlsx_inflating_to_millions_of_rows_is_refused_while_streaming(store: Store, tmp_path: Path) -> None:
    src = small_workbook(tmp_path / "src.xlsx")
    path = rewrite_zip(src, tmp_path / "millions.xlsx", {SHEET: sheet_rows(3_000_000)})
    with zipfile.ZipFile(path) as zf:
        declared = zf.getinfo(SHEET).file_size
    assert declared > 150_000_000  # three million rows of XML
    before = snapshot(store.paths.home)
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    with pytest.raises(IngestError, match=r"has more than 100,000 data rows \(the limit\)"):
        import_dataset(store, path, limits=Limits(max_rows=100_000))
    elapsed = time.perf_counter() - started
    assert elapsed < 20, f"took {elapsed:.1f} s"
    # Refused after 100,001 rows, long before the three million were held in memory.
    assert _peak_rss_mb() - rss_before < 200
    assert snapshot(store.paths.home) == before


def test_oversized_csv_is_refused_by_stat_before_reading(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.write(b"a,b\n1,2\n")
        fh.truncate(300 * 1024 * 1024)  # sparse: 300 MB on paper, nothing on disk
    started = time.perf_counter()
    with pytest.raises(IngestError, match=r"^huge\.csv is 300 MB, over the limit of 200 MB"):
        read_table(path, limits=Limits())
    assert time.perf_counter() - started < 2


def test_csv_over_the_row_limit_is_refused_without_loading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 2_000_000)
    seen: list[float] = []
    with pytest.raises(IngestError, match=r"more than 1,000 data rows"):
        read_table(path, limits=Limits(max_rows=1_000), progress=seen.append)
    # The parser was fed only the first lines: progress never got near the end of the file.
    assert max(seen) < 0.1


def test_defusedxml_guards_openpyxl() -> None:
    import defusedxml  # noqa: F401 - its presence is what makes openpyxl refuse XML bombs
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML is True


def test_list_sheets_refuses_a_bomb_before_decompressing(tmp_path: Path) -> None:
    path = overlapping_zip(tmp_path / "overlap.xlsx")
    with pytest.raises(IngestError, match="overlapping parts"):
        list_sheets(path)
