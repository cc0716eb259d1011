"""Bars from files: one CSV/Parquet file, a folder of them, or the embedded sample."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import read_bars


class FilesProvider:
    adjusted = True  # as adjusted as the files are; the manifest records what the user said

    def __init__(self, path: Path | None, name: str = "files") -> None:
        self.path = path
        self.name = name

    def _sources(self) -> list[Path | None]:
        if self.path is not None and self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
            if not files:
                raise KobeError(Diagnostic(f"no CSV or Parquet file in {str(self.path)!r}", file=str(self.path),
                                           hint="--path names a bars file or a folder of them"))
            return [*files]
        return [self.path]

    def daily_bars(self, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = [read_bars(src, symbols=[symbol], start=start, end=end).collect() for src in self._sources()]
        return pl.concat(frames).unique(["symbol", "date"], keep="last").sort("date")
