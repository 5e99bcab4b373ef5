"""Settings refuse what they do not know, naming it; provider options are checked at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from openkling.config import Settings
from openkling.errors import ConfigError
from openkling.providers.loader import build_providers


def test_unknown_toml_key_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "openkling.toml"
    config.write_text('prot = 9000\n[models."x"]\nprovider = "diffusers"\nduration = [5]\n')
    monkeypatch.setenv("OPENKLING_CONFIG", str(config))
    with pytest.raises(ValidationError) as caught:
        Settings()
    locations = {".".join(str(p) for p in error["loc"]) for error in caught.value.errors()}
    assert locations == {"prot", "models.x.duration"}


def test_known_toml_keys_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "openkling.toml"
    config.write_text('port = 9000\n[provider_options.diffusers]\nmodel = "tiny-random-wan"\n')
    monkeypatch.setenv("OPENKLING_CONFIG", str(config))
    settings = Settings()
    assert settings.port == 9000
    assert settings.provider_options == {"diffusers": {"model": "tiny-random-wan"}}


def test_unknown_keyword_is_an_error() -> None:
    with pytest.raises(ValidationError, match="lease_secs"):
        Settings(lease_secs=5)  # type: ignore[call-arg]


def test_invalid_provider_option_stops_start_up_naming_the_field(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path,
                        provider_options={"diffusers": {"width": 100, "colour": "red"}})
    with pytest.raises(ConfigError) as caught:
        build_providers(["diffusers"], settings)
    message = str(caught.value)
    assert message.startswith("provider_options.diffusers: ")
    assert "width: " in message and "colour: " in message


def test_a_provider_that_cannot_load_is_unavailable_with_its_reason(tmp_path: Path) -> None:
    built = build_providers(["no.such.module:Factory"], Settings(data_dir=tmp_path))
    assert built.available == {}
    assert "cannot be loaded" in built.unavailable["no.such.module:Factory"]


def test_worker_stale_seconds_must_be_longer_than_the_heartbeat() -> None:
    assert Settings(heartbeat_seconds=10, worker_stale_seconds=10.5).worker_stale_seconds == 10.5
    with pytest.raises(ValidationError, match=r"worker_stale_seconds \(10\) must be longer than "
                       r"heartbeat_seconds \(10\)"):
        Settings(heartbeat_seconds=10, worker_stale_seconds=10)


def test_worker_stale_seconds_defaults_to_60_or_three_heartbeats() -> None:
    assert Settings(heartbeat_seconds=10).worker_stale_limit == 60
    assert Settings(heartbeat_seconds=30, lease_seconds=120).worker_stale_limit == 90


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_secret_key_is_an_error_naming_it(
        blank: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unfilled secret.env / .env must not fall back to a key of the process's own."""
    monkeypatch.setenv("OPENKLING_SECRET_KEY", blank)
    with pytest.raises(ValidationError, match="OPENKLING_SECRET_KEY"):
        Settings()


def test_a_set_or_unset_secret_key_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENKLING_SECRET_KEY", raising=False)
    assert Settings().secret_key is None
    monkeypatch.setenv("OPENKLING_SECRET_KEY", "k")
    assert Settings().secret_key == "k"


def test_a_tls_key_without_its_certificate_is_an_error_naming_both() -> None:
    with pytest.raises(ValidationError, match=r"OPENKLING_TLS_KEYFILE.*OPENKLING_TLS_CERTFILE"):
        Settings(tls_keyfile=Path("server.key"))


def test_the_default_public_url_is_https_under_tls() -> None:
    """docs/configuration.md: `http://<host>:<port>`, `https://` with a TLS certificate."""
    assert Settings(port=8443).resolved_public_url == "http://127.0.0.1:8443"
    assert Settings(port=8443, tls_certfile=Path("server.pem")).resolved_public_url \
        == "https://127.0.0.1:8443"
