"""Python SDK: keys, building and signing transactions, submitting, receipts.

from tally.client import Signer, TallyClient, KeyPair

client = TallyClient("http://127.0.0.1:8750")
alice = Signer("alice", KeyPair(seed), chain=client.genesis().chain, next_seq=0)
txid = client.submit(alice.pay("SKYMILES", "cafe-lumen", 1200, "order-17"))
status = client.wait_final(txid)
receipt = client.receipt(txid)
assert verify_receipt(receipt, client.genesis())[0]
"""

from ..core.block import Receipt, verify_receipt
from ..core.crypto import KeyPair
from .http import Retry, TallyClient, TallyError
from .signer import Signer, sign_tx

__all__ = ["KeyPair", "Receipt", "Retry", "Signer", "TallyClient", "TallyError", "sign_tx", "verify_receipt"]
