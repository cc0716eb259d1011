"""Putting a rebuilt order store in the place of a damaged one, losing no byte of either.

``kobe reconcile --rebuild`` (:mod:`kobe.trade.reconcile`) writes the new store under a
name of its own beside the old one (:func:`rebuild_path`), then :func:`install` swaps it
in. The damaged file is never deleted: it keeps a second name,
``orders.sqlite.corrupt-<UTC time>`` (its ``-wal`` and ``-shm`` beside it under the same
name, so SQLite still reads it as it was), and only then does the new store replace it,
with one atomic ``rename``: at no instant is there no store at the path (a ``kobe trade``
started then would create an empty one and trade on an empty book).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from kobe.config.errors import Diagnostic, KobeError
from kobe.oms.store import fsync_path, sqlite_files


def rebuild_path(path: Path) -> Path:
    """Where the store that replaces ``path`` is built."""
    return path.with_name(path.name + ".rebuild")


def discard_partial(new: Path) -> None:
    """Remove what a rebuild that stopped half way left at ``new`` (it is derived from the
    broker and the audit trail, and made again). Something there that no rebuild leaves
    (a folder, a device) is not removed: a :class:`KobeError` names it."""
    for name in sqlite_files(new):
        if os.path.lexists(name) and (name.is_dir() or not (name.is_file() or name.is_symlink())):
            raise KobeError(Diagnostic(f"{name.name} is in the way of the rebuild: it is not a file a rebuild left",
                                       file=str(name), hint="nothing was changed; the damaged store is where it "
                                                            "was. Move this away, then rebuild again"))
        try:
            name.unlink(missing_ok=True)
        except OSError as err:
            raise KobeError(Diagnostic(f"what a rebuild left cannot be removed: {err.strerror or err}",
                                       file=str(name), hint="nothing was changed; the damaged store is where it "
                                                            "was. Fix the cause, then rebuild again")) from None


def aside_path(path: Path, now: dt.datetime) -> Path:
    """A free name for the damaged store: ``<name>.corrupt-<UTC time>[-n]``."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while any(p.exists() for p in sqlite_files(candidate)):
        n += 1
        candidate = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    return candidate


def install(new: Path, path: Path, now: dt.datetime | None = None) -> Path | None:
    """Put the complete, closed store ``new`` at ``path``; returns where the damaged store
    that was there now is (None when there was none).

    A damaged file first gains its second name (a hard link, or a copy where the file
    system has none); its ``-wal`` and ``-shm`` move there (left beside the new store,
    SQLite would replay the old WAL into it); then ``new`` replaces it atomically. A
    directory in the store's place is renamed aside whole.
    """
    when = now or dt.datetime.now(dt.UTC)
    aside: Path | None = None
    if os.path.lexists(path):
        aside = aside_path(path, when)
        if path.is_file() and not path.is_symlink():
            try:
                os.link(path, aside)
            except OSError:
                shutil.copy2(path, aside)
            for old, kept in zip(sqlite_files(path)[1:], sqlite_files(aside)[1:], strict=True):
                if old.exists():
                    os.replace(old, kept)
        else:
            os.rename(path, aside)
    for leftover in sqlite_files(new)[1:]:
        if leftover.exists():
            raise RuntimeError(f"{new} is still open: {leftover.name} exists")
    fsync_path(new)
    os.replace(new, path)
    fsync_path(path.parent)
    return aside
