"""Where rows come from: a CSV/Parquet file, scikit-learn's bundled sets, or synthetic data.

Each source returns one raw DataFrame (features and target side by side) and the target's name; nothing
here encodes, scales or splits.
"""

from __future__ import annotations

import bz2
import gzip
import inspect
import lzma
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from harness.data.numbers import read_formatted_numbers
from harness.errors import HarnessError

BUNDLED = ("diabetes", "breast_cancer", "wine", "iris", "digits")
SYNTHETIC = ("linear",)
# The first lesson of the PyTorch workflow: a straight line with known weight and bias to recover.
LINEAR_WEIGHT, LINEAR_BIAS, LINEAR_ROWS = 0.7, 0.3, 1000
CSV_SUFFIXES, PARQUET_SUFFIXES = (".csv", ".txt", ".tsv"), (".parquet", ".pq")
# A .csv whose header has no comma but one of these was written with that separator, and is read with it.
OTHER_SEPARATORS = {";": "semicolon", "\t": "tab", "|": "pipe"}
# A CSV that is not UTF-8 is read as Windows-1252, as Excel on Windows saves "CSV" in Western Europe and
# the Americas (Montréal, Zürich), when its bytes are text in it; anything else is refused, saying how to
# convert it.
WINDOWS = "cp1252"
# Numbers as a European CSV writes them: 3,75  -0,5  ,25  1,2e-3, with dots between thousands: 1.234,5
DECIMAL_COMMA = r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d*),\d+(?:[eE][+-]?\d+)?"
WHOLE = r"[+-]?\d+"
DOT_THOUSANDS = r"[+-]?\d{1,3}(?:\.\d{3})+,\d+"
# pd.read_parquet's defaults peaked at 3.1x the table here (1M rows x 33 float64) and still held 3.1x after:
# the file's bytes read ahead whole, beside the Arrow table, beside the DataFrame copied from it; and Arrow's
# allocator kept what it freed, which numpy and torch cannot use. Without the read-ahead, each column handed
# to pandas as it is (a block of its own; the Arrow table freed as it goes) and the unused memory given back
# (release_arrow_memory): 1.6x at the peak, 1.1x after. The DataFrame is the same.
PARQUET_READ = {"pre_buffer": False, **({"to_pandas_kwargs": {"split_blocks": True, "self_destruct": True}}
                                        if "to_pandas_kwargs" in inspect.signature(pd.read_parquet).parameters
                                        else {})}  # pandas 3.0 and later


def _zip_member(path: Path):
    """The first (for pandas, the only) file in a .zip archive, opened to read."""
    archive = zipfile.ZipFile(path)
    return archive.open(archive.namelist()[0])


# A compressed CSV (data.csv.gz) is read as it is: pandas decompresses by the suffix, and so does the
# look at its header here.
COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".zip": _zip_member}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with a clear message when that is impossible: an empty
    file, a header without rows, bytes that are not UTF-8, a column name given twice. A .csv written with
    semicolons (and decimal commas), tabs or pipes is read as it was written, and a column of numbers
    written as text (`$1,234.56`, `12%`) as numbers."""
    path = Path(path)
    if path.is_dir():
        raise HarnessError(f"{path} is a folder; a table is one .csv or .parquet file")
    if not path.is_file():
        raise HarnessError(f"data file {str(path)!r} not found; give a path to a .csv or .parquet file")
    suffix = table_suffix(path)
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise HarnessError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet (a .csv may be "
                           f"compressed: .csv.gz, .csv.zip)")
    if path.stat().st_size == 0:
        raise HarnessError(f"{path} is empty (0 bytes); a table needs a header row and rows of data")
    if suffix in CSV_SUFFIXES:
        frame = _read_text_table(path, "\t" if suffix == ".tsv" else ",")
    else:
        frame = _read_parquet(path)
    if len(frame) == 0:
        raise HarnessError(f"{path} has a header ({', '.join(map(str, frame.columns[:5]))}) but no rows")
    return read_formatted_numbers(frame)


def table_suffix(path: Path) -> str:
    """The table's own suffix: `.csv` for data.csv and for data.csv.gz; a compressed Parquet file is not
    read (Parquet compresses inside)."""
    suffixes = [s.lower() for s in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in COMPRESSED and suffixes[-2] in CSV_SUFFIXES:
        return suffixes[-2]
    return path.suffix.lower()


def table_stem(path: Path) -> str:
    """The file's name without its table suffix: houses for houses.csv and for houses.csv.gz."""
    return Path(path.stem).stem if table_suffix(path) != path.suffix.lower() else path.stem


def _read_bytes(path: Path, first_line: bool = False) -> bytes:
    """The file's bytes as written before compression (its first line only, with `first_line`)."""
    opener = COMPRESSED.get(path.suffix.lower())
    if opener is None:  # a plain file: read_table has checked it is there
        with path.open("rb") as f:
            return f.readline() if first_line else f.read()
    try:
        with opener(path) as f:
            return f.readline() if first_line else f.read()
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError, IndexError) as err:  # a damaged archive
        raise HarnessError(f"cannot read {path} as a {path.suffix[1:]}-compressed file: {err}") from None


def _read_csv(path: Path, sep: str, decimal: str = ".", thousands: str | None = None,
              encoding: str = "utf-8") -> pd.DataFrame:
    try:
        # skipinitialspace: a file written with ", " between values (UCI's adult) is read without those
        # spaces: its column is 'income', not ' income', and its category 'Private', as a served row writes it
        frame = pd.read_csv(path, sep=sep, decimal=decimal, thousands=thousands, skipinitialspace=True,
                            encoding=encoding)
        header = pd.read_csv(path, sep=sep, header=None, nrows=1, skipinitialspace=True,
                             encoding=encoding).iloc[0].tolist()
    except UnicodeDecodeError:
        if encoding == "utf-8" and _windows_text(path):
            return _read_csv(path, sep, decimal, thousands, WINDOWS)
        raise HarnessError(_not_utf8(path)) from None
    except pd.errors.EmptyDataError:
        raise HarnessError(f"{path} holds no table (only blank lines); a table needs a header row and rows of "
                           "data") from None
    except Exception as err:  # pandas raises many types for a malformed file
        raise HarnessError(f"cannot read {path} as a {path.suffix[1:]} table: {err}") from None
    header = [n.strip() if isinstance(n, str) else n for n in header]  # names as written, spaces aside
    repeated = sorted({str(n) for n in header if header.count(n) > 1})
    if repeated:
        raise HarnessError(f"{path}: column name(s) {', '.join(map(repr, repeated))} appear more than once in the "
                           "header; give every column its own name")
    frame = _unpadded(frame)
    if encoding != "utf-8":
        frame.attrs["encoding"] = encoding  # prepare says so in the study's notes
    return frame


def _windows_text(path: Path) -> bool:
    """Bytes that are text in Windows-1252, as Excel on Windows saves a CSV: no NUL byte (UTF-16 has them)
    and none of the five bytes that code page leaves undefined."""
    data = _read_bytes(path)
    if b"\x00" in data:
        return False
    try:
        data.decode(WINDOWS)
    except UnicodeDecodeError:
        return False
    return True


def _unpadded(frame: pd.DataFrame) -> pd.DataFrame:
    """Names and text values without spaces around them ('no ' is 'no'; blank is missing), as the
    packaged model reads text (as_text): a category written with a space is the same category."""
    frame.columns = [n.strip() if isinstance(n, str) else n for n in frame.columns]
    for name in frame.columns:
        if pd.api.types.is_string_dtype(frame[name]):  # a CSV's text: str values, NaN where missing
            values = frame[name].str.strip()
            frame[name] = values.where(values != "")
    return frame


def _read_text_table(path: Path, sep: str) -> pd.DataFrame:
    """A CSV (or .tsv) table; one whose header has no `sep` but another separator is read with that one,
    and with semicolons, decimal commas are read as numbers (a European CSV: a text column whose every
    value is a number written so), and dots between thousands too where the numbers have them."""
    sep = _separator(path, sep)
    frame = _read_csv(path, sep)
    if sep == ";":
        text = [_as_text(frame[c]) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        european = [t for t in text if not t.empty and t.str.fullmatch(DECIMAL_COMMA).any()
                    and t.str.fullmatch(f"{DECIMAL_COMMA}|{WHOLE}").all()]
        if european:
            thousands = "." if any(t.str.fullmatch(DOT_THOUSANDS).any() for t in european) else None
            encoding = frame.attrs.get("encoding", "utf-8")
            frame = _read_csv(path, sep, decimal=",", thousands=thousands, encoding=encoding)
    return frame


def _as_text(column: pd.Series) -> pd.Series:
    return column.dropna().astype(str).str.strip()


def _separator(path: Path, sep: str) -> str:
    """`sep`, unless the header (outside quotes) has none of it but another separator."""
    header = _read_bytes(path, first_line=True).decode("utf-8", errors="replace")  # not UTF-8: _read_csv says so
    header = re.sub(r'"[^"]*"', "", header)  # "price, in $";"size" is a semicolon header
    if sep in header:
        return sep
    return next((mark for mark in OTHER_SEPARATORS if mark in header), sep)


def _not_utf8(path: Path) -> str:
    data = _read_bytes(path)
    try:
        data.decode("utf-8")
        return f"{path} is not UTF-8 text; save it as UTF-8"
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16's byte-order mark
        encoding = "utf-16" if utf16 else "<its encoding>"
        return (f"{path} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line}); save it as UTF-8, "
                f"e.g. iconv -f {encoding} -t utf-8 {path.name} > utf8.csv")


def _read_parquet(path: Path) -> pd.DataFrame:
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(path.stat().st_size - 4, 0))
        tail = f.read(4)
    if head != b"PAR1" or tail != b"PAR1":  # every Parquet file starts and ends with these magic bytes
        raise HarnessError(f"{path} is not a Parquet file (no PAR1 magic bytes); if it is CSV text, name it .csv")
    try:
        frame = pd.read_parquet(path, **PARQUET_READ)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise HarnessError(f"cannot read {path} as a parquet table: {err}") from None
    finally:
        release_arrow_memory()
    repeated = sorted({str(n) for n in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise HarnessError(f"{path}: column name(s) {', '.join(map(repr, repeated))} appear more than once; give "
                           "every column its own name")
    for name in frame.columns:
        if pd.api.types.is_timedelta64_dtype(frame[name]):  # a duration: its seconds, a number like any other
            frame[name] = frame[name].dt.total_seconds()
    return frame


def release_arrow_memory() -> None:
    """Give back to the system the memory Arrow's allocator holds unused, e.g. once a table read from Parquet
    is freed: it keeps that memory for Arrow's next arrays, which numpy and torch never use."""
    pyarrow = sys.modules.get("pyarrow")  # not imported: nothing to give back
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()


def as_text(values: pd.Series) -> pd.Series:
    """A column as the packaged model reads non-numeric data: str values without spaces around them (a
    table's are stripped when read), missing ones as None."""
    return values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v).strip())


def load_source(source: str, target: str | None, seed: int) -> tuple[pd.DataFrame, str]:
    """The raw rows of a study's data source and the name of the column to predict."""
    scheme, _, name = source.partition(":")
    if scheme == "sklearn" and not Path(source).exists():
        frame, default_target = _bundled(name)
    elif scheme == "synthetic" and not Path(source).exists():
        frame, default_target = _synthetic(name, seed)
    else:
        try:
            frame, default_target = read_table(source), None
        except HarnessError as err:
            raise HarnessError(f"data.source: {err}") from None
    target = target or default_target
    if target is None:
        raise HarnessError(f"data.target is required for {source}: name the column to predict")
    if target not in frame.columns and target.strip() in frame.columns:
        target = target.strip()  # ' income', as pandas named it before names were read without spaces
    if target not in frame.columns:
        raise HarnessError(f"data.target: column {target!r} is not in {source}; its columns are: "
                           f"{columns_shown(frame)}")
    if frame.shape[1] < 2:
        raise HarnessError(f"{source} has no feature columns besides the target {target!r}")
    return frame, target


def columns_shown(frame: pd.DataFrame) -> str:
    """A table's first 20 column names, for a message that names a column it lacks."""
    return ", ".join(map(str, frame.columns[:20])) + (" ..." if len(frame.columns) > 20 else "")


def _bundled(name: str) -> tuple[pd.DataFrame, str]:
    if name not in BUNDLED:
        raise HarnessError(f"data.source: unknown bundled set 'sklearn:{name}'; choose one of "
                           + ", ".join(f"sklearn:{b}" for b in BUNDLED))
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    frame = bunch.frame.copy()
    if name in ("breast_cancer", "wine", "iris"):
        # Class names read better in predictions than 0/1/2.
        frame["target"] = pd.Categorical.from_codes(bunch.target, list(map(str, bunch.target_names))).astype(str)
    return frame, "target"


def _synthetic(name: str, seed: int) -> tuple[pd.DataFrame, str]:
    if name not in SYNTHETIC:
        raise HarnessError(f"data.source: unknown synthetic set 'synthetic:{name}'; choose one of "
                           + ", ".join(f"synthetic:{s}" for s in SYNTHETIC))
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, LINEAR_ROWS)
    y = LINEAR_WEIGHT * x + LINEAR_BIAS + rng.normal(0.0, 0.01, LINEAR_ROWS)
    return pd.DataFrame({"x": x, "y": y}), "y"
