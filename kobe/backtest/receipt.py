"""The reproducibility receipt every backtest output carries.

It says what produced the numbers: the config hash (the same one ``kobe validate``
prints and ``kobe pin`` records), a hash of the bars actually used, the Kobe version,
the command line, and the library versions that could change a float. The same receipt
on the same machine gives byte-identical trades; the receipt holds no clock time, so
two such runs give byte-identical outputs too.
"""

from __future__ import annotations

import hashlib
import platform
import threading
import weakref
from dataclasses import asdict, dataclass
from importlib import metadata

import numpy as np
import polars as pl

# Bumped whenever the canonical form below changes, so old and new hashes never collide.
_DATA_HASH_VERSION = b"kobe-bars-v1\n"


@dataclass(frozen=True)
class Receipt:
    command: str
    kobe_version: str
    config_sha256: str
    data_sha256: str
    data_source: str
    data_symbols: int
    data_bars: int
    data_first_date: str
    data_last_date: str
    python_version: str
    polars_version: str
    numpy_version: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# The hash of the latest frame given to start_data_sha256: (the frame, weakly; its thread; its hash).
_started: dict[int, tuple[weakref.ref[pl.DataFrame], threading.Thread, list[str]]] = {}


def start_data_sha256(bars: pl.DataFrame) -> None:
    """Start hashing ``bars`` in the background: :func:`data_sha256` of the same frame
    then waits for that hash instead of computing it. A backtest starts it on its
    market's bars, so the hash runs beside the simulation (hashlib releases the GIL),
    not after it. The thread holds the frame only while it hashes."""
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(_data_sha256(bars)), daemon=True)
    _started.clear()
    _started[id(bars)] = (weakref.ref(bars), thread, result)
    thread.start()


def data_sha256(bars: pl.DataFrame) -> str:
    """SHA256 of a bars frame in a canonical form independent of the file it came from
    (:func:`_data_sha256`), or the one :func:`start_data_sha256` computed for it."""
    started = _started.pop(id(bars), None)
    if started is not None and started[0]() is bars:
        started[1].join()
        if started[2]:
            return started[2][0]
    return _data_sha256(bars)


def _data_sha256(bars: pl.DataFrame) -> str:
    """SHA256 of a bars frame in a canonical form independent of the file it came from.

    Rows sorted by (symbol, date); hashed: each symbol with its row count, then the dates
    as little-endian int32 days since 1970-01-01, then open, high, low, close and volume
    as little-endian float64. CSV or Parquet, the same bars give the same hash.

    Bars already in that order (a backtest's market always is) are hashed where they
    lie, a slice at a time: no sorted copy, and no column converted whole.
    """
    from kobe.backtest.market import _sorted

    frame = bars.select("symbol", "date", "open", "high", "low", "close", "volume")
    if not _sorted(frame):
        frame = frame.sort("symbol", "date")
    digest = hashlib.sha256(_DATA_HASH_VERSION)
    runs = frame["symbol"].rle()
    for count, symbol in zip(runs.struct.field("len").to_list(), runs.struct.field("value").to_list()):
        digest.update(f"{symbol}\t{count}\n".encode())
    _hash_column(digest, frame["date"], pl.Int32, "<i4")
    for column in ("open", "high", "low", "close", "volume"):
        _hash_column(digest, frame[column], pl.Float64, "<f8")
    return digest.hexdigest()


_HASH_SLICE_ROWS = 1 << 20


def _hash_column(digest: hashlib._Hash, column: pl.Series, dtype: type[pl.DataType], layout: str) -> None:
    """Feed ``column`` as ``dtype`` in ``layout`` bytes to ``digest``, a slice at a time
    (the bytes, and so the hash, are those of the whole column at once)."""
    for start in range(0, len(column), _HASH_SLICE_ROWS):
        part = column.slice(start, _HASH_SLICE_ROWS).cast(dtype).to_numpy()
        digest.update(np.ascontiguousarray(part.astype(layout, copy=False)).data)


def kobe_version() -> str:
    try:
        return metadata.version("kobe")
    except metadata.PackageNotFoundError:
        return "unknown"


def make_receipt(*, command: str, config_sha256: str, bars: pl.DataFrame, data_source: str) -> Receipt:
    """The receipt of a run over ``bars`` (the frame actually simulated, warm-up included)."""
    dates = bars["date"]
    return Receipt(
        command=command,
        kobe_version=kobe_version(),
        config_sha256=config_sha256,
        data_sha256=data_sha256(bars),
        data_source=data_source,
        data_symbols=bars["symbol"].n_unique(),
        data_bars=bars.height,
        data_first_date=str(dates.min()),
        data_last_date=str(dates.max()),
        python_version=platform.python_version(),
        polars_version=pl.__version__,
        numpy_version=np.__version__,
    )
