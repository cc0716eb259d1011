"""Config pinning: one SHA256 over everything that decides what trades.

The fingerprint covers ``strategies.yaml``, ``risk.yaml``, every ``rules/*.kobe`` and the
universe files the strategies use. Canonical form: each file's bytes with line endings
normalised to ``\\n`` (so a checkout on Windows pins the same), hashed alone; then the
sorted lines ``<sha256>  <path relative to the root, with />`` hashed together. Any other
edit, comments included, changes the hash: a trader re-pins deliberately.

``kobe pin`` records the fingerprint with the per-file hashes and a UTC time in
``state/config.lock``; whatever trades calls :func:`require_pin` and refuses to start
on a mismatch, naming the files that changed.

The pin also records the SHA256 of every meta-model file (``state/models/*.joblib``,
``kobe ml train``): a model retrained, added or removed since the pin is a mismatch
too. The models are kept out of the config fingerprint itself, which their receipts
record: a model is trained on a config, so the config's hash cannot include it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kobe.config.errors import Diagnostic, KobeError
from kobe.files import write_atomic

LOCK_FILE = Path("state") / "config.lock"
MODELS_DIR = Path("state") / "models"
MODEL_GLOB = "*.joblib"


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    files: dict[str, str]  # relative POSIX path -> sha256 of its canonical bytes


@dataclass(frozen=True)
class PinStatus:
    pinned: bool
    matches: bool
    pinned_sha256: str | None = None
    pinned_at: str | None = None
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned (run `kobe pin`)"
        if self.matches:
            return f"matches the pin of {self.pinned_at}"
        parts = [f"changed: {', '.join(self.changed)}"] if self.changed else []
        parts += [f"added: {', '.join(self.added)}"] if self.added else []
        parts += [f"removed: {', '.join(self.removed)}"] if self.removed else []
        return f"DOES NOT MATCH the pin of {self.pinned_at} ({'; '.join(parts)})"


def _file_sha(path: Path) -> str:
    data = path.read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


def fingerprint(root: Path, files: Iterable[Path]) -> Fingerprint:
    """The canonical SHA256 of ``files`` (paths under ``root``)."""
    hashes = {}
    for path in files:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
        hashes[rel] = _file_sha(path)
    ordered = dict(sorted(hashes.items()))
    manifest = "".join(f"{sha}  {rel}\n" for rel, sha in ordered.items())
    return Fingerprint(hashlib.sha256(manifest.encode("utf-8")).hexdigest(), ordered)


def model_hashes(root: Path) -> dict[str, str]:
    """The SHA256 of each meta-model file under ``root``, by relative POSIX path."""
    return {(MODELS_DIR / path.name).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted((root / MODELS_DIR).glob(MODEL_GLOB))}


def pinned_models(root: Path) -> dict[str, str] | None:
    """The model hashes the pin recorded (``None``: no pin, or an unreadable one)."""
    try:
        record = json.loads((root / LOCK_FILE).read_text(encoding="utf-8"))
        recorded = record.get("models") or {}
        return {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def write_pin(root: Path, fp: Fingerprint, now: dt.datetime | None = None) -> Path:
    """Record ``fp`` and the meta-models' hashes in ``root/state/config.lock``
    (atomically); returns the lock path."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    record = {"sha256": fp.sha256, "pinned_at": when.isoformat(timespec="seconds"), "files": fp.files,
              "models": model_hashes(root)}
    path = root / LOCK_FILE
    write_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def pin_status(root: Path, fp: Fingerprint) -> PinStatus:
    """How ``fp`` compares with the recorded pin."""
    path = root / LOCK_FILE
    if not path.exists():
        return PinStatus(pinned=False, matches=False)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        pinned_files: dict[str, str] = dict(record["files"])
        pinned_sha, pinned_at = str(record["sha256"]), str(record["pinned_at"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise KobeError(Diagnostic(f"unreadable pin file ({type(err).__name__}: {str(err)[:80]})", file=str(LOCK_FILE),
                                   hint="run `kobe pin` to record the current config")) from None
    changed = tuple(p for p in fp.files if p in pinned_files and pinned_files[p] != fp.files[p])
    added = tuple(p for p in fp.files if p not in pinned_files)
    removed = tuple(p for p in pinned_files if p not in fp.files)
    # A pin written before the models were pinned has none: so has a project without them.
    recorded = record.get("models") or {}
    if not isinstance(recorded, dict):
        raise KobeError(Diagnostic("unreadable pin file (its models are not a table of hashes)", file=str(LOCK_FILE),
                                   hint="run `kobe pin` to record the current config"))
    models, pinned = model_hashes(root), {str(k): str(v) for k, v in recorded.items()}
    changed += tuple(p for p in models if p in pinned and pinned[p] != models[p])
    added += tuple(p for p in models if p not in pinned)
    removed += tuple(p for p in pinned if p not in models)
    return PinStatus(True, pinned_sha == fp.sha256 and models == pinned, pinned_sha, pinned_at, changed, added,
                     removed)


def require_pin(root: Path, fp: Fingerprint) -> None:
    """Refuse (raise :class:`KobeError`) unless the config matches its pin."""
    status = pin_status(root, fp)
    if not status.pinned:
        raise KobeError(Diagnostic("the config is not pinned; trading needs a pinned config",
                                   file=str(LOCK_FILE), hint="review the config, then run `kobe pin`"))
    if not status.matches:
        names = status.changed + status.added + status.removed
        raise KobeError([Diagnostic(f"{name} changed since the pin of {status.pinned_at}", file=name,
                                    hint="review the change, then run `kobe pin` again") for name in names]
                        or [Diagnostic("config does not match its pin", file=str(LOCK_FILE))])
