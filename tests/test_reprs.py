"""Public objects print readably: no ``object at 0x...``, ids in hex, never a secret."""
from __future__ import annotations

import re

import pytest

from pcc import blindrsa, bhttp, hpke, merkle, note, ohttp, tokens
from pcc.llm import DEFAULTS, GenerationParams


def _objects():
    sk = hpke.PrivateKey.generate(0x0020)
    suite = hpke.Suite(kem=0x0020, kdf=0x0001, aead=0x0001)
    enc, sctx = hpke.setup_sender(suite, sk.public_bytes())
    rctx = hpke.setup_recipient(suite, enc, sk)
    cfg = ohttp.KeyConfig(1, 0x0020, sk.public_bytes(), suites=[(0x0001, 0x0001)])
    gw = ohttp.Gateway([(cfg, sk)])
    er, cctx = ohttp.encapsulate_request(cfg, b"x")
    _, resp_ctx = gw.decapsulate(er)
    bsk = blindrsa.PrivateKey.generate(bits=2048)
    issuer = tokens.Issuer(bsk)
    signer = note.Signer.generate("log.example")
    tree = merkle.Tree()
    tree.append(b"a")
    ok = {
        "hpke.PrivateKey": sk, "blindrsa.PrivateKey": bsk, "blindrsa.PublicKey": bsk.public_key(),
        "tokens.Issuer": issuer, "tokens.TokenChallenge": tokens.TokenChallenge("i.example"),
        "note.Signer": signer, "note.Verifier": signer.verifier, "merkle.Tree": tree,
        "note.Checkpoint": note.Checkpoint("log.example", 1, tree.root()),
        "bhttp.Request": bhttp.Request("GET", "https", "a.example", "/"),
        "llm.GenerationParams": DEFAULTS,
        "hpke.Suite": suite, "hpke.SenderContext": sctx, "hpke.RecipientContext": rctx,
        "ohttp.KeyConfig": cfg, "ohttp.Gateway": gw, "ohttp.ClientContext": cctx,
        "ohttp.ResponseContext": resp_ctx,
    }
    # Secrets as text: the note signer key, and the HPKE private key and a context's exporter
    # output in hex (a repr must show neither).
    secrets = [signer.skey, sk.private_bytes().hex(), sctx.export(b"repr", 32).hex()]
    return ok, secrets


OK, SECRETS = _objects()


def _check(obj) -> None:
    text = repr(obj)
    assert "object at 0x" not in text, text
    assert not re.search(r"\b(kem|kdf|aead)=(?!0x)\d", text), f"suite ids should be hex: {text}"
    assert not re.search(r"b'\\x", text), f"raw bytes: {text}"
    for s in SECRETS:
        assert s not in text


@pytest.mark.parametrize("name", sorted(OK))
def test_repr(name):
    _check(OK[name])


def test_repr_shows_ids_in_hex():
    assert repr(OK["hpke.Suite"]) == "hpke.Suite(kem=0x0020, kdf=0x0001, aead=0x0001)"
    assert repr(OK["hpke.SenderContext"]) == (
        "<hpke.SenderContext kem=0x0020 kdf=0x0001 aead=0x0001 seq=0>")
    assert repr(OK["ohttp.KeyConfig"]) == (
        "ohttp.KeyConfig(key_id=0x01, kem=0x0020, public_key=<32 bytes>, "
        "suites=[(kdf=0x0001, aead=0x0001)])")
    assert repr(OK["ohttp.Gateway"]) == "ohttp.Gateway(key_ids=[0x01])"
    assert repr(OK["ohttp.ResponseContext"]) == (
        "ohttp.ResponseContext(key_id=0x01, suite=(kem=0x0020, kdf=0x0001, aead=0x0001))")
    assert repr(OK["ohttp.ClientContext"]) == (
        "ohttp.ClientContext(suite=(kem=0x0020, kdf=0x0001, aead=0x0001))")


def test_generation_defaults_are_one_set():
    """API, CLI and demo share pcc.llm.DEFAULTS (greedy, 256 tokens, no filters)."""
    import inspect

    from pcc.cli import build_parser
    from pcc.llm import Model
    assert DEFAULTS == GenerationParams(max_tokens=256, temperature=0.0, top_p=1.0, top_k=0,
                                        seed=None)
    sig = inspect.signature(Model.generate)
    for f in ("max_tokens", "temperature", "top_p", "top_k", "seed"):
        assert sig.parameters[f].default == getattr(DEFAULTS, f), f
    args = build_parser().parse_args(["llm", "run", "--prompt", "x"])
    for f in ("max_tokens", "temperature", "top_p", "top_k", "seed"):
        assert getattr(args, f) == getattr(DEFAULTS, f), f
    from pcc import demo
    src = inspect.getsource(demo.main)
    assert "DEFAULTS.max_tokens" in src
    with pytest.raises(Exception):
        DEFAULTS.max_tokens = 1  # type: ignore[misc]  # frozen
