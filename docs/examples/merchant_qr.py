"""A dynamic merchant QR code, written and read back: `python docs/examples/merchant_qr.py`.

Its output is checked in beside it (merchant_qr.out) and tests/test_docs_examples.py reruns it.
"""

from tally import qr
from tally.qr.emv import parse_objects

NOW_MS = 1_800_000_000_000  # a fixed clock, so the output is the same every run
TEMPLATES = {"26", "62", "50"}  # objects whose value holds data objects


def show(text: str, depth: int = 0) -> None:
    for found in parse_objects(text):
        value = "" if found.id in TEMPLATES else f" {found.value}"
        print(f"{'    ' * depth}{found.id} {len(found.value):02d}{value}")
        if found.id in TEMPLATES:
            show(found.value, depth + 1)


code = qr.dynamic_code(
    chain="tally-demo",
    merchant="cafe-lumen",
    asset="HARBOR-GIFT",
    amount="12.50",
    payment_id="order-42",
    name="Cafe Lumen",
    city="Seoul",
    now_ms=NOW_MS,
)
payload = qr.encode(code)
print(payload)
print()
show(payload)
print()
print(qr.parse(payload, "tally-demo", NOW_MS))
for label, bad, chain, now_ms in [
    ("one character changed", payload.replace("12.50", "92.50"), "tally-demo", NOW_MS),
    ("another chain's code", payload, "tally-other", NOW_MS),
    ("after three minutes", payload, "tally-demo", NOW_MS + qr.DYNAMIC_TTL_MS + 1),
]:
    try:
        qr.parse(bad, chain, now_ms)
    except qr.QrError as refused:
        print(f"{label}: {refused.reason}: {refused.message}")
