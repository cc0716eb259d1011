"""The limits of what a config may ask, in one place (docs/config.md, "Limits").

Each is far beyond any strategy a trader writes and low enough that a typo or a hostile
file fails at ``kobe validate`` with its location, rather than later as a crash, a hang
or a machine out of memory. The JSON Schemas repeat ``MAX_BARS`` as ``maximum`` (a test
keeps them equal).
"""

from __future__ import annotations

# Windows, lags, holding periods and lookbacks, in bars: 40 years of sessions.
MAX_BARS = 10_000
# Any number in a config file, in size: a float has no exact integers beyond 2**53, and
# no budget, window or threshold comes near this.
MAX_NUMBER = 1e15
# YAML nesting: PyYAML's composer recurses once per level; a config uses about five.
MAX_NESTING = 32
# Values after YAML aliases are expanded: a kilobyte of aliases can otherwise expand to
# billions of values (a "billion laughs").
MAX_VALUES = 100_000
# Nesting of one rule expression, definitions expanded: checking and compiling recurse
# once per level. A chain `a and b and c` counts a level per operator.
MAX_EXPR_DEPTH = 64
# Nodes of one rule expression with its definitions expanded: a definition that uses
# another twice doubles at each level, and 40 levels would never finish checking.
MAX_EXPR_NODES = 10_000
# A config, rules or universe file: reading a bars file by mistake fails fast.
MAX_TEXT_BYTES = 16 * 2**20
