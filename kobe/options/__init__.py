"""Options on US equities: Black-Scholes-Merton pricing and Greeks (:mod:`.pricing`), the
volatility cone of realized volatility (:mod:`.volatility`), the stand-in exchange's option
chains (:mod:`.chains`) and strike selection (:mod:`.strikes`). docs/options.md has the
formulas, their sources and the conventions."""
