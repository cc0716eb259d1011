"""A Kobe project: the config files, the rules and the universes, loaded and checked.

:func:`load_project` is what ``kobe validate`` runs and what every other command starts
with: it reads ``strategies.yaml`` and ``risk.yaml`` (schemas and cross-field checks),
``rules/*.kobe``, the universes in use, checks every strategy's expressions, and computes
the config fingerprint. All problems of all files are raised together as one
:class:`KobeError`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kobe.config.errors import Diagnostic, KobeError
from kobe.config.load import load_config, salvage_strategies
from kobe.config.model import Config, StrategyConfig
from kobe.config.pin import Fingerprint, PinStatus, fingerprint, pin_status
from kobe.config.text import read_text
from kobe.data.universe import load_universe
from kobe.dsl import ast
from kobe.dsl.check import check_definitions
from kobe.dsl.parse import parse_rules
from kobe.strategy import (
    CheckedStrategy,
    CompiledStrategy,
    check_strategy,
    compile_strategy,
)

if TYPE_CHECKING:
    import polars as pl

    from kobe.data.quality import QualityPolicy

RULES_DIR = "rules"
_log = logging.getLogger(__name__)


def shown(path: Path) -> str:
    """A path as messages show it: relative to the working folder when inside it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


@dataclass
class Project:
    root: Path
    config: Config
    definitions: dict[str, ast.Definition]
    strategies: tuple[CheckedStrategy, ...]
    universes: dict[str, list[str]]          # universe path (as configured) -> tickers
    rule_files: tuple[Path, ...]
    _compiled: dict[str, CompiledStrategy] = field(default_factory=dict)

    def strategy(self, name: str) -> CheckedStrategy:
        for s in self.strategies:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.strategies)
        raise KobeError(Diagnostic(f"no strategy named {name!r}", file=shown(self.config.strategies_file),
                                   hint=f"strategies: {known}"))

    def enabled(self) -> list[CheckedStrategy]:
        return [s for s in self.strategies if s.config.enabled]

    def compiled(self, name: str) -> CompiledStrategy:
        if name not in self._compiled:
            self._compiled[name] = compile_strategy(self.strategy(name))
        return self._compiled[name]

    def universe(self, strategy: StrategyConfig) -> list[str]:
        return self.universes[strategy.universe]

    def config_files(self) -> list[Path]:
        """The files the fingerprint covers."""
        files = [self.config.strategies_file, self.config.risk_file, *self.rule_files]
        files += [self.root / u for u in sorted(self.universes)]
        return files

    def bars(self, override: str | None = None) -> pl.LazyFrame:
        """The bars every command reads: ``override`` (``--data``) if given, else the
        config's ``data:`` source (the embedded sample, files, or the lake that
        ``kobe data fetch`` fills for polygon and alpaca)."""
        from kobe.data.bars import read_bars

        if override is not None:
            return read_bars(override)
        data = self.config.data
        if data.provider == "embedded":
            return read_bars(None)
        if data.provider == "files":
            return read_bars(self.root / str(data.path))
        lake = self.root / data.lake
        if not (lake / "manifest.json").exists():
            raise KobeError(Diagnostic(f"the lake {shown(lake)} is empty", file=shown(self.config.strategies_file),
                                       hint=f"run `kobe data fetch` to fill it from {data.provider}"))
        from kobe.data.lake import Lake

        # Set aside by a refresh (a damaged file) and left out of the read: never silently.
        for symbol, why in Lake(lake).set_aside_symbols().items():
            _log.warning("warning: %s is set aside in the lake since %s (%s); its bars are left out until "
                         "`kobe data repair %s`", symbol, why["at"], why["why"], symbol)
        return read_bars(lake)

    def lake_dir(self) -> Path:
        """The project's lake folder (``data.lake``), where fetched bars and the
        acknowledged data findings live."""
        return self.root / self.config.data.lake

    def quality_policy(self) -> QualityPolicy:
        """The config's quality policy, with the findings acknowledged in the lake."""
        from kobe.data.acks import read_acks
        from kobe.data.quality import QualityPolicy

        notes = {key: ack.reason for key, ack in read_acks(self.lake_dir()).items()}
        return QualityPolicy.from_settings(self.config.data.quality, notes)

    def fingerprint(self) -> Fingerprint:
        return fingerprint(self.root, self.config_files())

    def pin_status(self) -> PinStatus:
        return pin_status(self.root, self.fingerprint())


def load_definitions(root: Path) -> tuple[dict[str, ast.Definition], tuple[Path, ...], list[Diagnostic]]:
    """Parse and check ``root/rules/*.kobe``; problems are returned, not raised."""
    files = tuple(sorted((root / RULES_DIR).glob("*.kobe")))
    parsed: list[ast.Definition] = []
    problems: list[Diagnostic] = []
    for path in files:
        try:
            parsed.extend(parse_rules(read_text(path, shown(path)), shown(path)))
        except KobeError as err:
            problems.extend(err.diagnostics)
    table, more = check_definitions(parsed)
    return table, files, problems + more


def load_project(strategies_path: Path = Path("strategies.yaml"), risk_path: Path | None = None) -> Project:
    """Load and check everything; raise one :class:`KobeError` with every problem."""
    root = strategies_path.parent
    risk_path = risk_path if risk_path is not None else root / "risk.yaml"
    problems: list[Diagnostic] = []
    config: Config | None = None
    try:
        config = load_config(strategies_path, risk_path)
    except KobeError as err:
        problems.extend(err.diagnostics)
    definitions, rule_files, rule_problems = load_definitions(root)
    problems.extend(rule_problems)
    if config is None:
        # Still check the expressions that could be read, so one run shows every error.
        for strategy in salvage_strategies(strategies_path):
            check_strategy(strategy, definitions, problems)
        raise KobeError(_dedupe(problems))

    universes: dict[str, list[str]] = {}
    for strategy in config.strategies:
        if strategy.universe not in universes:
            try:
                universes[strategy.universe] = load_universe(root / strategy.universe, shown(root / strategy.universe))
            except KobeError as err:
                problems.extend(err.diagnostics)
    checked = []
    for strategy in config.strategies:
        result = check_strategy(strategy, definitions, problems)
        if result is not None:
            checked.append(result)
    if problems:
        raise KobeError(_dedupe(problems))
    return Project(root, config, definitions, tuple(checked), universes, rule_files)


def _dedupe(items: list[Diagnostic]) -> list[Diagnostic]:
    """Unique diagnostics, by file (in the order files were first named) then position."""
    unique = list(dict.fromkeys(items))
    files = list(dict.fromkeys(d.file for d in unique))
    return sorted(unique, key=lambda d: (files.index(d.file), d.line or 0, d.col or 0))
