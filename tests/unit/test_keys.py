"""Agency keys: files, modes, key ids, and that key material never shows in a repr."""

import stat
from pathlib import Path

import pytest

from bus.errors import ConfigError
from bus.keys import AgencySigningKey, KeyStore, generate_key_files
from bus.keys.thumbprint import jwk_thumbprint


def test_keygen_writes_private_key_0600_and_a_loadable_public_key(tmp_path: Path) -> None:
    private, _ = generate_key_files("muni-a", tmp_path / "priv", tmp_path / "pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = AgencySigningKey.from_pem_file("muni-a", private)
    store = KeyStore.from_directory(tmp_path / "pub")
    found = store.get(key.kid)
    assert found is not None
    assert found.agency_id == "muni-a"
    signature = key.sign(b"message")
    found.verify_key.verify(b"message", signature)


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    generate_key_files("muni-a", tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="exists already"):
        generate_key_files("muni-a", tmp_path, tmp_path)


def test_repr_never_shows_key_material() -> None:
    key = AgencySigningKey.generate("muni-a")
    pem = key.private_pem().decode()
    secret_line = pem.splitlines()[1]
    assert secret_line not in repr(key)
    assert repr(key) == "AgencySigningKey(agency_id='muni-a')"


def test_bad_agency_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="agency id 'Bad Id'"):
        AgencySigningKey.generate("Bad Id")


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of its example Ed25519 public key.
    raw = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    assert jwk_thumbprint(raw) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_public_key_directory_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "muni-a.pub.pem").write_text("not a key")
    with pytest.raises(ConfigError, match=r"muni-a\.pub\.pem"):
        KeyStore.from_directory(tmp_path)


def test_cli_keygen_prints_paths_but_never_the_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bus.cli.main import app

    result = CliRunner().invoke(
        app,
        [
            "agency",
            "keygen",
            "muni-b",
            "--private-dir",
            str(tmp_path / "p"),
            "--public-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    private = (tmp_path / "p" / "muni-b.key.pem").read_text()
    assert "PRIVATE KEY" in private
    assert private.splitlines()[1] not in result.output
    assert str(tmp_path / "muni-b.pub.pem") in result.output
