"""Settings that would be silently insecure are refused, with the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from micboardd.config import Settings
from micboardd.errors import ConfigError
from micboardd.ssapi.options import (
    format_fingerprint,
    normalize_fingerprint,
    options_from_settings,
    parse_url,
    read_api_key,
)

from .conftest import TlsSettings, write_key

HEX = "ab" * 32


def test_url_forms() -> None:
    assert parse_url("https://sapi.local") == ("https://sapi.local:10000/api", "sapi.local", 10000)
    assert parse_url("https://10.0.0.5:9443/api/") == (
        "https://10.0.0.5:9443/api",
        "10.0.0.5",
        9443,
    )
    assert parse_url("https://[fe80::1]:10000/api")[0] == "https://[fe80::1]:10000/api"
    for bad, reason in (
        ("http://sapi.local:10000/api", "clear text"),
        ("sapi.local:10000", "https://"),
        ("https://user:pw@sapi.local/api", "credentials"),
        ("https://:10000/api", "no host"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse_url(bad)


def test_key_file_must_be_private(tmp_path: Path) -> None:
    good = write_key(tmp_path / "k", "abc")
    assert read_api_key(good).reveal() == "abc"
    loose = write_key(tmp_path / "loose", "abc", mode=0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_api_key(loose)
    with pytest.raises(ConfigError, match="cannot read"):
        read_api_key(tmp_path / "missing")
    two = write_key(tmp_path / "two", "abc def")
    with pytest.raises(ConfigError, match="alone on one line"):
        read_api_key(two)


def test_fingerprints() -> None:
    colons = format_fingerprint(HEX)
    assert colons.startswith("AB:AB:") and len(colons) == 95
    assert normalize_fingerprint(colons) == HEX
    assert normalize_fingerprint("sha256:" + HEX.upper()) == HEX
    with pytest.raises(ValueError, match="64 hex"):
        normalize_fingerprint("ab:cd")


def test_options_from_settings(tmp_path: Path) -> None:
    key = write_key(tmp_path / "k")
    opts = options_from_settings(Settings(ssapi_url="https://h/api", ssapi_key_file=key))
    assert (opts.endpoint, opts.host_port, opts.ca_file, opts.fingerprint) == (
        "https://h:10000/api",
        "h:10000",
        None,
        None,
    )
    assert opts.ws_url("/v1/x") == "wss://h:10000/api/v1/x"
    with pytest.raises(ConfigError, match="ssapi_key_file"):
        options_from_settings(Settings(ssapi_url="https://h/api"))
    with pytest.raises(ConfigError, match="ssapi_url"):
        options_from_settings(Settings(ssapi_url="http://h/api", ssapi_key_file=key))
    pinned = options_from_settings(
        TlsSettings(
            ssapi_url="https://h", ssapi_key_file=key, ssapi_fingerprint=format_fingerprint(HEX)
        )
    )
    assert pinned.fingerprint == HEX
    with pytest.raises(ConfigError, match="ssapi_fingerprint"):
        options_from_settings(
            TlsSettings(ssapi_url="https://h", ssapi_key_file=key, ssapi_fingerprint="xx")
        )
    with pytest.raises(ConfigError, match="ssapi_ca_file"):
        options_from_settings(
            TlsSettings(
                ssapi_url="https://h", ssapi_key_file=key, ssapi_ca_file=tmp_path / "none.pem"
            )
        )


def test_check_settings_before_start(tmp_path: Path) -> None:
    from micboardd.ssapi.options import check_settings

    check_settings(Settings())  # no System API: nothing to check
    loose = write_key(tmp_path / "k", "abc", mode=0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        check_settings(Settings(ssapi_url="https://h/api", ssapi_key_file=loose))
    check_settings(Settings(ssapi_key_file=loose))  # no URL: the key file is not used
