"""Trust on first use: the System API certificate's fingerprint, kept in the store.

Recorded in the `settings` table under `ssapi_tls_sha256:<host>:<port>`, so a restart keeps
refusing a different certificate. A fingerprint in the configuration (`ssapi_fingerprint`)
always wins over a recorded one: that is how an operator re-pins after reinstalling the
server (or deletes the row).
"""

from __future__ import annotations

import logging

from micboardd.ssapi.options import SsapiOptions, format_fingerprint
from micboardd.store.database import Store

log = logging.getLogger(__name__)

PIN_SETTING_PREFIX = "ssapi_tls_sha256:"
ORIGIN_CONFIG = "pinned by setting ssapi_fingerprint"


def pin_setting_key(options: SsapiOptions) -> str:
    return PIN_SETTING_PREFIX + options.host_port


async def load_pin(store: Store, options: SsapiOptions) -> tuple[str | None, str]:
    """(pin, where it came from): the configured one, else the one recorded on first use."""
    if options.fingerprint:
        return options.fingerprint, ORIGIN_CONFIG
    key = pin_setting_key(options)
    recorded = await store.get_setting(key)
    if recorded:
        return recorded, f"recorded on first use in settings {key}"
    return None, ""


async def record_first_use(store: Store, options: SsapiOptions, fingerprint: str) -> None:
    key = pin_setting_key(options)
    await store.set_setting(key, fingerprint)
    log.warning(
        "System API %s: trusting its TLS certificate on first use, SHA-256 %s; recorded in "
        "settings %s. A different certificate will be refused; compare this fingerprint with "
        "the server's, or set ssapi_fingerprint to pin one explicitly",
        options.endpoint,
        format_fingerprint(fingerprint),
        key,
    )
