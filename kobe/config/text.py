"""Reading a text file the user edits, with every failure a located :class:`Diagnostic`.

Config files, rules and universes are UTF-8. A file that is not (saved as Latin-1 by an
old editor, or binary garbage) is reported at the line and column of its first bad byte,
with that line shown, rather than as a byte offset. A folder where a file should be, a
name too long for the file system, or a file that cannot be read each get a sentence.
"""

from __future__ import annotations

import errno
import stat
from pathlib import Path

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.limits import MAX_TEXT_BYTES


def read_text(path: Path, file: str, *, bom: bool = True) -> str:
    """The file's text (universal newlines; a UTF-8 BOM dropped unless ``bom`` is false).

    Raises :class:`KobeError` naming ``file`` for every way reading can fail.
    """
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise KobeError(Diagnostic("this is a folder, not a file", file=file))
        if not stat.S_ISREG(mode):  # a pipe would block the read forever
            raise KobeError(Diagnostic("not a regular file (a pipe, socket or device)", file=file))
        data = path.read_bytes() if path.stat().st_size <= MAX_TEXT_BYTES else None
    except FileNotFoundError:
        missing = "a link to a file that does not exist" if path.is_symlink() else "file not found"
        raise KobeError(Diagnostic(missing, file=file)) from None
    except OSError as exc:
        raise KobeError(Diagnostic(_os_problem(exc), file=file)) from None
    if data is None:
        raise KobeError(Diagnostic(f"the file is larger than {MAX_TEXT_BYTES // 2**20} MiB; "
                                   "is it the right file?", file=file))
    try:
        text = data.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as exc:
        raise KobeError(_decode_error(data, exc, file)) from None
    # As open() in text mode: \r\n and \r become \n, so lines and columns match editors.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long for the file system"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.ENOTDIR:
        return "a folder on the way to this file is a file"
    return f"cannot read the file: {exc.strerror or exc}"


def _decode_error(data: bytes, exc: UnicodeDecodeError, file: str) -> Diagnostic:
    """The first byte that is not UTF-8, at its line and column."""
    good = data[:exc.start].decode("utf-8", errors="replace")
    good = good.removeprefix("\ufeff")
    line = good.count("\n") + 1
    col = len(good) - (good.rfind("\n") + 1) + 1
    end = data.find(b"\n", exc.start)
    source = data[:end if end != -1 else len(data)].rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    byte = data[exc.start]
    return Diagnostic(f"not UTF-8: byte 0x{byte:02x} ({exc.reason})", file=file, line=line, col=col,
                      source_line=source.rstrip("\r"),
                      hint="save the file as UTF-8 (most editors: 'Save with encoding')")
