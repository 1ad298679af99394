"""SCEP for user identities (Wi-Fi, VPN, mail): the user identity CA, a challenge bound to the device in the
URL, and a certificate naming the device's user whatever the CSR asks."""
from __future__ import annotations

from cryptography import x509

from mdm_core.ca import certificate_fingerprint
from mdm_core.user_identity import UserIdentityError, UserNames, issue_user_identity

from .. import audit
from ..extensions import csrf
from ..models.user_identity import UserIdentityChallenge
from ..pki import user_identity_ca
from ..user_identities import IDENTITY_SCEP_PATH, consume_identity_challenge, names_for
from . import bp
from .scep import ScepPolicy, answer


def _consume(device_id: int, challenge: str) -> tuple[UserIdentityChallenge, UserNames] | None:
    row = consume_identity_challenge(device_id, challenge)
    if row is None:
        return None
    try:
        return row, names_for(row)
    except UserIdentityError:  # the user's Managed Apple ID changed into one a certificate cannot name
        return None


def _issue(granted: tuple[UserIdentityChallenge, UserNames], csr: x509.CertificateSigningRequest) -> x509.Certificate:
    return issue_user_identity(user_identity_ca(), csr.public_key(), granted[1])


def _record(granted: tuple[UserIdentityChallenge, UserNames], certificate: x509.Certificate) -> None:
    row, names = granted
    row.certificate_fingerprint = certificate_fingerprint(certificate)
    audit.record("scep.user_identity_issued", actor_type="device", actor=names.common_name,
                 target_type="device", target_id=row.device_id,
                 detail={"serial": format(certificate.serial_number, "x"), "profile": row.profile_identifier})


@bp.route(f"{IDENTITY_SCEP_PATH}/<id:device_id>", methods=["GET", "POST"])
@csrf.exempt
def identity_scep(device_id: int):
    return answer(ScepPolicy(ca=user_identity_ca, consume=lambda challenge: _consume(device_id, challenge),
                             issued=_record, issue=_issue))
