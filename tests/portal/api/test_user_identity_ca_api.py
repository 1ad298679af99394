"""The user identity CA's certificate, for RADIUS and VPN servers: public, PEM or DER, never the device CA."""
from cryptography import x509

from portal.pki import device_ca, user_identity_ca


def test_user_identity_ca_is_served_without_a_token_as_pem_and_der(app, client):
    pem = client.get("/api/v1/pki/user-identity-ca")
    der = client.get("/api/v1/pki/user-identity-ca?format=der")
    assert (pem.status_code, pem.mimetype, der.status_code, der.mimetype) == (
        200, "application/x-pem-file", 200, "application/pkix-cert")
    assert 'filename="user-identity-ca.pem"' in pem.headers["Content-Disposition"]
    assert 'filename="user-identity-ca.cer"' in der.headers["Content-Disposition"]
    served = x509.load_pem_x509_certificate(pem.data)
    assert served == x509.load_der_x509_certificate(der.data)
    with app.app_context():
        assert served == user_identity_ca().certificate
        assert served.public_key() != device_ca().certificate.public_key()
    assert "User Identities" in served.subject.rfc4514_string()


def test_an_unknown_format_is_a_json_400(client):
    response = client.get("/api/v1/pki/user-identity-ca?format=p7b")
    assert response.status_code == 400 and response.json["error"] == "bad_request"


def test_other_api_routes_still_need_a_token(client):
    assert client.get("/api/v1/devices").status_code == 401


def test_admin_dashboard_links_both_downloads(admin_client):
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "/api/v1/pki/user-identity-ca?format=pem" in page and "/api/v1/pki/user-identity-ca?format=der" in page
