"""Plain Ed25519 over raw bytes (publisher signatures over leaves): Wycheproof and RFC 8032."""
import pytest

from conftest import load_vector
from pcc._internal import ed25519, tlognote
from pcc.errors import FormatError

W = load_vector("wycheproof/ed25519_test.json")
CASES = [(g["publicKey"]["pk"], t) for g in W["testGroups"] for t in g["tests"]]

# RFC 8032 §7.1 TEST 1 and TEST 2
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46"
     "bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8"
     "c387b2eaeb4302aeeb00d291612bb0c00"),
]


@pytest.mark.parametrize("pk,case", CASES, ids=[str(t["tcId"]) for _, t in CASES])
def test_wycheproof_verify(pk, case):
    ok = ed25519.verify(bytes.fromhex(pk), bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
    assert ok == (case["result"] == "valid"), case["comment"]


@pytest.mark.parametrize("seed,pk,msg,sig", RFC8032)
def test_rfc8032_sign(seed, pk, msg, sig):
    got = ed25519.sign(bytes.fromhex(seed), bytes.fromhex(msg))
    assert got.hex() == sig
    assert ed25519.verify(bytes.fromhex(pk), bytes.fromhex(msg), got)


def test_note_keys_sign_raw_bytes():
    skey, vkey = tlognote.generate("publisher.example")
    leaf = bytes(range(256)) * 3                      # binary: not note text
    sig = tlognote.raw_sign(skey, leaf)
    v = tlognote.load_verifier(vkey)
    assert tlognote.raw_verify(v, leaf, sig)
    assert not tlognote.raw_verify(v, leaf + b"x", sig)
    assert not tlognote.raw_verify(v, leaf, sig[:63])
    _, other = tlognote.generate("publisher.example")
    assert not tlognote.raw_verify(tlognote.load_verifier(other), leaf, sig)


def test_bad_inputs():
    assert not ed25519.verify(b"\x00" * 31, b"m", b"\x00" * 64)
    assert not ed25519.verify(b"\x00" * 32, b"m", b"\x00" * 63)
    with pytest.raises(FormatError):
        ed25519.sign(b"\x00" * 31, b"m")
    with pytest.raises(FormatError):
        ed25519.seed_from_skey("not an skey")
    with pytest.raises(FormatError):
        ed25519.seed_from_skey("PRIVATE+KEY+a+00000000+AAAA")
