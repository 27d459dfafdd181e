"""`tally bench`: one node, end to end through the batch API, as a real process.

Setup (not timed): a fresh data dir, one member, one asset, N holder accounts
and M merchants, every holder funded. Then every payment is signed (on all
cores) and encoded into batch bodies *before* the clock starts. The timed part
posts the batches from a few concurrent senders; for each batch a long-poll
on its last transaction measures submit-to-final latency. The run ends when
the last payment is final.

It prints signed payments per second, p50/p99 submit-to-final latency, the
raw Ed25519 verify rate on all cores and the ratio of the two, for payments
spread over many merchants and for a hot merchant.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec

from ..client.keys import read_keyfile
from ..client.signer import Signer
from ..core.crypto import KeyPair, sha256
from ..core.limits import Limits
from ..core.ops import SignedTx
from ..node.config import init_dev_node
from .process import NodeProcess, free_ports

ASSET = "BENCH"
MERCHANTS = 1000
HOT = "m-hot"
FUNDING = 10**9


def holder_key(i: int) -> KeyPair:
    return KeyPair(sha256(b"tally-bench-holder/" + i.to_bytes(8, "big")))


def holder_id(i: int) -> str:
    return f"h{i}"


def merchant_id(j: int) -> str:
    return f"m{j}"


@dataclass(frozen=True)
class PayJob:
    chain: str
    accounts: int
    first: int  # index of the first payment in the stream
    count: int
    seq_base: int
    hot: bool
    expires_ms: int


def sign_payments(job: PayJob) -> list[bytes]:
    """Payment k goes from holder k % N with seq seq_base + k // N (round robin)."""
    keys: dict[int, KeyPair] = {}
    out: list[bytes] = []
    for k in range(job.first, job.first + job.count):
        h = k % job.accounts
        key = keys.get(h)
        if key is None:
            key = keys[h] = holder_key(h)
        signer = Signer(holder_id(h), key, job.chain, job.seq_base + k // job.accounts, clock_ms=lambda: job.expires_ms)
        signer.ttl_ms = 0
        merchant = HOT if job.hot else merchant_id((h * 7 + k) % MERCHANTS)
        signed = signer.pay(ASSET, merchant, 1 + k % 97, f"p{job.seq_base}-{k}")
        out.append(msgspec.json.encode(signed))
    return out


def _verify_for(seconds: float) -> int:
    from ..core.crypto import verify

    key = KeyPair(b"\x01" * 32)
    message = b"x" * 200
    sig = key.sign(message)
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            verify(key.public_key, message, sig)
        count += 200
    return count


def verify_rate_all_cores(seconds: float = 3.0) -> float:
    cores = os.cpu_count() or 1
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        counts = pool.map(_verify_for, [seconds] * cores)
    return sum(counts) / seconds


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def cpu_snapshot(node_pid: int) -> dict[str, float]:
    """CPU seconds so far: the node's main process, its verify workers, this client."""
    workers = sum(_cpu_seconds(p) for p in _children(node_pid))
    own = os.times()
    return {"node": _cpu_seconds(node_pid), "verify workers": workers, "load generator": own.user + own.system}


def _post_and_wait(client: httpx.Client, body: bytes, path: str = "/v1/transactions/batch") -> list[str]:
    for _ in range(600):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        if r.status_code == 503:
            time.sleep(float(r.headers.get("retry-after", "1")) / 10)
            continue
        if r.status_code != 202:
            raise RuntimeError(f"submit failed: {r.status_code} {r.text[:500]}")
        txids: list[str] = r.json()["txids"]
        return txids
    raise RuntimeError("node stayed full")


def _wait_final(client: httpx.Client, txid: str) -> dict[str, object]:
    for _ in range(100):
        status: dict[str, object] = client.get(f"/v1/transactions/{txid}", params={"wait_ms": 30000}).json()
        if status.get("status") == "final":
            return status
    raise RuntimeError(f"{txid} never became final")


def setup(url: str, data_dir: Path, accounts: int, batch: int, member_id: str = "bench-bank") -> str:
    client = httpx.Client(base_url=url, timeout=120)
    chain = client.get("/v1/genesis").json()["chain"]
    member = Signer(member_id, read_keyfile(data_dir / "keys" / f"{member_id}.json").keypair(), chain)
    txs: list[SignedTx] = [member.create_asset(ASSET, "Bench points", "points", 0, True, "all")]
    txs += [
        member.register_account(merchant_id(j), holder_key(10**7 + j).public_key_hex, "merchant")
        for j in range(MERCHANTS)
    ]
    txs.append(member.register_account(HOT, holder_key(10**8).public_key_hex, "merchant"))
    for i in range(accounts):
        txs.append(member.register_account(holder_id(i), holder_key(i).public_key_hex, "holder"))
    txs += [member.issue(ASSET, holder_id(i), FUNDING) for i in range(accounts)]
    for start in range(0, len(txs), batch):
        txids = _post_and_wait(client, msgspec.json.encode({"txs": txs[start : start + batch]}))
        _wait_final(client, txids[-1])
    client.close()
    return str(chain)


@dataclass
class RunResult:
    payments: int
    seconds: float
    latencies_s: list[float]

    @property
    def rate(self) -> float:
        return self.payments / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def sign_stream(chain: str, accounts: int, payments: int, seq_base: int, hot: bool, batch: int) -> list[bytes]:
    cores = os.cpu_count() or 1
    expires_ms = time.time_ns() // 1_000_000 + 20 * 3600 * 1000
    per = -(-payments // cores)
    jobs = [
        PayJob(chain, accounts, s, min(per, payments - s), seq_base, hot, expires_ms) for s in range(0, payments, per)
    ]
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        encoded = [e for part in pool.map(sign_payments, jobs) for e in part]
    return [b'{"txs":[' + b",".join(encoded[i : i + batch]) + b"]}" for i in range(0, len(encoded), batch)]


def load(
    url: str | list[str], bodies: list[bytes], payments: int, senders: int = 3, rate: float | None = None
) -> RunResult:
    """Post every body (body i to node i mod the nodes), waiting for finality where it was sent.

    With `rate` (payments/s) batches leave on a fixed schedule, else flat out.
    """
    urls = [url] if isinstance(url, str) else url
    latencies: list[float] = []
    lock = threading.Lock()
    waiter = ThreadPoolExecutor(max_workers=32)
    local = threading.local()

    def client(node: int) -> httpx.Client:
        if not hasattr(local, "clients"):
            local.clients = [httpx.Client(base_url=u, timeout=120) for u in urls]
        return local.clients[node]  # type: ignore[no-any-return]

    def wait_one(node: int, txid: str, started: float) -> None:
        _wait_final(client(node), txid)
        with lock:
            latencies.append(time.perf_counter() - started)

    per_body = payments / len(bodies)

    def send(indices: range) -> None:
        for i in indices:
            if rate is not None:
                due = start + i * per_body / rate
                time.sleep(max(0.0, due - time.perf_counter()))  # pacing the load, not synchronising
            started = time.perf_counter()
            node = i % len(urls)
            txids = _post_and_wait(client(node), bodies[i])
            waiter.submit(wait_one, node, txids[-1], started)

    start = time.perf_counter()
    senders = max(senders, len(urls))  # one sender per node at least, so no node waits on another
    with ThreadPoolExecutor(max_workers=senders) as pool:
        list(pool.map(send, [range(k, len(bodies), senders) for k in range(senders)]))
    waiter.shutdown(wait=True)
    seconds = time.perf_counter() - start
    return RunResult(payments, seconds, latencies)


def run_bench(
    accounts: int,
    payments: int,
    hot_payments: int,
    batch: int,
    port: int,
    latency_payments: int = 100_000,
    latency_batch: int = 200,
) -> None:
    print(f"tally bench: {accounts} accounts, {payments} spread payments, {hot_payments} hot payments, batch {batch}")
    print(f"machine: {os.cpu_count()} cores")
    verify_rate = verify_rate_all_cores()
    print(f"raw Ed25519 verify rate (PyNaCl, all cores): {verify_rate:,.0f}/s")
    with tempfile.TemporaryDirectory(prefix="tally-bench-") as tmp:
        data_dir = Path(tmp) / "node"
        init_dev_node(
            data_dir,
            [("bench-bank", "Bench Bank")],
            chain="tally-bench",
            port=port,
            limits=Limits(mempool_max_txs=400_000),
        )
        node = NodeProcess(data_dir, port).start()
        try:
            t = time.perf_counter()
            chain = setup(node.url, data_dir, accounts, batch)
            print(
                f"setup: {accounts + MERCHANTS + 1} accounts registered and funded in {time.perf_counter() - t:.1f} s"
            )
            results = {}
            seq_base = 0
            runs = [("spread", payments, False, batch), ("hot merchant", hot_payments, True, batch)]
            for label, count, hot, size in runs:
                if count == 0:
                    continue
                t = time.perf_counter()
                bodies = sign_stream(chain, accounts, count, seq_base, hot, size)
                print(f"{label}: signed {count} payments in {time.perf_counter() - t:.1f} s (before the clock)")
                cpu_before = cpu_snapshot(node.pid)
                result = load(node.url, bodies, count)
                cpu_after = cpu_snapshot(node.pid)
                seq_base += -(-count // accounts)
                results[label] = result
                print(
                    f"{label}: {count} payments final in {result.seconds:.1f} s = {result.rate:,.0f} payments/s;"
                    f" submit-to-final p50 {result.percentile(0.5) * 1000:.0f} ms,"
                    f" p99 {result.percentile(0.99) * 1000:.0f} ms"
                    f" (over {len(result.latencies_s)} batches); {result.rate / verify_rate:.2f} of the verify rate"
                )
                spent = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
                print(
                    f"{label}: CPU per payment: "
                    + ", ".join(f"{k} {v / count * 1e6:.0f} us" for k, v in spent.items())
                    + f"; cores busy {sum(spent.values()) / result.seconds:.2f} of {os.cpu_count()}"
                )
            if "spread" in results and latency_payments:
                half = results["spread"].rate / 2
                bodies = sign_stream(chain, accounts, latency_payments, seq_base, False, latency_batch)
                seq_base += -(-latency_payments // accounts)
                result = load(node.url, bodies, latency_payments, senders=4, rate=half)
                print(
                    f"half load ({half:,.0f} payments/s offered, batches of {latency_batch}):"
                    f" {result.rate:,.0f} payments/s final; submit-to-final p50 {result.percentile(0.5) * 1000:.0f} ms,"
                    f" p99 {result.percentile(0.99) * 1000:.0f} ms (over {len(result.latencies_s)} batches)"
                )
            status = httpx.get(node.url + "/v1/status").json()
            print(f"node: height {status['height']}, final {status['final_height']}, mempool {status['mempool_txs']}")
            if "spread" in results and "hot merchant" in results:
                change = results["hot merchant"].rate / results["spread"].rate - 1
                print(f"hot merchant vs spread: {abs(change) * 100:.1f}% {'faster' if change >= 0 else 'slower'}")
        finally:
            node.stop()


def run_network_bench(
    nodes: int,
    accounts: int,
    payments: int,
    batch: int,
    latency_payments: int,
    latency_batch: int = 200,
    verify_workers: int = 1,
) -> None:
    """4 nodes and 3 etcd members on this machine; every node verifies every signature."""
    from .network import Network, init_network

    assert accounts % (batch * nodes) == 0, "each holder's payments must go through one node"
    print(
        f"tally bench-network: {nodes} nodes, 3 etcd members, {accounts} accounts, {payments} payments, batch {batch}"
    )
    verify_rate = verify_rate_all_cores()
    bound = verify_rate / nodes
    print(f"raw Ed25519 verify rate (all cores): {verify_rate:,.0f}/s; bound with {nodes} nodes: {bound:,.0f}/s")
    with tempfile.TemporaryDirectory(prefix="tally-bench-net-") as tmp:
        root = Path(tmp) / "net"
        ports = free_ports(nodes + 6)
        layout = init_network(
            root,
            nodes,
            chain="tally-bench-net",
            node_ports=ports[:nodes],
            etcd_ports=[(ports[nodes + 2 * i], ports[nodes + 2 * i + 1]) for i in range(3)],
            limits=Limits(mempool_max_txs=400_000),
            verify_workers=verify_workers,
        )
        net = Network(root, layout)
        net.up()
        try:
            urls = [n.url for n in net.nodes.values()]
            t = time.perf_counter()
            chain = setup(urls[0], root / "nodes" / "node-1", accounts, batch, member_id="member-1")
            print(
                f"setup: {accounts + MERCHANTS + 1} accounts registered and funded in {time.perf_counter() - t:.1f} s"
            )
            bodies = sign_stream(chain, accounts, payments, 0, False, batch)
            result = load(urls, bodies, payments, senders=nodes)
            print(
                f"network: {payments} payments final in {result.seconds:.1f} s = {result.rate:,.0f} payments/s;"
                f" submit-to-final p50 {result.percentile(0.5) * 1000:.0f} ms,"
                f" p99 {result.percentile(0.99) * 1000:.0f} ms; {result.rate / bound:.2f} of the bound"
            )
            half = result.rate / 2
            seq_base = -(-payments // accounts)
            bodies = sign_stream(chain, accounts, latency_payments, seq_base, False, latency_batch)
            paced = load(urls, bodies, latency_payments, senders=nodes, rate=half)
            print(
                f"half load ({half:,.0f} payments/s offered): {paced.rate:,.0f} payments/s final;"
                f" submit-to-final p50 {paced.percentile(0.5) * 1000:.0f} ms,"
                f" p99 {paced.percentile(0.99) * 1000:.0f} ms (over {len(paced.latencies_s)} batches)"
            )
            statuses = [httpx.get(u + "/v1/status").json() for u in urls]
            digests = {(s["height"], s["state_digest"]) for s in statuses}
            top = statuses[0]
            print(f"nodes agree: {len(digests) == 1} (height {top['height']}, final {top['final_height']})")
        finally:
            net.stop()
