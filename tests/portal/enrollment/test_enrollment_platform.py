"""Reading the device from Safari's User-Agent."""
import pytest

from portal.enrollment.platform import detect

UA = "Mozilla/5.0 ({}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{} Mobile/15E148 Safari/604.1"


@pytest.mark.parametrize("ua, kind, version, account_driven", [
    (UA.format("iPhone; CPU iPhone OS 17_5 like Mac OS X", "17.5"), "ios", (17, 5), False),
    (UA.format("iPhone; CPU iPhone OS 18_0 like Mac OS X", "18.0"), "ios", (18, 0), True),
    (UA.format("iPad; CPU OS 16_7 like Mac OS X", "16.6"), "ios", (16, 7), False),
    (UA.format("Macintosh; Intel Mac OS X 10_15_7", "18.2"), "mac_or_ipad", (18, 2), True),
    (UA.format("Macintosh; Intel Mac OS X 10_15_7", "17.4"), "mac_or_ipad", (17, 4), False),
    ("Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36", "other", None, False),
    ("", "other", None, False),
])
def test_detects_platform_and_version(ua, kind, version, account_driven):
    platform = detect(ua)
    assert (platform.kind, platform.version, platform.needs_account_driven) == (kind, version, account_driven)


def test_ios_before_13_1_is_too_old():
    assert detect(UA.format("iPhone; CPU iPhone OS 12_4 like Mac OS X", "12.1")).too_old
