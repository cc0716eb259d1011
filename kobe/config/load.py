"""Read ``strategies.yaml`` and ``risk.yaml`` into the typed config of :mod:`kobe.config.model`.

Loading goes in four steps, and every step reports *all* it finds before anything is
raised, so one ``kobe validate`` run lists every mistake of both files:

1. :func:`load_yaml` parses with PyYAML's composer, so every key and value keeps its
   line and column (and duplicate keys, which PyYAML silently merges, are caught).
2. :func:`validate_schema` checks the shipped JSON Schema and rewrites jsonschema's
   messages into short ones located at the offending key or value.
3. Cross-field checks that a schema cannot express (budgets, duplicate names,
   universe files, parameter references, sweep ranges, a stop for risk-per-trade sizing).
4. The dataclasses are built, expressions as :class:`ExprSource` (see :func:`expr_source`)
   so the rule language can point at the exact column of the YAML file.

Problems become :class:`Diagnostic` objects; the public loaders raise one
:class:`KobeError` holding all of them.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from kobe.config.errors import Diagnostic, DiagnosticSink, KobeError
from kobe.config.limits import MAX_BARS
from kobe.config.model import (
    AdvancedRisk,
    BacktestSettings,
    ComputeConfig,
    Config,
    CorrelationSettings,
    DataConfig,
    EvidenceSettings,
    Exits,
    ExprSource,
    KellySettings,
    LimitPriceRule,
    Location,
    Margin,
    MonitoringBounds,
    QualitySettings,
    RiskConfig,
    Sizing,
    StrategyConfig,
    VaRSettings,
)
from kobe.config.validate import _IDENTIFIER, _UNIVERSE, _did_you_mean, validate_schema
from kobe.config.yamlpos import JsonPath, LoadedYaml, expr_source, load_yaml

__all__ = ["LoadedYaml", "expr_source", "load_config", "load_risk", "load_strategies", "load_yaml", "param_values",
           "salvage_strategies", "validate_schema"]


def load_risk(path: Path) -> RiskConfig:
    """Load and check ``risk.yaml``; raises :class:`KobeError` with every problem."""
    sink = DiagnosticSink()
    _, risk = _read_risk(Path(path), str(path), sink)
    sink.raise_if_any()
    assert risk is not None
    return risk


def load_strategies(path: Path) -> tuple[StrategyConfig, ...]:
    """Load and check ``strategies.yaml`` (universes resolve against its folder);
    raises :class:`KobeError` with every problem."""
    sink = DiagnosticSink()
    _, strategies = _read_strategies(Path(path), str(path), sink)
    sink.raise_if_any()
    assert strategies is not None
    return strategies


def load_config(strategies_path: Path, risk_path: Path) -> Config:
    """Load both files and check them against each other; raises one
    :class:`KobeError` with the problems of both files."""
    sink = DiagnosticSink()
    strategies_yaml, strategies = _read_strategies(Path(strategies_path), str(strategies_path), sink)
    risk_yaml, risk = _read_risk(Path(risk_path), str(risk_path), sink)
    if strategies_yaml is not None and risk_yaml is not None:
        _check_amounts(strategies_yaml, risk_yaml, sink)
    if sink:
        order = {str(strategies_path): 0, str(risk_path): 1}
        raise KobeError(sorted(sink.items, key=lambda d: (order.get(d.file or "", 2), d.line or 0, d.col or 0)))
    assert strategies is not None and risk is not None and strategies_yaml is not None
    return Config(Path(strategies_path).parent, Path(strategies_path), Path(risk_path), strategies, risk,
                  _data_config(strategies_yaml.data.get("data")), _compute_config(strategies_yaml.data.get("compute")))


def _compute_config(raw: Any) -> ComputeConfig:
    """The ``compute:`` section (already schema-checked), defaults for what is left out."""
    raw = raw if isinstance(raw, dict) else {}
    return ComputeConfig(executor=raw.get("executor", "local"), address=raw.get("address"))


def _data_config(raw: Any) -> DataConfig:
    """The ``data:`` section (already schema-checked), defaults for what is left out."""
    raw = raw if isinstance(raw, dict) else {}
    quality = raw.get("quality", {})
    defaults = QualitySettings()
    return DataConfig(
        provider=raw.get("provider", "embedded"), path=raw.get("path"), base_url=raw.get("base_url"),
        lake=raw.get("lake", "state/lake"),
        quality=QualitySettings(actions=dict(quality.get("actions", {})),
                                jump_pct=float(quality.get("jump_pct", defaults.jump_pct)),
                                lookback_sessions=int(quality.get("lookback_sessions", defaults.lookback_sessions)),
                                stop_share=float(quality.get("stop_share", defaults.stop_share))))


def _read(path: Path, file: str, schema_name: str, sink: DiagnosticSink) -> LoadedYaml | None:
    try:
        loaded = load_yaml(path, file, strict=False)
    except KobeError as exc:
        sink.extend(exc.diagnostics)
        return None
    sink.extend(loaded.diagnostics)
    # A value YAML could not read (a failing tag, a number out of range) is kept as its
    # text; the schema would report that text a second time at the same spot.
    unread = {(d.line, d.col) for d in loaded.diagnostics}
    sink.extend(d for d in validate_schema(loaded, schema_name) if (d.line, d.col) not in unread)
    return loaded


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_risk(path: Path, file: str, sink: DiagnosticSink) -> tuple[LoadedYaml | None, RiskConfig | None]:
    before = len(sink.items)
    loaded = _read(path, file, "risk", sink)
    if loaded is None:
        return None, None
    data = loaded.data if isinstance(loaded.data, dict) else {}
    per_order, daily = data.get("per_order_budget_usd"), data.get("daily_budget_usd")
    if _number(per_order) and _number(daily) and per_order > daily:
        sink.add(loaded.at(("per_order_budget_usd",),
                           f"per_order_budget_usd {per_order} exceeds daily_budget_usd {daily}"))
    if len(sink.items) > before:
        return loaded, None
    limit = data.get("limit_price", {})
    defaults = LimitPriceRule()
    return loaded, RiskConfig(
        per_order_budget_usd=float(per_order),
        daily_budget_usd=float(daily),
        min_adv_usd=float(data["min_adv_usd"]),
        adv_window_days=int(data.get("adv_window_days", 20)),
        max_spread_pct=float(data["max_spread_pct"]),
        max_order_pct_adv=float(data["max_order_pct_adv"]),
        max_open_positions=int(data["max_open_positions"]),
        kill_switch_file=data["kill_switch_file"],
        limit_price=LimitPriceRule(limit.get("reference", defaults.reference),
                                   float(limit.get("multiplier", defaults.multiplier))),
        location=Location(loaded.file, 1, 1, loaded.lines[0]),
        advanced=_advanced_risk(data.get("advanced")),
        monitoring=_monitoring_bounds(data.get("monitoring")),
        evidence=_evidence_settings(data.get("evidence")),
    )


def _evidence_settings(raw: Any) -> EvidenceSettings:
    """The ``evidence:`` section (already schema-checked) over the defaults: each key
    converted to its default's type (a YAML ``25`` for a float threshold)."""
    raw = raw if isinstance(raw, dict) else {}
    defaults = EvidenceSettings()
    values = {f.name: type(getattr(defaults, f.name))(raw[f.name]) for f in fields(EvidenceSettings) if f.name in raw}
    return replace(defaults, **values)


def _monitoring_bounds(raw: Any) -> MonitoringBounds:
    """The ``monitoring:`` section (already schema-checked) over the defaults."""
    raw = raw if isinstance(raw, dict) else {}
    shadow, drift, d = raw.get("shadow") or {}, raw.get("drift") or {}, MonitoringBounds()
    return MonitoringBounds(
        shadow_max_unexpected=int(shadow.get("max_unexpected", d.shadow_max_unexpected)),
        shadow_max_missed_share=float(shadow.get("max_missed_share", d.shadow_max_missed_share)),
        shadow_max_slippage_bps=float(shadow.get("max_slippage_bps", d.shadow_max_slippage_bps)),
        drift_alpha=float(drift.get("alpha", d.drift_alpha)), drift_cusum_k=float(drift.get("cusum_k", d.drift_cusum_k)),
        drift_cusum_h=float(drift.get("cusum_h", d.drift_cusum_h)),
        drift_min_trades=int(drift.get("min_trades", d.drift_min_trades)))


def _advanced_risk(raw: Any) -> AdvancedRisk:
    """The ``advanced:`` section (already schema-checked): a piece written is on, with
    defaults for the keys left out; a piece not written stays off."""
    raw = raw if isinstance(raw, dict) else {}
    var, kelly, correlation = raw.get("var"), raw.get("kelly"), raw.get("correlation")
    v, k, c = VaRSettings(max_usd=0.0), KellySettings(), CorrelationSettings()
    return AdvancedRisk(
        var=None if var is None else VaRSettings(
            max_usd=float(var["max_usd"]), confidence=float(var.get("confidence", v.confidence)),
            horizon_days=int(var.get("horizon_days", v.horizon_days)),
            lookback_days=int(var.get("lookback_days", v.lookback_days)), method=var.get("method", v.method)),
        kelly=None if kelly is None else KellySettings(
            fraction=float(kelly.get("fraction", k.fraction)), cap_pct=float(kelly.get("cap_pct", k.cap_pct)),
            min_trades=int(kelly.get("min_trades", k.min_trades))),
        correlation=None if correlation is None else CorrelationSettings(
            max=float(correlation.get("max", c.max)),
            lookback_days=int(correlation.get("lookback_days", c.lookback_days))),
    )


def _read_strategies(path: Path, file: str, sink: DiagnosticSink
                     ) -> tuple[LoadedYaml | None, tuple[StrategyConfig, ...] | None]:
    before = len(sink.items)
    loaded = _read(path, file, "strategies", sink)
    if loaded is None:
        return None, None
    root = path.parent
    first_line: dict[str, int] = {}
    for i, strategy in _strategies(loaded):
        name = strategy.get("name")
        if isinstance(name, str):
            if name in first_line:
                sink.add(loaded.at(("strategies", i, "name"), f"duplicate strategy name '{name}'",
                                   hint=f"first used at line {first_line[name]}"))
            else:
                first_line[name] = loaded.location(("strategies", i, "name")).line
        sink.extend(_check_universe(loaded, i, strategy, root))
        sink.extend(_check_params(loaded, i, strategy))
        sink.extend(_check_time_stop(loaded, i, strategy))
        sink.extend(_check_risk_sizing(loaded, i, strategy))
        sink.extend(_check_sides(loaded, i, strategy))
    if len(sink.items) > before:
        return loaded, None
    return loaded, tuple(_build_strategy(loaded, i, s) for i, s in _strategies(loaded))


def _strategies(loaded: LoadedYaml) -> list[tuple[int, dict[str, Any]]]:
    """The strategy mappings, skipping whatever the schema already rejected."""
    items = loaded.data.get("strategies") if isinstance(loaded.data, dict) else None
    return [(i, s) for i, s in enumerate(items if isinstance(items, list) else []) if isinstance(s, dict)]


def _universe_path(universe: str) -> str:
    return universe if universe.endswith(".csv") else f"universe/{universe}.csv"


def _check_universe(loaded: LoadedYaml, i: int, strategy: dict[str, Any], root: Path) -> list[Diagnostic]:
    universe = strategy.get("universe")
    if not isinstance(universe, str) or not re.fullmatch(_UNIVERSE, universe):
        return []  # the schema reported it
    relative = _universe_path(universe)
    try:
        # The pin covers the project's folder: a universe outside it could change unseen.
        if not (root / relative).resolve().is_relative_to(root.resolve()):
            return [loaded.at(("strategies", i, "universe"), f"{universe} is outside the project's folder",
                              hint="copy the file under universe/ and name it there")]
        if (root / relative).is_file():
            return []
        if (root / relative).is_dir():
            return [loaded.at(("strategies", i, "universe"), f"{relative} is a folder, not a universe file")]
    except OSError:  # a name the file system refuses: reading it will say why
        return []
    known = sorted(p.stem for p in (root / "universe").glob("*.csv"))
    hint = _did_you_mean(universe, known) or f"create {relative} with a 'symbol' column"
    return [loaded.at(("strategies", i, "universe"), f"universe file not found: {relative}", hint=hint)]


def _check_time_stop(loaded: LoadedYaml, i: int, strategy: dict[str, Any]) -> list[Diagnostic]:
    return [d for key in ("exits", "short_exits") for d in _check_time_stop_of(loaded, i, strategy, key)]


def _check_time_stop_of(loaded: LoadedYaml, i: int, strategy: dict[str, Any], key: str) -> list[Diagnostic]:
    exits = strategy.get(key)
    name = exits.get("time_stop_bars") if isinstance(exits, dict) else None
    if not isinstance(name, str) or not re.fullmatch(_IDENTIFIER, name):
        return []
    params = strategy.get("params") if isinstance(strategy.get("params"), dict) else {}
    where = ("strategies", i, key, "time_stop_bars")
    if name not in params:
        hint = _did_you_mean(name, list(params)) or "define it under params, or write a number of bars"
        return [loaded.at(where, f"time_stop_bars names param '{name}', which is not defined", hint=hint)]
    values, _ = param_values(params[name]) or ([], None)
    for value in values:
        if not (float(value).is_integer() and 1 <= value <= MAX_BARS):
            line = loaded.location(("strategies", i, "params", name)).line
            return [loaded.at(where, f"time_stop_bars names param '{name}' = {value}; "
                                     f"it must be a whole number from 1 to {MAX_BARS:,}",
                              hint=f"'{name}' is set at line {line}")]
    return []


def _check_sides(loaded: LoadedYaml, i: int, strategy: dict[str, Any]) -> list[Diagnostic]:
    # short_entry and short_exits are the short half of a both-sided strategy: anywhere
    # else they would be silently ignored, or (side: both without one) no short is ever taken.
    both = strategy.get("side") == "both"
    if both and "short_entry" not in strategy:
        return [loaded.at(("strategies", i, "side"), "side both needs short_entry",
                          hint="short_entry: the rule on which it sells short (entry is the long one)")]
    return [loaded.at(("strategies", i, key), f"{key} is only read with side: both", key=True,
                      hint="write side: both, or remove it (side: short sells short on entry, exits by exits)")
            for key in ("short_entry", "short_exits") if key in strategy and not both]


# A sweep is run point by point: caps that keep a typo (a step of 0.001) from asking for
# a million backtests.
MAX_PARAM_VALUES = 1_000
MAX_GRID_POINTS = 10_000
_RANGE_KEYS = ("from", "to", "step")


def param_values(raw: Any) -> tuple[list[float], float] | None:
    """The values of a param as written and the one the other commands use.

    A number is its only value. A list sweeps its values; ``{from, to, step}`` sweeps
    from ``from`` up to ``to`` (included when the steps land on it); ``{values: [..]}``
    is a list. The value used outside sweeps is ``default``, else the first. Whole
    numbers stay integers; a range of floats is rounded to 10 decimals, so 0.1 steps
    give 0.3, not 0.30000000000000004. ``None`` for a shape the checks reject.
    """
    if _number(raw):
        return [raw], raw
    if isinstance(raw, list) and raw and all(_number(v) for v in raw):
        return list(raw), raw[0]
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("values"), list) and not any(k in raw for k in _RANGE_KEYS):
        values = raw["values"]
        if not (values and all(_number(v) for v in values)):
            return None
    elif "values" not in raw and all(_number(raw.get(k)) for k in _RANGE_KEYS):
        start, stop, step = (raw[k] for k in _RANGE_KEYS)
        if step <= 0 or start > stop:
            return None
        span = (stop - start) / step
        if not span < MAX_PARAM_VALUES:  # a step of 1e-300 spans infinitely many
            return None
        count = math.floor(span + 1e-9) + 1
        if all(isinstance(raw[k], int) for k in _RANGE_KEYS):
            values = [start + k * step for k in range(count)]
        else:
            values = [round(start + k * step, 10) for k in range(count)]
    else:
        return None
    default = raw.get("default", values[0])
    return (list(values), default) if _number(default) else None


def _check_params(loaded: LoadedYaml, i: int, strategy: dict[str, Any]) -> list[Diagnostic]:
    """Sweeps the schema cannot judge: a range's shape and size, repeated values, the
    size of the whole grid."""
    params = strategy.get("params")
    if not isinstance(params, dict):
        return []
    out: list[Diagnostic] = []
    points = 1
    for name, raw in params.items():
        where: JsonPath = ("strategies", i, "params", name)
        if isinstance(raw, dict):
            keys = [k for k in _RANGE_KEYS if k in raw]
            if "values" in raw and keys:
                out.append(loaded.at(where, f"param '{name}': give either values or from, to and step, not both"))
                continue
            if "values" not in raw and len(keys) < len(_RANGE_KEYS):
                missing = ", ".join(f"'{k}'" for k in _RANGE_KEYS if k not in raw)
                out.append(loaded.at(where, f"param '{name}': a range needs {missing}",
                                     hint="write {from: 10, to: 50, step: 10}, or a list of values"))
                continue
            if not all(_number(raw.get(k)) for k in keys) or ("step" in raw and raw["step"] <= 0):
                continue  # the schema reported it
            if keys and raw["from"] > raw["to"]:
                out.append(loaded.at(where + ("to",), f"param '{name}': to {raw['to']} is below from {raw['from']}"))
                continue
            if keys and (raw["to"] - raw["from"]) / raw["step"] + 1 > MAX_PARAM_VALUES + 1e-9:
                span = (raw["to"] - raw["from"]) / raw["step"]
                count = f"{math.floor(span) + 1:,}" if math.isfinite(span) else "too many"
                out.append(loaded.at(where + ("step",), f"param '{name}': the range has {count} values, "
                                                        f"at most {MAX_PARAM_VALUES:,}", hint="use a larger step"))
                continue
        listed = raw.get("values") if isinstance(raw, dict) else raw
        if isinstance(listed, list):
            base = where + ("values",) if isinstance(raw, dict) else where
            seen: set[float] = set()
            for j, value in enumerate(listed):
                if not _number(value):
                    continue  # the schema reported it
                if value in seen:
                    out.append(loaded.at(base + (j,), f"param '{name}': value {value} is listed twice"))
                seen.add(value)
        parsed = param_values(raw)
        if parsed is not None:
            points *= len(parsed[0])
    if points > MAX_GRID_POINTS and not out:
        out.append(loaded.at(("strategies", i, "params"), f"the params' sweep has {points:,} combinations, "
                                                          f"at most {MAX_GRID_POINTS:,}", key=True,
                             hint="sweep fewer values, or fewer params at once"))
    return out


def _check_risk_sizing(loaded: LoadedYaml, i: int, strategy: dict[str, Any]) -> list[Diagnostic]:
    # Risk per trade sizes from the distance to the stop: without a stop there is none.
    sizing, exits = strategy.get("sizing"), strategy.get("exits")
    if not (isinstance(sizing, dict) and sizing.get("method") == "risk_per_trade" and isinstance(exits, dict)):
        return []
    if "stop" in exits:
        return []
    return [loaded.at(("strategies", i, "sizing", "method"), "sizing method risk_per_trade needs exits.stop",
                      hint="it sizes from the distance between the entry price and the stop")]


def _backtest_settings(top: Any, own: Any) -> BacktestSettings:
    """The strategy's backtest settings: its own keys over the file's top-level ones."""
    merged = {**(top if isinstance(top, dict) else {}), **(own if isinstance(own, dict) else {})}
    defaults = BacktestSettings()
    limit = merged.get("max_open_positions")
    return BacktestSettings(
        initial_cash=float(merged.get("initial_cash", defaults.initial_cash)),
        commission_per_share=float(merged.get("commission_per_share", defaults.commission_per_share)),
        commission_bps=float(merged.get("commission_bps", defaults.commission_bps)),
        slippage_bps=float(merged.get("slippage_bps", defaults.slippage_bps)),
        max_open_positions=int(limit) if limit is not None else None,
        spread_bps=float(merged.get("spread_bps", defaults.spread_bps)),
        commission_min_usd=float(merged.get("commission_min_usd", defaults.commission_min_usd)),
        close_at_end=bool(merged.get("close_at_end", defaults.close_at_end)),
        borrow_bps_per_year=float(merged.get("borrow_bps_per_year", defaults.borrow_bps_per_year)),
        margin=_margin(merged.get("margin")),
    )


def _margin(written: Any) -> Margin | None:
    """The ``margin:`` of a backtest section (a strategy's replaces the file's whole),
    each key absent taking Reg-T's value; absent, a cash account."""
    if not isinstance(written, dict):
        return None
    defaults = Margin()
    return Margin(
        initial_pct=float(written.get("initial_pct", defaults.initial_pct)),
        maintenance_long_pct=float(written.get("maintenance_long_pct", defaults.maintenance_long_pct)),
        maintenance_short_pct=float(written.get("maintenance_short_pct", defaults.maintenance_short_pct)),
    )


def _check_amounts(strategies: LoadedYaml, risk: LoadedYaml, sink: DiagnosticSink) -> None:
    limit = risk.data.get("per_order_budget_usd") if isinstance(risk.data, dict) else None
    if not _number(limit):
        return
    for i, strategy in _strategies(strategies):
        sizing = strategy.get("sizing")
        amount = sizing.get("amount_usd") if isinstance(sizing, dict) else None
        if _number(amount) and amount > limit:
            sink.add(strategies.at(("strategies", i, "sizing", "amount_usd"),
                                   f"amount_usd {amount} exceeds per_order_budget_usd {limit} in {risk.file}"))


def _build_strategy(loaded: LoadedYaml, i: int, raw: dict[str, Any]) -> StrategyConfig:
    """The dataclass of a strategy that passed every check."""
    base: JsonPath = ("strategies", i)

    def expr(*path: str | int) -> ExprSource:
        return expr_source(loaded, base + path)

    def exits_of(key: str) -> Exits | None:
        if key not in raw:
            return None
        written = raw[key]

        def level(name: str) -> ExprSource | None:
            return expr(key, name) if name in written else None

        time_stop = written.get("time_stop_bars")
        time_stop_param = time_stop if isinstance(time_stop, str) else None
        if time_stop_param is not None:
            time_stop = params[time_stop_param]
        return Exits(stop=level("stop"), time_stop_bars=int(time_stop) if time_stop is not None else None,
                     target=level("target"), trailing_stop=level("trailing_stop"), exit=level("exit"),
                     time_stop_param=time_stop_param)

    params: dict[str, float] = {}
    sweep: dict[str, tuple[float, ...]] = {}
    for name, value in raw.get("params", {}).items():
        values, params[name] = param_values(value)  # type: ignore[misc]  # checked: never None here
        if not _number(value):
            sweep[name] = tuple(values)
    sizing = raw["sizing"]
    return StrategyConfig(
        name=raw["name"],
        enabled=raw.get("enabled", True),
        universe=_universe_path(raw["universe"]),
        params=params,
        entry=expr("entry"),
        filters=tuple(expr("filters", j) for j in range(len(raw.get("filters", [])))),
        # A both-sided strategy may leave exits out: its longs then end by a short signal.
        exits=exits_of("exits") or Exits(),
        rank=expr("rank") if "rank" in raw else None,
        sizing=Sizing(method=sizing["method"],
                      amount_usd=float(sizing["amount_usd"]) if "amount_usd" in sizing else None,
                      percent=float(sizing["percent"]) if "percent" in sizing else None),
        side=raw.get("side", "long"),
        fill=raw.get("fill", "next_open"),
        location=loaded.location(base),
        param_locations={k: loaded.location(base + ("params", k)) for k in params},
        backtest=_backtest_settings(loaded.data.get("backtest"), raw.get("backtest")),
        sweep=sweep,
        short_entry=expr("short_entry") if "short_entry" in raw else None,
        short_exits=exits_of("short_exits"),
    )


def salvage_strategies(path: Path) -> tuple[StrategyConfig, ...]:
    """Best-effort strategies from a file that failed its checks, so the rule language
    can still check their expressions and a run reports every error at once.

    Only what is well-formed is kept: string expressions, numeric params. Never use the
    result for anything but more diagnostics.
    """
    try:
        loaded = load_yaml(Path(path), str(path), strict=False)
    except KobeError:
        return ()
    out = []
    for i, raw in _strategies(loaded):
        base: JsonPath = ("strategies", i)

        def text(*path: str | int, raw: Any = raw, base: JsonPath = base) -> ExprSource | None:
            value: Any = raw
            for key in path:
                if isinstance(value, dict) and isinstance(key, str):
                    value = value.get(key)
                elif isinstance(value, list) and isinstance(key, int) and key < len(value):
                    value = value[key]
                else:
                    return None
            return expr_source(loaded, base + path) if isinstance(value, str) and value.strip() else None

        entry = text("entry")
        if entry is None:
            continue
        raw_params = raw.get("params") if isinstance(raw.get("params"), dict) else {}
        parsed = {k: param_values(v) for k, v in raw_params.items() if isinstance(k, str)}
        params = {k: p[1] for k, p in parsed.items() if p is not None}
        filters = raw.get("filters") if isinstance(raw.get("filters"), list) else []
        out.append(StrategyConfig(
            name=str(raw.get("name", f"#{i + 1}")), enabled=True, universe="", params=params, entry=entry,
            filters=tuple(f for f in (text("filters", j) for j in range(len(filters))) if f is not None),
            exits=Exits(stop=text("exits", "stop"), target=text("exits", "target"),
                        trailing_stop=text("exits", "trailing_stop"), exit=text("exits", "exit")),
            rank=text("rank"), sizing=Sizing(),
            param_locations={k: loaded.location(base + ("params", k)) for k in params},
        ))
    return tuple(out)
