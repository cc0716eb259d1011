"""Hostile edits of the shipped project: what a careless or malicious user might save.

One :func:`mutate` call takes a copy of the shipped ``strategies.yaml``, ``risk.yaml``,
``rules/*.kobe`` and universe and applies one seeded edit to it: a hostile YAML value
(failing tags, huge or non-finite numbers, nested lists, alias bombs), a hostile
expression (deep nesting, huge windows and lags), random byte damage, or damage to the
folder itself (a directory named ``x.kobe``, a universe that is not UTF-8). Used by the
fuzz tests and, at 10,000 cases, by ``benchmarks/fuzz_validate.py``.
"""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("strategies.yaml", "risk.yaml", "rules", "universe")

# Values a user could type after `key: ` in YAML.
HOSTILE_VALUES = (
    "!!int abc", "!!bool maybe", "!!float abc", "!!str", "!!binary ###", "!!timestamp 2020-13-45",
    "!!python/object:os.system x", "!foo bar", "!!set {a, b}", "!!omap [a: 1]",
    "1" * 5000, "-" + "9" * 4400, "1e309", "-1e309", "1.0e+300", "1.0e+308", "1e-320", "9223372036854775808",
    "18446744073709551617", ".nan", ".inf", "-.inf", ".NaN", "0", "-1", "-0.0", "0.0000001", "2", "3.5",
    "[[1]]", "[]", "{}", "{a: 1}", "[1, [2, [3]]]", "null", "~", "''", '""', "true", "no", "yes", "on",
    "x" * 300, "é" * 10, "\"\\u0000\"", "\"\\ud800\"", "'a\\nb'", "|\n  multi\n  line", "2020-01-01",
    "12:30:00", "0x10", "0o17", "1_000", "+1", "&a 5", "*undefined", "@", "`", "%", "? a", "- 1",
    "[" * 200 + "]" * 200, "{a: " * 150 + "1" + "}" * 150,
)

# Expressions: deep, long, huge numbers, odd characters.
HOSTILE_EXPRS = (
    "(" * 98 + "close" + ")" * 98, "(" * 2000 + "close" + ")" * 2000,
    "abs(" * 82 + "close" + ")" * 82, "abs(" * 1000 + "close" + ")" * 1000,
    " + ".join(["close"] * 332) + " > 0", " and ".join(["close > 1"] * 332), " + ".join(["1"] * 5000) + " > close",
    "-" * 500 + "close > 0", "not " * 500 + "close > 1",
    "sma(close, 1e300) > close", "sma(close, 1e309) > close", "close[9223372036854775808] > 0",
    "close[2 ** 63] > 0", "close[1e300] > 0", "sma(close, 0) > 0", "sma(close, -5) > 0", "sma(close, 2.5) > 0",
    "highest(high, 100000000) > 0", "close[100000000] > 0", "atr(1e18) > 0", "close > " + "9" * 5000,
    "close > 1e999", "close > nan", "close > inf", "close / 0 > 1", "close > 0.0000000000000001e-400",
    "close[-1] > 0", "close[close] > 0", "sma(close, close) > 0", "sma(close) > 0", "sma(close, 20, 30) > 0",
    "sma(close, n=20) > 0", "sma(close, window=20) > 0", "close >", "> close", "close > 1 >", "((close)",
    "close)", "close > 'x'", 'close > "x"', "close ☃ 1", "close\u0000 > 1", "clóse > 1", "close > 1 # c",
    "close > 1\n\n\n and", "donchian_high(1e300) > 0", "donchian_high(-1) > 0", "prior_low_age(0) > 0",
    "close > close[1] and", "true", "1", "close", "sma", "sma()", "sma(,)", "sma(close,,1)", "close..1",
    "1..2", "1e", "1e+", ".", "close[1][2][3] > 0", "close[" * 50 + "1" + "]" * 50 + " > 0",
)

# A rules/*.kobe definition a user might write.
HOSTILE_DEFS = (
    "f(n) = " + "(" * 200 + "n" + ")" * 200, "g(n) = " + " + ".join(["n"] * 400), "h(n) = h(n)",
    "a(n) = b(n)\nb(n) = a(n)", "w(n) = sma(close, n * 1e300)", "x = close", "y(n, n) = n", "z() = ",
    "big(n) = close[n]\nuse() = big(9223372036854775808)", "q(n) = sma(close, 1e309)", "=", "(",
    "abc(n) = nan", "d(n) = close\nd(n) = open",
)

Mutation = Callable[[Path, random.Random], str]


def copy_project(dest: Path) -> Path:
    """The shipped config files copied into ``dest`` (which must exist)."""
    for name in SHIPPED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    return dest


def _config_files(root: Path) -> list[Path]:
    return [root / "strategies.yaml", root / "risk.yaml", *sorted((root / "rules").glob("*.kobe"))]


def _value_sites(text: str) -> list[tuple[int, int]]:
    """Spans of the values after ``key: `` on each line (not comments), to replace."""
    sites = []
    for match in re.finditer(r"(?m)^(\s*(?:- )?[A-Za-z_][\w]*:[ ]+)([^#\n]*?)\s*(?:#.*)?$", text):
        if match.group(2):
            sites.append((match.start(2), match.end(2)))
    return sites


def replace_value(root: Path, rng: random.Random) -> str:
    path = rng.choice([root / "strategies.yaml", root / "risk.yaml"])
    text = path.read_text(encoding="utf-8")
    sites = _value_sites(text)
    start, end = rng.choice(sites)
    value = rng.choice(HOSTILE_VALUES)
    path.write_text(text[:start] + value + text[end:], encoding="utf-8")
    return f"{path.name}: {text[start:end]!r} -> {value[:40]!r}"


def replace_expr(root: Path, rng: random.Random) -> str:
    path = root / "strategies.yaml"
    text = path.read_text(encoding="utf-8")
    sites = [m for m in re.finditer(r"(?m)^(\s*(?:- )?(?:entry|stop|rank|target|trailing_stop|exit):[ ]+)(.+)$", text)]
    sites += list(re.finditer(r"(?m)^(\s+- )(close .+)$", text))
    match = rng.choice(sites)
    expr = rng.choice(HOSTILE_EXPRS)
    quoted = "'" + expr.replace("'", "''").replace("\n", " ") + "'" if rng.random() < 0.5 else '"' + expr.replace(
        "\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\u0000", "\\0") + '"'
    path.write_text(text[:match.start(2)] + quoted + text[match.end(2):], encoding="utf-8")
    return f"expression {match.group(2)[:30]!r} -> {expr[:40]!r}"


def edit_rules(root: Path, rng: random.Random) -> str:
    path = root / "rules" / "channels.kobe"
    text = path.read_text(encoding="utf-8")
    definition = rng.choice(HOSTILE_DEFS)
    if rng.random() < 0.5:
        text += "\n" + definition + "\n"
    else:  # replace one definition's body
        lines = text.splitlines()
        index = rng.choice([i for i, line in enumerate(lines) if "=" in line and not line.startswith("#")])
        name = lines[index].split("(")[0]
        expr = rng.choice(HOSTILE_EXPRS).replace("\n", " ")
        lines[index] = lines[index].split("=")[0] + "= " + expr if rng.random() < 0.5 else definition
        text = "\n".join(lines) + "\n"
        del name
    path.write_text(text, encoding="utf-8")
    return f"rules: {definition[:40]!r}"


def damage_bytes(root: Path, rng: random.Random) -> str:
    path = rng.choice(_config_files(root))
    data = bytearray(path.read_bytes())
    edits = []
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(data) + 1)
        kind = rng.choice(("delete", "insert", "flip", "nonutf8", "truncate", "duplicate"))
        if kind == "delete" and data:
            del data[pos:pos + rng.randint(1, 20)]
        elif kind == "insert":
            data[pos:pos] = rng.choice((b":", b"-", b"[", b"{", b"&a", b"*a", b"!!", b"\t", b"\n", b"'", b'"', b"#",
                                        b"<<: *a", b"\x00", b"\r", b"\xef\xbb\xbf", b"%YAML 1.1\n", b"---\n", b"..."))
        elif kind == "flip" and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif kind == "nonutf8":
            data[pos:pos] = rng.choice((b"\xff", b"\xc3\x28", b"\xe9", b"\x80\x80", b"\xed\xa0\x80"))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "duplicate" and data:
            chunk = data[pos:pos + rng.randint(1, 200)]
            data[pos:pos] = chunk
        edits.append(kind)
    path.write_bytes(bytes(data))
    return f"{path.name}: bytes {','.join(edits)}"


def structure(root: Path, rng: random.Random) -> str:
    """Nesting, alias bombs, self-merges, appended at the top level or in a value."""
    path = rng.choice([root / "strategies.yaml", root / "risk.yaml"])
    depth = rng.choice((50, 1000, 5000))
    levels = rng.choice((3, 6, 9, 12))
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1},"
        f" *a{i - 1}, *a{i - 1}]\n" for i in range(1, levels))
    pieces = {
        "deep list": "x: " + "[" * depth + "1" + "]" * depth + "\n",
        "deep map": "x: " + "{a: " * depth + "1" + "}" * depth + "\n",
        "deep block": "x:\n" + "".join("  " * i + "- \n" for i in range(min(depth, 400))) + "  " * 400 + "- 1\n",
        "self merge": "m: &m\n  a: 1\n  <<: *m\n",
        "self alias": "m: &m [1, *m]\n",
        "alias bomb": bomb,
        "merge bomb": bomb + "z:\n  <<: [" + ", ".join(f"*a{i}" for i in range(levels)) + "]\n",
        "anchor reuse": "advanced: &x\n  var: &x\n    max_usd: 5\n",
        "document stream": "---\na: 1\n---\nb: 2\n",
    }
    kind = rng.choice(sorted(pieces))
    text = path.read_text(encoding="utf-8")
    if rng.random() < 0.5:
        text += "\n" + pieces[kind]
    else:
        start, end = rng.choice(_value_sites(text))
        text = text[:start] + pieces[kind].split(": ", 1)[1].rstrip("\n").replace("\n", " ") + text[end:] \
            if kind in ("deep list", "deep map") else pieces[kind] + text
    path.write_text(text, encoding="utf-8")
    return f"{path.name}: {kind}"


def folder(root: Path, rng: random.Random) -> str:
    """Damage around the files: a directory named like a rules file, bad universes."""
    kind = rng.choice(("dir kobe", "universe nonutf8", "universe long name", "universe empty", "universe dir",
                       "rules nonutf8", "universe garbage", "universe missing", "strategies dir", "risk empty",
                       "universe outside"))
    text = (root / "strategies.yaml").read_text(encoding="utf-8")
    if kind == "dir kobe":
        (root / "rules" / "x.kobe").mkdir()
    elif kind == "universe nonutf8":
        (root / "universe" / "default.csv").write_bytes(b"symbol\nAAPL\n\xff\xfeMS\xe9FT\n")
    elif kind == "universe long name":
        (root / "strategies.yaml").write_text(text.replace("universe: default", "universe: " + "u" * 300, 1))
    elif kind == "universe empty":
        (root / "universe" / "default.csv").write_text("")
    elif kind == "universe dir":
        (root / "universe" / "default.csv").unlink()
        (root / "universe" / "default.csv").mkdir()
    elif kind == "rules nonutf8":
        (root / "rules" / "channels.kobe").write_bytes(b"f(n) = close\n# caf\xe9\n")
    elif kind == "universe garbage":
        (root / "universe" / "default.csv").write_bytes(bytes(rng.randrange(256) for _ in range(200)))
    elif kind == "universe missing":
        (root / "universe" / "default.csv").unlink()
    elif kind == "strategies dir":
        (root / "strategies.yaml").unlink()
        (root / "strategies.yaml").mkdir()
    elif kind == "risk empty":
        (root / "risk.yaml").write_text("")
    elif kind == "universe outside":
        (root / "strategies.yaml").write_text(text.replace("universe: default", "universe: ../../x.csv", 1))
    return kind


MUTATIONS: dict[str, Mutation] = {
    "value": replace_value, "expr": replace_expr, "rules": edit_rules, "bytes": damage_bytes,
    "structure": structure, "folder": folder,
}
WEIGHTS = {"value": 4, "expr": 3, "rules": 2, "bytes": 4, "structure": 1, "folder": 1}


def mutate(root: Path, seed: int) -> str:
    """Apply one to three seeded edits to the project in ``root``; say what was done."""
    rng = random.Random(seed)
    names = sorted(MUTATIONS)
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name = rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
        try:
            done.append(MUTATIONS[name](root, rng))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, UnicodeDecodeError, IndexError):
            done.append(f"{name}: skipped (earlier damage)")
    return "; ".join(done)


# --------------------------------------------------------------------------- outcomes

def _has_lines(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def unlocated(diagnostics: object, root: Path) -> list[str]:
    """The diagnostics that fail to say where: no file, or no line in a file that has lines."""
    bad = []
    for d in diagnostics:  # type: ignore[attr-defined]
        if d.file is None or d.line is None and _has_lines(root / d.file if not Path(d.file).is_absolute() else Path(d.file)):
            bad.append(d.render())
    return bad


def run_validate(root: Path, bars: object | None = None) -> str:
    """``kobe validate`` on the project in ``root`` (the working directory): "ok" or
    "error" for a located :class:`KobeError`; anything else propagates. With ``bars``, an
    accepted project also runs every strategy's plan on them, where a window or lag that
    validation let through would fail."""
    from kobe.config.errors import KobeError
    from kobe.project import load_project

    try:
        project = load_project(Path("strategies.yaml"))
    except KobeError as err:
        missing = unlocated(err.diagnostics, root)
        assert not missing, "unlocated diagnostics:\n" + "\n".join(missing)
        return "error"
    if bars is not None:
        for strategy in project.strategies:
            project.compiled(strategy.name).plan(bars).collect()  # type: ignore[arg-type]
    return "ok"
