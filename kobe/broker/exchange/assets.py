"""The assets the exchange lists, and their short-sale flags (broker-apis.md 9, 11).

Every symbol of the bars is an active, tradable US equity. Alpaca's asset also says
whether it may be sold short (``shortable``) and whether the broker has shares to lend
without a locate (``easy_to_borrow``); only a name that is both can be opened short, and
the vendor refreshes the flags each morning. The stand-in takes them from its settings
(``--not-shortable``, ``--hard-to-borrow``) and from ``POST /admin/assets``; every other
symbol is shortable and easy to borrow, as most large caps are.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from kobe.broker.exchange.errors import not_found


@dataclass(frozen=True)
class AssetFlags:
    """One listed symbol's flags as ``GET /v2/assets/{symbol}`` serves them."""

    symbol: str
    shortable: bool
    easy_to_borrow: bool

    @property
    def can_open_short(self) -> bool:
        """The vendor opens shorts only in easy-to-borrow names (hard-to-borrow ones need
        a locate, which the stand-in does not model)."""
        return self.shortable and self.easy_to_borrow


def symbols(text: str | Iterable[str] | None) -> frozenset[str]:
    """``"AAPL, msft"`` or an iterable of symbols as upper-case symbols."""
    if text is None:
        return frozenset()
    parts = text.split(",") if isinstance(text, str) else text
    return frozenset(s.strip().upper() for s in parts if s.strip())


class Assets:
    """The flags of the listed symbols; changed at run time by the admin API, not kept
    in the state file (they are the vendor's, refreshed daily, not the account's)."""

    def __init__(self, listed: Iterable[str], not_shortable: Iterable[str] = (),
                 hard_to_borrow: Iterable[str] = ()) -> None:
        self.listed = frozenset(listed)
        self._lock = threading.Lock()
        self._not_shortable = set(symbols(not_shortable))
        self._hard_to_borrow = set(symbols(hard_to_borrow))

    def flags(self, symbol: str) -> AssetFlags:
        """The flags of ``symbol``, or the vendor's 404 for a symbol not listed."""
        key = symbol.upper()
        if key not in self.listed:
            raise not_found("asset not found")
        with self._lock:
            shortable = key not in self._not_shortable
            # A name that cannot be shorted at all has nothing to borrow either.
            return AssetFlags(key, shortable, shortable and key not in self._hard_to_borrow)

    def all(self) -> list[AssetFlags]:
        return [self.flags(s) for s in sorted(self.listed)]

    def set(self, symbol: str, *, shortable: bool | None = None, easy_to_borrow: bool | None = None) -> AssetFlags:
        """Change the flags of a listed symbol (``None``: keep)."""
        current = self.flags(symbol)
        with self._lock:
            if shortable is not None:
                (self._not_shortable.discard if shortable else self._not_shortable.add)(current.symbol)
            if easy_to_borrow is not None:
                (self._hard_to_borrow.discard if easy_to_borrow else self._hard_to_borrow.add)(current.symbol)
        return self.flags(symbol)
