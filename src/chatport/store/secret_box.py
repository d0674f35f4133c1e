"""Secrets at rest: the channel secrets stored in the database (`channels.waha_api_key`,
`channels.webhook_hmac_key`) sealed with Fernet (`cryptography`) when `CHATPORT_SECRET_KEY` is
set.

The setting holds one or more Fernet keys, comma-separated, newest first: values are sealed
with the first and opened with any (`MultiFernet`), so a new key is put in front of the old
ones, `chatport secrets rotate` reseals every stored value with it, and the old keys can then be
dropped. A sealed value is stored as `fernet:` + the token; any other stored value is clear
text (written before a key was set, or by hand), which still reads and which `rotate` seals.
Without a key, values are stored and read in clear; a sealed value then cannot be read
(`SecretKeyError`).

The composition root builds the box from the settings (`bootstrap.secret_box`) and hands it to
the `Database`; the store functions that write or read these columns seal and open them.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatport.errors import SecretKeyError

PREFIX = "fernet:"
"""What a sealed stored value starts with (the Fernet token follows)."""
SETTING = "CHATPORT_SECRET_KEY"


def generate_key() -> str:
    """A new Fernet key (url-safe base64 of 32 random bytes)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


class SecretBox:
    """Seals and opens stored secrets with the keys of `CHATPORT_SECRET_KEY` (none: clear)."""

    def __init__(self, keys: Sequence[str] = ()) -> None:
        """`keys`: Fernet keys, newest first; a key that is not one is a SecretKeyError
        (the message names the setting, never the key)."""
        self._keys = tuple(keys)
        self._newest = None
        self._all = None
        if self._keys:
            from cryptography.fernet import Fernet, MultiFernet

            fernets = []
            for number, key in enumerate(self._keys, 1):
                try:
                    fernets.append(Fernet(key.encode("ascii")))
                except (ValueError, UnicodeEncodeError):
                    raise SecretKeyError(
                        f"{SETTING}: key {number} of {len(self._keys)} is not a Fernet key "
                        "(32 url-safe base64-encoded bytes; `chatport secrets generate-key` "
                        "makes one)"
                    ) from None
            self._newest = fernets[0]
            self._all = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, value: str | None) -> SecretBox:
        """The box of a `CHATPORT_SECRET_KEY` value: comma-separated keys, newest first
        (blanks around them ignored); None or blank: no key."""
        keys = [key.strip() for key in (value or "").split(",") if key.strip()]
        return cls(keys)

    @property
    def encrypts(self) -> bool:
        """Whether values are sealed (a key is set)."""
        return self._all is not None

    def __repr__(self) -> str:  # never the keys
        return f"SecretBox({len(self._keys)} key{'s' if len(self._keys) != 1 else ''})"

    def seal(self, value: str | None) -> str | None:
        """What to store for `value`: sealed with the newest key, or `value` itself without
        a key. None stays None."""
        if value is None or self._newest is None:
            return value
        return PREFIX + self._newest.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, stored: str | None) -> str | None:
        """The clear value of a stored one (a clear stored value is returned as it is);
        SecretKeyError when it is sealed and no key of the setting opens it."""
        if stored is None or not stored.startswith(PREFIX):
            return stored
        if self._all is None:
            raise SecretKeyError(
                f"a stored channel secret is encrypted but {SETTING} is not set: set it to "
                "the key(s) it was encrypted with"
            )
        from cryptography.fernet import InvalidToken

        try:
            return self._all.decrypt(stored.removeprefix(PREFIX).encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                f"a stored channel secret cannot be decrypted with any key of {SETTING} "
                "(a wrong key, or the key it was encrypted with was dropped from the list)"
            ) from None

    def reseal(self, stored: str | None) -> str | None:
        """`stored` sealed with the newest key, or None when it needs no rewrite (None, or
        already sealed with the newest key). A clear value is sealed; a value sealed with an
        older key of the list is sealed again; SecretKeyError without a key, or for a value
        no key opens."""
        if stored is None:
            return None
        if self._newest is None:
            raise SecretKeyError(f"{SETTING} is not set: there is no key to encrypt with")
        if stored.startswith(PREFIX):
            from cryptography.fernet import InvalidToken

            try:
                self._newest.decrypt(stored.removeprefix(PREFIX).encode("ascii"))
                return None  # already sealed with the newest key
            except (InvalidToken, UnicodeError):
                pass  # an older key's, or none's (then `open` says so)
            return self.seal(self.open(stored))
        return self.seal(stored)
