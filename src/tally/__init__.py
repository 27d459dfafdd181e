"""Tally: a consortium ledger for loyalty points, vouchers, local currencies and e-money.

Layers: `tally.core` (pure state transition), `tally.store` (SQLite),
`tally.node` (admission, mempool, pipeline), `tally.api` (HTTP),
`tally.client` (Python SDK), `tally.cli` (the `tally` command).
"""

__version__ = "0.1.0"
