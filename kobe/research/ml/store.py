"""The meta-model on disk: ``state/models/<strategy>.joblib`` and its receipt
``state/models/<strategy>.json``.

The model file (scikit-learn's recommended :mod:`joblib` persistence) holds the final
model (for the scan and live trading), the walk-forward folds' models with the dates
each speaks for (for the backtest's out-of-sample ``meta_prob``) and the feature names.
The receipt says what made it: the config fingerprint and the bars' hash it was
trained on, the features, the library versions, the training period, the model file's
SHA256 and every fold's figures (what ``kobe ml report`` prints).

A model file is a pickle: it is only loaded once its SHA256 is the receipt's, and for
the scan and trading once the receipt's config is the current one and, when the config
is pinned, the model is the one ``kobe pin`` recorded (:func:`~kobe.config.pin.pinned_models`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.pin import MODELS_DIR, pinned_models
from kobe.files import write_atomic

if TYPE_CHECKING:
    from kobe.project import Project
    from kobe.research.ml.train import TrainResult

FORMAT = 1
SUFFIX = ".joblib"


def model_path(root: Path, name: str) -> Path:
    return root / MODELS_DIR / f"{name}{SUFFIX}"


def receipt_path(root: Path, name: str) -> Path:
    return root / MODELS_DIR / f"{name}.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """The libraries whose versions decide what a model file means."""
    import joblib  # type: ignore[import-untyped]
    import numpy
    import polars
    import scipy  # type: ignore[import-untyped]
    import sklearn  # type: ignore[import-untyped]

    from kobe.backtest.receipt import kobe_version

    return {"kobe": kobe_version(), "python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": numpy.__version__, "scipy": scipy.__version__, "polars": polars.__version__,
            "joblib": joblib.__version__}


def save(project: Project, result: TrainResult, *, data_source: str,
         now: dt.datetime | None = None) -> tuple[Path, dict[str, Any]]:
    """Write the model file and its receipt; returns the model's path and the receipt."""
    import joblib  # type: ignore[import-untyped]

    from kobe.backtest.receipt import data_sha256

    path = model_path(project.root, result.strategy)
    path.parent.mkdir(parents=True, exist_ok=True)
    bundle = {"format": FORMAT, "strategy": result.strategy, "features": result.features, "final": result.final,
              "windows": [(w.start, w.end, w.model) for w in result.windows]}
    partial = path.with_name(path.name + ".partial")
    joblib.dump(bundle, partial)
    partial.replace(path)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    receipt = {
        "strategy": result.strategy,
        "trained_at": when.isoformat(timespec="seconds"),
        "model_file": path.relative_to(project.root).as_posix(),
        "model_sha256": file_sha256(path),
        "config_sha256": project.fingerprint().sha256,
        "data_sha256": data_sha256(result.market.bars),
        "data_source": data_source,
        "features": result.features,
        "versions": versions(),
        "training": {"first_signal": result.first_signal.isoformat(), "last_exit": result.last_exit.isoformat(),
                     "data_end": result.data_end.isoformat(), "trades": result.trades, "wins": result.wins,
                     "embargo_sessions": result.embargo},
        "folds": result.folds,
        "out_of_sample": result.overall,
    }
    write_atomic(receipt_path(project.root, result.strategy), json.dumps(receipt, indent=2) + "\n")
    return path, receipt


def read_receipt(root: Path, name: str) -> dict[str, Any]:
    path = receipt_path(root, name)
    where = path.relative_to(root).as_posix()
    if not path.exists() or not model_path(root, name).exists():
        raise KobeError(Diagnostic(f"no meta-model for strategy {name!r}", file=where,
                                   hint=f"train one: `kobe ml train {name}`"))
    try:
        receipt = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(receipt, dict) or not {"model_sha256", "config_sha256", "features"} <= set(receipt):
            raise ValueError("not a model receipt")
    except (OSError, ValueError) as err:
        raise KobeError(Diagnostic(f"unreadable model receipt ({type(err).__name__}: {str(err)[:80]})", file=where,
                                   hint=f"train the model again: `kobe ml train {name}`")) from None
    return receipt


def load(project: Project, name: str, *, trading: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``name``'s model bundle and receipt, verified: the file is the receipt's, and the
    receipt's config is the current one. ``trading`` (the scan, live trading): and when
    the config is pinned, the model is the pinned one."""
    import joblib  # type: ignore[import-untyped]

    root = project.root
    receipt = read_receipt(root, name)
    path = model_path(root, name)
    where = path.relative_to(root).as_posix()
    if file_sha256(path) != receipt["model_sha256"]:
        raise KobeError(Diagnostic(f"the meta-model of {name!r} does not match its receipt (the file changed)",
                                   file=where, hint=f"train it again: `kobe ml train {name}`"))
    current = project.fingerprint().sha256
    if receipt["config_sha256"] != current:
        raise KobeError(Diagnostic(
            f"the meta-model of {name!r} was trained on config {receipt['config_sha256'][:12]}, the config is now "
            f"{current[:12]}", file=where,
            hint=f"the strategy or its rules changed since: `kobe ml train {name}` again, then `kobe pin`"))
    if trading:
        pinned = pinned_models(root)
        if pinned is not None and pinned.get(where) != receipt["model_sha256"]:
            said = "is not pinned" if where not in pinned else "changed since the pin"
            raise KobeError(Diagnostic(f"the meta-model of {name!r} {said}", file=where,
                                       hint="review `kobe ml report`, then run `kobe pin`"))
    bundle = joblib.load(path)
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise KobeError(Diagnostic(f"the meta-model of {name!r} is of another format", file=where,
                                   hint=f"train it again: `kobe ml train {name}`"))
    return bundle, receipt
