"""TLS to devices with self-signed certificates: pinning by SHA-256, trust on first use.

Used by every HTTPS client of a device that cannot have a CA-signed certificate: the Shure
System API (`ssapi/`) and Sennheiser's SSCv2 (`sennheiser/sscv2_client.py`).
"""
