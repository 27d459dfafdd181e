"""Python SDK: keys, amounts, building and signing transactions, submitting, receipts, events.

It needs only the core (no server dependencies): `pip install tally`.

    from tally.client import Signer, TallyClient, read_keyfile, to_minor, verify_receipt

    key = read_keyfile("alice.json")
    with TallyClient("http://127.0.0.1:8750", reader=key) as node:   # reads alice may make
        alice = Signer(key.id, key.keypair(), node.genesis().chain, next_seq=node.next_seq(key.id))
        txid = node.submit(alice.pay("HARBOR-GIFT", "cafe-lumen", to_minor("4.50", 2), "order-17"))
        status = node.wait_final(txid)                       # status.code == "ok"
        ok, why = verify_receipt(node.receipt(txid), node.genesis(), node.validators().changes)

`AsyncTallyClient` is the same API for asyncio code.
"""

from ..core.block import ChangeRefused, Receipt, ValidatorChange, ValidatorsBody, follow_changes, verify_receipt
from ..core.crypto import KeyPair
from .aio import AsyncTallyClient
from .amounts import AmountError, format_minor, to_minor
from .auth import AsyncReadTokens, Reader, ReadTokens, token_message
from .http import Retry, TallyClient, TallyError
from .keys import KeyFile, KeyFileError, new_keyfile, read_keyfile, write_keyfile
from .signer import Signer, sign_tx

__all__ = [
    "AmountError",
    "AsyncReadTokens",
    "AsyncTallyClient",
    "ChangeRefused",
    "KeyFile",
    "KeyFileError",
    "KeyPair",
    "ReadTokens",
    "Reader",
    "Receipt",
    "Retry",
    "Signer",
    "TallyClient",
    "TallyError",
    "ValidatorChange",
    "ValidatorsBody",
    "follow_changes",
    "format_minor",
    "new_keyfile",
    "read_keyfile",
    "sign_tx",
    "to_minor",
    "token_message",
    "verify_receipt",
    "write_keyfile",
]
