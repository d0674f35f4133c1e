"""SecretBox: channel secrets sealed with the keys of CHATPORT_SECRET_KEY, newest first."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from chatport.errors import ConfigurationError, SecretKeyError
from chatport.store.secret_box import PREFIX, SecretBox, generate_key

A, B = generate_key(), Fernet.generate_key().decode()


def test_sealed_values_are_tagged_tokens_that_any_key_of_the_list_opens() -> None:
    sealed = SecretBox.from_setting(A).seal("waha-key")
    assert sealed.startswith(PREFIX) and "waha-key" not in sealed
    assert SecretBox.from_setting(f" {B} , {A} ,").open(sealed) == "waha-key"
    assert SecretBox.from_setting(A).seal(None) is None


def test_without_a_key_values_are_clear_and_clear_values_read_under_any_key() -> None:
    clear = SecretBox.from_setting(None)
    assert not clear.encrypts and clear.seal("k") == "k" and clear.open("k") == "k"
    assert SecretBox.from_setting(A).open("written-before-the-key") == "written-before-the-key"


def test_a_sealed_value_without_its_key_is_a_configuration_error_naming_the_setting() -> None:
    sealed = SecretBox.from_setting(A).seal("k")
    with pytest.raises(SecretKeyError, match="CHATPORT_SECRET_KEY is not set"):
        SecretBox().open(sealed)
    with pytest.raises(SecretKeyError, match="any key of CHATPORT_SECRET_KEY"):
        SecretBox.from_setting(B).open(sealed)
    with pytest.raises(SecretKeyError, match="any key of CHATPORT_SECRET_KEY"):
        SecretBox.from_setting(B).open(PREFIX + "not-a-token-é")
    assert issubclass(SecretKeyError, ConfigurationError)


def test_a_setting_that_is_not_fernet_keys_is_refused_without_showing_it() -> None:
    with pytest.raises(SecretKeyError, match="key 2 of 2 is not a Fernet key") as refused:
        SecretBox.from_setting(f"{A},hunter2")
    assert "hunter2" not in str(refused.value)
    assert A not in repr(SecretBox.from_setting(A))


def test_reseal_moves_values_to_the_newest_key_and_leaves_those_already_there() -> None:
    old, rotated = SecretBox.from_setting(A), SecretBox.from_setting(f"{B},{A}")
    resealed = rotated.reseal(old.seal("k"))
    assert SecretBox.from_setting(B).open(resealed) == "k"
    assert rotated.reseal(resealed) is None and rotated.reseal(None) is None
    assert SecretBox.from_setting(B).open(rotated.reseal("clear")) == "clear"
    with pytest.raises(SecretKeyError, match="not set"):
        SecretBox().reseal("clear")
