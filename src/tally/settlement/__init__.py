"""Settlement between members, off the ledger's hot path: bank files and the bank adapter.

The ledger (core/) records obligations, windows, payouts and acknowledgements; this
package turns them into payment instructions for the members' banks (ISO 20022 XML)
and writes them where the banks pick them up.
"""
