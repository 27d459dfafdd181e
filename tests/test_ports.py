"""Servers that tests and benchmarks start take ports no other program is handed."""

from __future__ import annotations

import socket
from pathlib import Path

from tally.dev.process import PORT_RANGE, free_ports


def test_ports_come_from_below_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert PORT_RANGE.stop <= low
    handed = [p for _ in range(50) for p in free_ports(3)]
    assert len(set(handed)) == len(handed) and all(p in PORT_RANGE for p in handed)
    block = free_ports(8)
    assert block == list(range(block[0], block[0] + 8))  # consecutive, for tools that take a base port


def test_a_port_in_use_is_skipped() -> None:
    taken = socket.socket()
    try:
        port = free_ports(1)[0]
        taken.bind(("127.0.0.1", port + 1))  # the next port the cursor would give
        assert port + 1 not in free_ports(1)
    finally:
        taken.close()
