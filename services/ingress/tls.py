"""The submission listener's TLS context: the operator's certificate, or a self-signed one made on first start."""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.common import logging as log

logger = log.get(__name__)


def self_signed(hostname: str, cert_path: Path, key_path: Path, days: int = 3650) -> None:
    """Write a P-256 key and a certificate for `hostname`; the key file is readable by its owner only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "govmail (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname), x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_context(cert: Path | None, key: Path | None, data_dir: Path, hostname: str) -> ssl.SSLContext:
    """TLS for STARTTLS: configured files win; otherwise `<data>/tls/ingress.{crt,key}`, generated once and reused."""
    if cert is None or key is None:
        folder = data_dir / "tls"
        cert, key = folder / "ingress.crt", folder / "ingress.key"
        folder.mkdir(parents=True, exist_ok=True)
        # Workers and replicas start together: one makes the pair, the others wait and reuse it,
        # so no process loads a certificate with another process's key.
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (cert.exists() and key.exists()):
                self_signed(hostname, cert, key)
                logger.warning("tls_self_signed_created", cert=str(cert), hostname=hostname)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
