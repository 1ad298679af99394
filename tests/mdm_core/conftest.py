"""Keys and certificates shared by the crypto tests (RSA key generation is slow)."""
from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mdm_core import ca


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="session")
def ca_identity() -> ca.Identity:
    return ca.create_ca("Example MDM CA", "Example Org")


@pytest.fixture(scope="session")
def foreign_ca_identity() -> ca.Identity:
    """Another CA, for certificates this server did not issue."""
    return ca.create_ca("Someone Else CA", "Other Org")


@pytest.fixture(scope="session")
def device_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def device_identity(ca_identity, device_key) -> ca.Identity:
    certificate = ca.issue_certificate(
        ca_identity, device_key.public_key(), _name("device-1"), days=365
    )
    return ca.Identity(certificate, device_key)


@pytest.fixture(scope="session")
def foreign_device_identity(foreign_ca_identity, device_key) -> ca.Identity:
    """The same key, certified by a CA that is not ours."""
    certificate = ca.issue_certificate(
        foreign_ca_identity, device_key.public_key(), _name("device-1"), days=365
    )
    return ca.Identity(certificate, device_key)
