"""What a bank file instructs, before it is XML: plain, typed records.

`iso20022.py` renders these as pain.001 (payouts to customers' accounts) and pacs.009
(net settlement between members' banks). Amounts are integers in the currency's minor
unit (`decimals` places), as everywhere in Tally.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BankParty:
    """A member institution as its bank knows it."""

    name: str  # at most 140 characters
    bic: str  # ISO 9362, 8 or 11 characters
    account: str  # the member's account at its bank (IBAN or a bank-local id, at most 34 characters)


@dataclass(frozen=True, slots=True)
class CustomerCreditTransfer:
    """One payout: a cash-out burned on the ledger, to be paid to the holder's or merchant's bank account."""

    end_to_end_id: str  # the cash-out's transaction id (64 hex), shortened by the renderer where a field is shorter
    amount_minor: int
    currency: str  # ISO 4217
    decimals: int
    creditor_name: str  # the account id on the ledger
    creditor_account: str  # the payout_ref the account gave (free text, at most 80 characters)
    remittance: str  # e.g. "tally cash-out <asset>"


@dataclass(frozen=True, slots=True)
class PayoutFile:
    """A pain.001 message: one debtor (the issuing member) paying many customers."""

    message_id: str  # unique per file, at most 35 characters
    created_ms: int  # block time of the window's last block (files are deterministic)
    execution_date: str  # YYYY-MM-DD
    debtor: BankParty
    transfers: tuple[CustomerCreditTransfer, ...]


@dataclass(frozen=True, slots=True)
class InterbankTransfer:
    """One net settlement payment from a net-debtor member's bank to a net-creditor member's bank."""

    end_to_end_id: str  # at most 35 characters
    amount_minor: int
    currency: str
    decimals: int
    debtor: BankParty
    creditor: BankParty


@dataclass(frozen=True, slots=True)
class SettlementFile:
    """A pacs.009 message: the net settlement payments of one window."""

    message_id: str
    created_ms: int
    settlement_date: str  # YYYY-MM-DD
    transfers: tuple[InterbankTransfer, ...]
