"""A network that speaks TLS: `tally network init --tls`, real etcd members and nodes on 127.0.0.1.

The nodes serve https:// with certificates from the network's private CA,
reach etcd with client certificates, and fetch blocks from each other over
TLS; a client trusts the nodes by that CA only.
"""

from __future__ import annotations

import ipaddress
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pyetcd
import pyetcd.exceptions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from helpers import final_at, until
from tally.client import Signer, TallyClient
from tally.client.auth import Reader
from tally.client.keys import read_keyfile
from tally.core.types import Genesis
from tally.core.validators import genesis_history
from tally.dev.network import Network, init_network
from tally.dev.process import free_ports
from tally.dev.tls import issue, make_ca
from tally.node.config import DataDir, NodeSettings, TlsFiles, tls_paths, uvicorn_ssl_options
from tally.node.startup import StartupError, check
from tally.ordering.etcd_client import EtcdClient
from tally.ordering.peers import Peers


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _init_cli(root: Path, members: int) -> None:
    ports = free_ports(members + 6)  # the node APIs, then three etcd members' client and peer ports
    cli = [sys.executable, "-m", "tally.cli", "network", "init", "--dir", str(root), "--members", str(members)]
    made = subprocess.run(
        [*cli, "--base-port", str(ports[0]), "--etcd-base-port", str(ports[members]), "--tls"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert str(root / "tls" / "ca.pem") in made.stdout


def test_a_certificate_serves_and_authenticates_its_hosts() -> None:
    ca = make_ca("test CA")
    pem = issue(ca, "node-1", hosts=("127.0.0.1", "tally.bank-a.example"))
    cert = x509.load_pem_x509_certificate(pem.cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["tally.bank-a.example"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.issuer == ca.cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    cert.verify_directly_issued_by(ca.cert)  # raises unless the CA signed it
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_init_tls_writes_https_urls_private_keys_and_node_settings(tmp_path: Path) -> None:
    root = tmp_path / "net"
    layout = init_network(root, 2, node_ports=[8750, 8751], etcd_ports=[(1, 2), (3, 4), (5, 6)], tls=True)
    assert layout.tls
    genesis = msgspec.json.decode((root / "genesis.json").read_bytes(), type=Genesis)
    assert [v.api_url for v in genesis.validators] == ["https://127.0.0.1:8750", "https://127.0.0.1:8751"]
    assert genesis.etcd_endpoints == ["https://127.0.0.1:1", "https://127.0.0.1:3", "https://127.0.0.1:5"]
    for secret in [root / "tls" / "ca-key.pem", *(root / "tls").glob("etcd-*-key.pem")]:
        assert _mode(secret) == 0o600, secret
    assert len(list((root / "tls").glob("etcd-*-key.pem"))) == 3
    data = DataDir(root / "nodes" / "node-1")
    settings = data.settings()
    assert settings.tls == TlsFiles(cert="tls/cert.pem", key="tls/key.pem", ca="tls/ca.pem")
    paths = tls_paths(settings, data)
    assert paths is not None and _mode(paths.key) == 0o600
    assert paths.ca.read_bytes() == (root / "tls" / "ca.pem").read_bytes()
    assert uvicorn_ssl_options(settings, data) == {
        "ssl_certfile": str(paths.cert),
        "ssl_keyfile": str(paths.key),
        "ssl_ca_certs": str(paths.ca),
    }
    assert check(data, probe_port=False).settings.tls is not None


def test_start_up_checks_say_which_tls_file_is_wrong(tmp_path: Path) -> None:
    root = tmp_path / "net"
    init_network(root, 1, node_ports=[8750], etcd_ports=[(1, 2), (3, 4), (5, 6)], tls=True)
    data = DataDir(root / "nodes" / "node-1")
    settings = data.settings()

    def write(changed: NodeSettings) -> None:
        data.settings_path.write_bytes(msgspec.json.encode(changed))

    write(msgspec.structs.replace(settings, tls=TlsFiles(cert="tls/cert.pem", key="tls/gone.pem", ca="tls/ca.pem")))
    with pytest.raises(StartupError, match=r"node\.json: tls key .*gone\.pem is missing$"):
        check(data, probe_port=False)
    other = root / "nodes" / "other-key.pem"
    other.write_bytes(issue(make_ca("other"), "x").key)
    write(msgspec.structs.replace(settings, tls=TlsFiles(cert="tls/cert.pem", key=str(other), ca="tls/ca.pem")))
    with pytest.raises(StartupError, match="not a PEM certificate and its private key"):
        check(data, probe_port=False)
    write(msgspec.structs.replace(settings, tls=None))
    with pytest.raises(StartupError, match=r"the etcd endpoints are https:// but it names no TLS files"):
        check(data, probe_port=False)


def test_a_tls_network_finalises_and_refuses_what_it_does_not_trust(tmp_path: Path) -> None:
    root = tmp_path / "tls-net"
    _init_cli(root, 2)
    ca = str(root / "tls" / "ca.pem")
    net = Network.open(root)
    net.up()
    try:
        urls = [node.url for node in net.nodes.values()]
        assert all(url.startswith("https://127.0.0.1:") for url in urls)
        clients = [TallyClient(url, verify=ca) for url in urls]
        try:
            chain = clients[0].genesis().chain
            member = Signer("member-2", read_keyfile(root / "keys" / "member-2.json").keypair(), chain)
            txid = clients[1].submit(member.create_asset("TLS", "TLS points", "points", 0, True, "none"))
            for client in clients:  # every node ordered it through etcd over TLS and voted
                until(lambda client=client: final_at(client, txid), f"{txid} final at {client.http.base_url}")  # type: ignore[misc]
            assert len(clients[0].receipt(txid).certificate.signatures) == 2  # both validators: 2 of 2
            height = clients[0].status(txid).height
        finally:
            for client in clients:
                client.close()

        node_1 = DataDir(net.nodes["node-1"].data_dir)
        tls = tls_paths(node_1.settings(), node_1)
        assert tls is not None
        genesis = node_1.genesis()
        history = genesis_history(genesis)
        # catch-up and repair: the peer's certificate against the CA
        reader = Reader("node-1", node_1.validator_key().keypair(), "validator")
        peers = Peers([urls[1]], lambda: history, reader, tls)
        untrusting = Peers([urls[1]], lambda: history, reader)
        try:
            assert peers.fetch(height) is not None
            assert untrusting.fetch(height) is None  # the peer's certificate is not from a public CA
        finally:
            peers.close()
            untrusting.close()

        with TallyClient(urls[0]) as trusting_the_system, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
            trusting_the_system.node_status()  # the private CA is no system CA
        plain = urls[0].replace("https://", "http://")
        with pytest.raises(httpx.TransportError):
            httpx.get(plain + "/health", timeout=5)

        etcd = EtcdClient(net.etcd.endpoints, tls)
        try:
            assert etcd.call(lambda client: client.status()).leader is not None
        finally:
            etcd.close()
        with pytest.raises(ValueError, match="https:// etcd endpoint needs the node's TLS files"):
            EtcdClient(net.etcd.endpoints)
        member = net.etcd.members[0]
        with_cert = pyetcd.client(
            "127.0.0.1", member.client_port, ca_cert=ca, cert_key=str(tls.key), cert_cert=str(tls.cert), timeout=5
        )
        without_cert = pyetcd.client("127.0.0.1", member.client_port, ca_cert=ca, timeout=5)
        try:
            assert with_cert.status().leader is not None
            with pytest.raises(pyetcd.exceptions.ConnectionFailedError):
                without_cert.get(f"/tally/{genesis.chain}/log")
        finally:
            with_cert.close()
            without_cert.close()
    finally:
        net.stop()
