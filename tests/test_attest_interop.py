"""pcc.attest interop both ways with `cryptography` and the msgpack package: keys, signatures,
CSRs, bundles built by pcc and verified by independent code (and the reverse, throughout
test_attest.py); registers, tree manifests and canonical msgpack against independent
implementations; hypothesis mutation of bundles (never raises, never passes once signed bytes
change)."""
import hashlib
import os

import msgpack
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings, strategies as st

from _attest_util import DAY, EVENTS, NOW, World, make_cert, p256, p384, spki_der
from pcc import attest
from pcc.errors import FormatError, InvalidArgument, VerifyError

W = World()
TRUST = W.trust()


# ---- identity keys -------------------------------------------------------------------------

def test_identity_key_signature_verifies_with_cryptography():
    k = attest.IdentityKey.generate()
    pub = serialization.load_der_public_key(k.spki)
    assert isinstance(pub.curve, ec.SECP384R1)
    assert len(k.spki) == 120 and k.node_id == hashlib.sha256(k.spki).digest()
    sig = k.sign(b"hello")
    pub.verify(sig, b"hello", ec.ECDSA(hashes.SHA384()))
    with pytest.raises(InvalidSignature):
        pub.verify(sig, b"hellO", ec.ECDSA(hashes.SHA384()))
    attest.verify_signature(k.spki, b"hello", sig)


def test_cryptography_signature_verifies_with_pcc():
    key = p384()
    sig = key.sign(b"msg", ec.ECDSA(hashes.SHA384()))
    attest.verify_signature(spki_der(key), b"msg", sig)
    with pytest.raises(VerifyError):
        attest.verify_signature(spki_der(key), b"msG", sig)
    with pytest.raises(VerifyError):
        attest.verify_signature(spki_der(key), b"msg", sig + b"\x00")  # not DER
    with pytest.raises(FormatError):
        attest.verify_signature(spki_der(p256()), b"msg", sig)
    with pytest.raises(FormatError):
        attest.verify_signature(b"\x30\x00", b"msg", sig)


def test_csr_names_the_serial_and_verifies():
    k = attest.IdentityKey.generate()
    csr = x509.load_der_x509_csr(k.csr("SN-0001"))
    assert csr.is_signature_valid
    assert csr.signature_hash_algorithm.name == "sha384"
    attrs = csr.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    assert [a.value for a in attrs] == ["SN-0001"] and len(csr.subject) == 1
    assert csr.subject.rdns[0]._attributes[0].oid.dotted_string == "2.5.4.5"
    assert csr.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == k.spki


@pytest.mark.parametrize("serial", ["", "x" * 65, "snö", "a*b", "a\x00b", "a@b"])
def test_csr_bad_serial(serial):
    with pytest.raises(InvalidArgument):
        attest.IdentityKey.generate().csr(serial)


def test_export_and_import_private_key():
    k = attest.IdentityKey.generate()
    der = k.export_private_der()
    ck = serialization.load_der_private_key(der, None)
    assert spki_der(ck) == k.spki
    assert attest.IdentityKey.from_private_der(der).spki == k.spki
    # cryptography-made keys, PKCS#8 and SEC 1
    c = p384()
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        raw = c.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        assert attest.IdentityKey.from_private_der(raw).spki == spki_der(c)
        with pytest.raises(FormatError):
            attest.IdentityKey.from_private_der(raw + b"\x00")
    bad = p256().private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    with pytest.raises(FormatError):
        attest.IdentityKey.from_private_der(bad)
    with pytest.raises(FormatError):
        attest.IdentityKey.from_private_der(b"junk")


def test_key_repr_shows_no_secret():
    k = attest.IdentityKey.generate()
    der = k.export_private_der()
    r = repr(k) + repr(k._k)
    assert k.node_id.hex()[:16] in r and der.hex()[-40:] not in r
    with pytest.raises(TypeError):
        attest.IdentityKey(object())


# ---- bundles built by pcc, checked by independent code ----------------------------------------

def issue(csr_der: bytes) -> bytes:
    """A CA (cryptography) certifying a CSR for the world's intermediate."""
    csr = x509.load_der_x509_csr(csr_der)
    assert csr.is_signature_valid
    pub = csr.public_key()
    cert = (x509.CertificateBuilder().subject_name(csr.subject)
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                       "pcc test intermediate")]))
            .public_key(pub).serial_number(x509.random_serial_number())
            .not_valid_before(__import__("_attest_util").ts(NOW - DAY))
            .not_valid_after(__import__("_attest_util").ts(NOW + 30 * DAY))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(W.inter_key, hashes.SHA384()))
    return cert.public_bytes(serialization.Encoding.DER)


def pcc_bundle(key=None, **over):
    key = key or NODE
    fields = dict(chain=[issue(key.csr("SN-0001")), W.inter], serial="SN-0001",
                  boot=b"\x02" * 16, issued=NOW - 60, events=EVENTS,
                  hpke=attest.HpkeKey(pk=W.hpke_pk, key_id=W.key_id, not_after=NOW + DAY),
                  models=["smollm2-135m"], release=W.release, tlog_proof=W.proof)
    fields.update(over)
    return attest.build_bundle(key, **fields)


NODE = attest.IdentityKey.generate()


def test_pcc_built_bundle_passes():
    r = attest.verify(pcc_bundle(), TRUST, model="smollm2-135m", now=NOW)
    assert r.ok, str(r)
    assert r.node_id == NODE.node_id


def test_pcc_built_bundle_decodes_with_msgpack_and_verifies_with_cryptography():
    b = pcc_bundle()
    outer = msgpack.unpackb(b, raw=False)
    assert list(outer) == ["body", "chain", "sig"]
    leaf = x509.load_der_x509_certificate(outer["chain"][0])
    leaf.public_key().verify(outer["sig"], outer["body"], ec.ECDSA(hashes.SHA384()))
    body = msgpack.unpackb(outer["body"], raw=False)
    assert list(body) == sorted(body)  # canonical: keys in byte order
    assert body["v"] == 1 and body["node_id"] == NODE.node_id
    assert body["registers"] == attest.replay(EVENTS)
    assert body["events"] == [{"name": n, "reg": r, "sha384": d} for r, n, d in EVENTS]
    assert body["modes"] == {"debug": False, "ephemeral_data": True, "restricted": True,
                             "sandbox": {"landlock": True, "netns": True, "seccomp": True}}
    assert body["hpke"] == {"aead": 1, "kdf": 1, "kem": 32, "key_id": W.key_id,
                            "not_after": NOW + DAY, "pk": W.hpke_pk}
    assert body["release"] == W.release and body["tlog_proof"] == W.proof
    assert body["serial"] == "SN-0001" and body["issued"] == NOW - 60
    # re-encoding with the msgpack package gives the same bytes: shortest forms
    assert msgpack.packb(body, use_bin_type=True) == outer["body"]


def test_pcc_built_bundle_modes_and_registers():
    b = pcc_bundle(modes=attest.Modes(netns=False))
    r = attest.verify(b, TRUST, now=NOW)
    assert r.failed == "modes"
    assert attest.verify(b, W.trust(relax=["netns"]), now=NOW).ok
    r = attest.verify(pcc_bundle(registers=[bytes(48)] * 3), TRUST, now=NOW)
    assert r.failed == "registers"


def test_build_bundle_refuses_out_of_format_fields():
    with pytest.raises(InvalidArgument):
        pcc_bundle(events=[(3, "x", bytes(48))])
    with pytest.raises(InvalidArgument):
        pcc_bundle(serial="")
    with pytest.raises(InvalidArgument):
        pcc_bundle(models=["m"] * 65)
    with pytest.raises(InvalidArgument):
        pcc_bundle(boot=b"short")
    with pytest.raises(InvalidArgument):
        pcc_bundle(chain=[])
    with pytest.raises(InvalidArgument):  # would wrap to register 1 in a C unsigned int
        pcc_bundle(events=[((1 << 32) + 1, "x", bytes(48))])
    with pytest.raises(InvalidArgument):  # would wrap to 0x20 in a C unsigned short
        pcc_bundle(hpke=attest.HpkeKey(pk=W.hpke_pk, key_id=W.key_id, not_after=NOW + 60,
                                       kem=0x10020))
    with pytest.raises(InvalidArgument):
        pcc_bundle(issued=-1)
    with pytest.raises(InvalidArgument):
        pcc_bundle(issued=1 << 64)
    with pytest.raises(TypeError):
        pcc_bundle(modes=attest.Modes(debug=0))
    with pytest.raises(TypeError):
        attest.build_bundle(object(), chain=[W.leaf], serial="s", boot=bytes(16), issued=NOW,
                            events=EVENTS, hpke=attest.HpkeKey(W.hpke_pk, W.key_id, NOW),
                            models=[], release=W.release, tlog_proof=W.proof)
    with pytest.raises(TypeError):
        pcc_bundle(models="smollm2-135m")


# ---- registers, manifests, canonical msgpack ------------------------------------------------

def test_register_extend_matches_hashlib():
    r = bytes(48)
    d = hashlib.sha384(b"x").digest()
    want = hashlib.sha384(r + hashlib.sha384("pcc-ü".encode()).digest() + d).digest()
    assert attest.register_extend(r, "pcc-ü", d) == want
    assert attest.register_extend(want, "pcc-ü", d) == hashlib.sha384(
        want + hashlib.sha384("pcc-ü".encode()).digest() + d).digest()
    with pytest.raises(InvalidArgument):
        attest.register_extend(bytes(47), "a", d)
    with pytest.raises(InvalidArgument):
        attest.register_extend(r, "a", d[:-1])
    with pytest.raises(TypeError):
        attest.register_extend("r", "a", d)


def test_replay():
    regs = attest.replay(EVENTS)
    want = [bytes(48)] * 3
    for reg, name, dg in EVENTS:
        want[reg] = hashlib.sha384(want[reg] + hashlib.sha384(name.encode()).digest() +
                                   dg).digest()
    assert regs == want
    with pytest.raises(InvalidArgument):
        attest.replay([(3, "x", bytes(48))])


def test_tree_manifest(tmp_path):
    pkg = tmp_path / "pcc"
    (pkg / "sub" / "__pycache__").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "__init__.py").write_bytes(b"init\n")
    (pkg / "sub" / "b.py").write_bytes(b"bee")
    (pkg / "sub" / "a.txt").write_bytes(b"")
    (pkg / "Z.py").write_bytes(b"zed")
    (pkg / "x.pyc").write_bytes(b"compiled")
    (pkg / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"c")
    (pkg / "sub" / "__pycache__" / "n.pyc").write_bytes(b"c")
    h = lambda b: hashlib.sha384(b).hexdigest()  # noqa: E731
    want = (f"{h(b'zed')} Z.py\n{h(b'init' + bytes([10]))} __init__.py\n"
            f"{h(b'')} sub/a.txt\n{h(b'bee')} sub/b.py\n").encode()
    assert attest.tree_manifest(pkg) == want
    assert attest.tree_manifest_digest(pkg) == hashlib.sha384(want).digest()
    assert attest.tree_manifest_digest(str(pkg)) == hashlib.sha384(want).digest()
    (pkg / "sub" / "b.py").write_bytes(b"bee!")
    assert attest.tree_manifest_digest(pkg) != hashlib.sha384(want).digest()
    with pytest.raises(InvalidArgument):
        attest.tree_manifest_digest(tmp_path / "missing")


def test_tree_manifest_of_pcc_itself():
    import pcc
    d = attest.tree_manifest_digest(os.path.dirname(pcc.__file__))
    assert len(d) == 48
    assert b"attest.py\n" in attest.tree_manifest(os.path.dirname(pcc.__file__))


def test_canonical_msgpack():
    raw = msgpack.packb({"b": 1, "a": {"z": [1, {"y": 2, "x": b"\x00"}], "c": None},
                         "aa": "s", "": -5}, use_bin_type=True)
    out = attest.canonical_msgpack(raw)
    want = msgpack.packb({"": -5, "a": {"c": None, "z": [1, {"x": b"\x00", "y": 2}]}, "aa": "s",
                          "b": 1}, use_bin_type=True)
    assert out == want
    assert attest.canonical_msgpack(out) == out
    # non-shortest forms are made shortest
    assert attest.canonical_msgpack(b"\x81\xa1a\xcd\x00\x01") == b"\x81\xa1a\x01"
    for bad in (b"\x82\xa1a\x01\xa1a\x02",       # duplicate key
                b"\x81\x01\x01",                 # non-text key
                b"\xd4\x01\x00",                 # ext
                b"\x01\x02",                     # trailing bytes
                b"\xa2\xc3\x28",                 # invalid UTF-8
                b"\xc1", b""):
        with pytest.raises(FormatError):
            attest.canonical_msgpack(bad)


# ---- mutation ---------------------------------------------------------------------------------

GOOD = W.bundle()
_OUTER = msgpack.unpackb(GOOD, raw=False)
BODY_AT = GOOD.index(_OUTER["body"])
SIG_AT = GOOD.index(_OUTER["sig"])
SIGNED = set(range(BODY_AT, BODY_AT + len(_OUTER["body"]))) | \
    set(range(SIG_AT, SIG_AT + len(_OUTER["sig"])))
TRUST_M = W.trust()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(GOOD) - 1), st.integers(1, 255))
def test_mutating_one_byte_never_passes(pos, xor):
    bad = bytearray(GOOD)
    bad[pos] ^= xor
    r = attest.verify(bytes(bad), TRUST_M, now=NOW)
    assert isinstance(r, attest.Report)
    if pos in SIGNED:
        assert not r.ok
    # every change anywhere in this bundle breaks it: framing, certificates or signed bytes
    assert not r.ok


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(data):
    r = attest.verify(data, TRUST_M, now=NOW)
    assert not r.ok and r.failed == "format"


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(GOOD) - 1))
def test_truncation_never_passes(n):
    assert not attest.verify(GOOD[:n], TRUST_M, now=NOW).ok


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["v", "node_id", "serial", "boot", "issued", "events",
                                         "modes", "hpke", "models", "release", "tlog_proof",
                                         "registers", "tpm", "x"]),
                       st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                                 st.binary(max_size=64), st.text(max_size=16),
                                 st.lists(st.integers(0, 3), max_size=4)), max_size=14))
def test_signed_hostile_bodies_fail_cleanly(body):
    r = attest.verify(W.bundle(body), TRUST_M, now=NOW)
    assert not r.ok
    assert r.failed in ("format", "node_id", "registers", "release")


# ---- the provisioning CA of pcc.provision --------------------------------------------------

def test_bundle_certified_by_pcc_provision_ca():
    from pcc import provision
    ca = provision.CA.generate("pcc test provisioning", now=NOW - DAY)
    ca.add_serial("SN-0042")
    key = attest.IdentityKey.generate()
    cert = ca.issue(key.csr("SN-0042"), now=NOW - 3600)
    trust = attest.Trust([ca.root_pem], W.log_vk, [v for _, v in W.wits], quorum=2)
    b = attest.build_bundle(key, chain=[cert], serial="SN-0042", boot=bytes(16),
                            issued=NOW - 60, events=EVENTS,
                            hpke=attest.HpkeKey(pk=W.hpke_pk, key_id=W.key_id,
                                                not_after=NOW + DAY),
                            models=["smollm2-135m"], release=W.release, tlog_proof=W.proof)
    r = attest.verify(b, trust, model="smollm2-135m", now=NOW)
    assert r.ok, str(r)
    # a copy of the root in the chain is ignored; another CA's root is not trusted
    assert attest.verify(attest.build_bundle(
        key, chain=[cert, ca.root_der], serial="SN-0042", boot=bytes(16), issued=NOW - 60,
        events=EVENTS, hpke=attest.HpkeKey(pk=W.hpke_pk, key_id=W.key_id, not_after=NOW + DAY),
        models=[], release=W.release, tlog_proof=W.proof), trust, now=NOW).ok
    other = provision.CA.generate("pcc test provisioning", now=NOW - DAY)
    t2 = attest.Trust([other.root_pem], W.log_vk, [v for _, v in W.wits], quorum=2)
    assert attest.verify(b, t2, now=NOW).failed == "chain"


def test_tpm_value_is_carried_and_body_without_it_is_a_prefix_edit():
    tpm = {"v": 1, "pcrs": [8, 9, 10], "attest": b"a" * 40, "sig": b"s" * 70}
    fields = dict(serial="SN-0001", boot=b"\x02" * 16, issued=NOW - 60, events=EVENTS,
                  hpke=attest.HpkeKey(pk=W.hpke_pk, key_id=W.key_id, not_after=NOW + DAY),
                  models=["smollm2-135m"], release=W.release, tlog_proof=W.proof)
    without = attest.encode_body(NODE, **fields)
    with_tpm = attest.encode_body(NODE, tpm=tpm, **fields)
    b = pcc_bundle(tpm=tpm)
    outer = msgpack.unpackb(b, raw=False)
    assert outer["body"] == with_tpm
    body = msgpack.unpackb(with_tpm, raw=False)
    assert body["tpm"] == tpm and list(body) == sorted(body)
    del body["tpm"]
    assert msgpack.packb(body, use_bin_type=True) == without
    r = attest.verify(b, TRUST, now=NOW)  # checked now: the leaf is no TPM attestation key
    assert r.failed == "tpm" and r.backend == "tpm"
    assert attest.verify(pcc_bundle(tpm=b"raw quote"), TRUST, now=NOW).failed == "tpm"
    assert msgpack.unpackb(pcc_bundle(tpm=b"q"), raw=False)["body"].find(b"\xa3tpm\xc4\x01q") > 0
    with pytest.raises(TypeError):
        pcc_bundle(tpm=["not", "a", "map"])
