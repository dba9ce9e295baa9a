"""Vendor credentials for live feeds: from an environment variable or the OS keyring, never a file.

Why not a config file: a key in a file ends up committed or synced. The environment suits
servers and CI; the keyring (``pip install tapeflow[keyring]``; service ``tapeflow``) suits a
desktop: ``python -m keyring set tapeflow databento-api-key``.
"""

from __future__ import annotations

import os

from tapeflow.errors import TapeflowError

KEYRING_SERVICE = "tapeflow"


def get_secret(env_var: str, keyring_name: str) -> str:
    """The secret from ``env_var``, else from the keyring entry ``tapeflow``/``keyring_name``."""
    value = os.environ.get(env_var, "").strip()
    if value:
        return value
    try:
        import keyring  # optional extra
    except ImportError:
        keyring = None
    if keyring is not None:
        try:
            value = (keyring.get_password(KEYRING_SERVICE, keyring_name) or "").strip()
        except Exception as e:  # no keyring backend on this machine
            raise TapeflowError(f"{env_var} is not set and the OS keyring failed: {e}") from None
        if value:
            return value
    raise TapeflowError(
        f"{env_var} is not set; set it, or store it with `python -m keyring set {KEYRING_SERVICE} {keyring_name}`"
        " (needs tapeflow[keyring])"
    )
