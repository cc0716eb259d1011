"""``kobe init``: a new project, written from the template shipped inside the package.

The template (``kobe/project_template/``) is package data, so ``kobe init`` works from a
``pip install`` anywhere, with no checkout of the repository. It is the repository's own
project (strategies, risk limits, rules, universe; ``tests/test_init.py`` keeps the two
the same) on the embedded sample bars, so the new project validates, backtests and paper
trades with no key and no network.

**The schema lines.** Both YAML files start with ``# yaml-language-server: $schema=…``.
An absolute path or a path into the installed package would break on the next machine or
virtualenv, and a URL would need the network. So the JSON Schemas are written into the
project, ``.kobe/schema/*.json``, and the lines point at them relatively:
yaml-language-server resolves a relative modeline path from the YAML file's own folder.
``kobe init --force`` in an existing project refreshes them after an upgrade. They are
not part of the config's fingerprint, so refreshing them never unpins a config.

The template stores ``.env.example`` and ``.gitignore`` without their leading dot: some
packaging globs skip hidden files, and a ``.gitignore`` inside the package would act on
the repository itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from kobe.config.errors import Diagnostic, KobeError

TEMPLATE = "project_template"
SCHEMA_DIR = Path(".kobe") / "schema"
SCHEMAS = ("strategies.schema.json", "risk.schema.json")
# Template names -> project names: the dotfiles are stored undotted (see the module doc).
RENAMED = {"env.example": ".env.example", "gitignore": ".gitignore"}


@dataclass
class Scaffold:
    """What :func:`init_project` did: files written, and files kept because they existed."""

    root: Path
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def _template_files(folder: Traversable, prefix: Path = Path()) -> list[tuple[Path, Traversable]]:
    out: list[tuple[Path, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(("__", ".")):   # __pycache__ and the like, never the user's
            continue
        if entry.is_dir():
            out += _template_files(entry, prefix / entry.name)
        else:
            out.append((prefix / RENAMED.get(entry.name, entry.name), entry))
    return out


def template_files() -> list[tuple[Path, Traversable]]:
    """``(path in the project, template file)`` for every file ``kobe init`` writes but the schemas."""
    return _template_files(resources.files("kobe").joinpath(TEMPLATE))


def schema_files() -> list[tuple[Path, Traversable]]:
    """``(path in the project, shipped JSON Schema)``: the schemas the YAML files' first lines name."""
    package = resources.files("kobe.config.schema")
    return [(SCHEMA_DIR / name, package.joinpath(name)) for name in SCHEMAS]


def init_project(root: Path, *, force: bool = False) -> Scaffold:
    """Write a new project into ``root`` (created if missing).

    ``root`` must be empty unless ``force``; with ``force`` a file already there is kept
    (a trader's edited strategies are never overwritten) and only the schemas, which
    belong to the installed Kobe, are written again."""
    if root.exists() and not root.is_dir():
        raise KobeError(Diagnostic("not a folder", file=str(root), hint="give a new or empty folder"))
    if root.is_dir() and any(root.iterdir()) and not force:
        raise KobeError(Diagnostic("the folder is not empty: kobe init writes a new project only into an empty one",
                                   file=str(root),
                                   hint="give a new folder, or --force to add the missing files and refresh "
                                        ".kobe/schema (existing files are kept)"))
    done = Scaffold(root)
    try:
        for relative, source in schema_files():
            _write(root / relative, source.read_bytes())
            done.written.append(relative)
        for relative, source in template_files():
            target = root / relative
            if target.exists():
                done.kept.append(relative)
                continue
            _write(target, source.read_bytes())
            done.written.append(relative)
    except OSError as err:
        raise KobeError(Diagnostic(f"cannot write the project: {err.strerror or err}",
                                   file=str(err.filename or root),
                                   hint="check the folder: permissions, free space, a file where a folder "
                                        "should be")) from None
    return done


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
