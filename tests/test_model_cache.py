"""The model cache: progress lines, an offline error that says how to supply the file, and
PCC_MODEL_FILE (checked against the known digests). No network: pip is never run."""
from __future__ import annotations

import pytest

from pcc._internal import model_cache as mc
from pcc.errors import PccError, VerifyError


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PCC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(mc.ENV_FILE, raising=False)
    mc._verified.clear()
    yield tmp_path
    mc._verified.clear()


def test_offline_error_says_how_to_supply_the_model(empty_cache, monkeypatch, capsys):
    monkeypatch.setattr(mc, "_pip_download",
                        lambda dest: (1, "ERROR: Could not find a version (network down)"))
    with pytest.raises(PccError) as e:
        mc.default_model_path()
    msg = str(e.value)
    assert "network down" in msg and "PCC_MODEL_FILE" in msg and mc.WHEEL_NAME in msg
    assert str(empty_cache / "cache" / "models" / mc.MODEL_NAME) in msg
    err = capsys.readouterr().err
    assert err.startswith("pcc: fetching the demo model") and "98 MB" in err


def test_model_file_must_exist(empty_cache, monkeypatch):
    monkeypatch.setenv(mc.ENV_FILE, str(empty_cache / "missing.gguf"))
    with pytest.raises(PccError, match="no such file"):
        mc.default_model_path()


@pytest.mark.parametrize("name", ["other.gguf", mc.WHEEL_NAME])
def test_model_file_wrong_digest(empty_cache, monkeypatch, name):
    f = empty_cache / name
    f.write_bytes(b"GGUF not the model")
    monkeypatch.setenv(mc.ENV_FILE, str(f))
    with pytest.raises(VerifyError, match="SHA-256"):
        mc.default_model_path()


@pytest.mark.slow
def test_model_file_supplied(empty_cache, monkeypatch, tmp_path_factory):
    # the real file, from the ordinary cache (fetched once by the other model tests)
    monkeypatch.delenv("PCC_CACHE")
    real = mc.default_model_path()
    monkeypatch.setenv("PCC_CACHE", str(empty_cache / "cache"))
    monkeypatch.setenv(mc.ENV_FILE, str(real))
    monkeypatch.setattr(mc, "_pip_download", lambda dest: pytest.fail("must not download"))
    assert mc.default_model_path() == real
    assert mc.default_model_path() == real
