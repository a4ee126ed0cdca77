"""veille: market-watch and competitive-intelligence pipeline (the core: config, store, feeds, CLI)."""

__version__ = "0.1.0"
