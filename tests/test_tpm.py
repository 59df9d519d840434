"""TPM 2.0 backend against real software TPMs (swtpm, manufactured by swtpm_setup with EK
certificates from throw-away local manufacturer CAs), plus the TPM-free checks on hand-built
structures: quote verification, attestation-key policy, EK chains, credential activation."""
from __future__ import annotations

import datetime
import hashlib
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _swtpm import LocalCA, Swtpm, missing_tools
from pcc import _core, tpm
from pcc.errors import (FormatError, InvalidArgument, StateError, UnsupportedError,
                        VerifyError)

MISSING = missing_tools()
needs_swtpm = pytest.mark.skipif(
    bool(MISSING), reason=f"swtpm not installed ({', '.join(MISSING)}): "
                          "apt-get install swtpm swtpm-tools")

CA_KEY = ec.generate_private_key(ec.SECP384R1())


def node_cert(spki: bytes, eku: bool = True) -> bytes:
    """A node certificate for spki from a throw-away CA, with the TPM AK usage when eku."""
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "node-1")]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]))
         .public_key(serialization.load_der_public_key(spki)).serial_number(7)
         .not_valid_before(datetime.datetime(2026, 1, 1))
         .not_valid_after(datetime.datetime(2036, 1, 1)))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(tpm.AK_EKU_OID)]),
                            critical=False)
    return b.sign(CA_KEY, hashes.SHA384()).public_bytes(serialization.Encoding.DER)


EVENTS = [
    {"reg": 0, "name": "pcc", "sha384": hashlib.sha384(b"code").digest()},
    {"reg": 1, "name": "smollm2", "sha384": hashlib.sha384(b"model").digest()},
    {"reg": 2, "name": "node-config", "sha384": hashlib.sha384(b"config").digest()},
    {"reg": 0, "name": "pcc-extra", "sha384": hashlib.sha384(b"more code").digest()},
]


# ---- software TPMs ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two TPMs of one manufacturer (A, B), one TPM of another manufacturer (C)."""
    base = tmp_path_factory.mktemp("swtpm")
    ca, other_ca = LocalCA(base / "ca"), LocalCA(base / "other-ca")
    sws = {"a": Swtpm(base / "a", ca), "b": Swtpm(base / "b", ca), "c": Swtpm(base / "c", other_ca)}
    try:
        for s in sws.values():
            s.start()
        tpms = {k: tpm.Tpm(s.tcti) for k, s in sws.items()}
        for t in tpms.values():
            t.create_ak()
        yield {"ca": ca, "other_ca": other_ca, "sw": sws, "b_ak": tpms["b"].ak, **tpms}
        for t in tpms.values():
            t.close()
    finally:
        for s in sws.values():
            s.stop()


@pytest.fixture(scope="module")
def measured(lab):
    """TPM A with EVENTS extended into the default PCRs and one quote over them."""
    t = lab["a"]
    for ev in EVENTS:
        t.extend(tpm.DEFAULT_PCRS[ev["reg"]], ev["name"], ev["sha384"])
    qd = hashlib.sha384(b"the rest of the body").digest()
    return {"tpm": t, "qd": qd, "quote": t.quote(qd), "expected": tpm.replay(EVENTS)}


def expected_map(values):
    return dict(zip(tpm.DEFAULT_PCRS, values))


@needs_swtpm
def test_extend_follows_the_rule_and_replay_recomputes_it(measured):
    got = measured["tpm"].read_pcrs()
    assert [got[p] for p in tpm.DEFAULT_PCRS] == measured["expected"]
    # by hand: PCR = SHA-384(PCR || SHA-384(SHA-384(name) || digest)), from 48 zero bytes
    r = bytes(48)
    for ev in (EVENTS[0], EVENTS[3]):
        e = hashlib.sha384(hashlib.sha384(ev["name"].encode()).digest() + ev["sha384"]).digest()
        r = hashlib.sha384(r + e).digest()
    assert got[8] == r


@needs_swtpm
def test_quote_verifies(measured):
    info = tpm.verify_quote(measured["quote"], public_key=measured["tpm"].ak.spki,
                            qualifying_data=measured["qd"],
                            pcrs=expected_map(measured["expected"]))
    assert info.extra_data == measured["qd"]
    assert info.pcr_mask == (1 << 8) | (1 << 9) | (1 << 10)
    assert len(info.pcr_digest) == 48


@needs_swtpm
def test_quote_over_other_pcr_values_fails(measured):
    other = list(measured["expected"])
    other[1] = hashlib.sha384(b"another model").digest()
    with pytest.raises(VerifyError):
        tpm.verify_quote(measured["quote"], public_key=measured["tpm"].ak.spki,
                         qualifying_data=measured["qd"], pcrs=expected_map(other))


@needs_swtpm
def test_quote_of_other_pcr_selection_fails(measured):
    pcrs = {8: measured["expected"][0], 9: measured["expected"][1]}
    with pytest.raises(VerifyError):
        tpm.verify_quote(measured["quote"], public_key=measured["tpm"].ak.spki,
                         qualifying_data=measured["qd"], pcrs=pcrs)


@needs_swtpm
def test_replayed_quote_fails(measured):
    with pytest.raises(VerifyError):
        tpm.verify_quote(measured["quote"], public_key=measured["tpm"].ak.spki,
                         qualifying_data=hashlib.sha384(b"another body").digest(),
                         pcrs=expected_map(measured["expected"]))


@needs_swtpm
def test_quote_signed_by_another_key_fails(lab, measured):
    for spki in (lab["b"].ak.spki,
                 ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
                     serialization.Encoding.DER,
                     serialization.PublicFormat.SubjectPublicKeyInfo)):
        with pytest.raises(VerifyError):
            tpm.verify_quote(measured["quote"], public_key=spki, qualifying_data=measured["qd"],
                             pcrs=expected_map(measured["expected"]))


@needs_swtpm
def test_quote_from_another_tpm_with_same_pcrs_fails_under_this_key(lab, measured):
    b = lab["b"]
    q = b.quote(measured["qd"], [11, 12, 13])
    zeros = {11: bytes(48), 12: bytes(48), 13: bytes(48)}
    tpm.verify_quote(q, public_key=b.ak.spki, qualifying_data=measured["qd"], pcrs=zeros)
    with pytest.raises(VerifyError):
        tpm.verify_quote(q, public_key=measured["tpm"].ak.spki, qualifying_data=measured["qd"],
                         pcrs=zeros)


@needs_swtpm
def test_sign_verifies_and_refuses_tpm_generated_data(lab):
    a = lab["a"]
    msg = b"body " * 700  # several TPM hash-sequence pieces
    der = a.sign(msg)
    key = serialization.load_der_public_key(a.ak.spki)
    key.verify(der, msg, ec.ECDSA(hashes.SHA384()))
    with pytest.raises(StateError):
        a.sign(struct.pack(">I", 0xFF544347) + b"looks like a quote")


@needs_swtpm
def test_ak_cannot_leave_the_tpm(lab):
    a = lab["a"]
    ak = tpm.check_ak(lab["a"]._t.ak_public())  # ReadPublic: the public area and nothing more
    assert ak == a.ak
    attrs = struct.unpack(">I", ak.public[4:8])[0]
    assert attrs & (1 << 1) and attrs & (1 << 4) and attrs & (1 << 5)  # fixedTPM/Parent, sdo
    assert attrs & (1 << 16) and attrs & (1 << 18) and not attrs & (1 << 17)  # restricted sign
    with pytest.raises(VerifyError):  # the TPM refuses to duplicate (export) it: no policy
        a._t.ak_duplicate()           # allows it (and fixedParent would forbid it anyway)
    assert a._t.last_rc & 0x3F == 0x1D  # TPM_RC_POLICY_FAIL
    assert not [m for m in dir(a) if "private" in m or "export" in m]


@needs_swtpm
def test_ak_is_reproducible_by_unique(lab):
    c = lab["c"]
    k1 = c.create_ak(b"boot-1")
    k2 = c.create_ak(b"boot-1")
    k3 = c.create_ak(b"boot-2")
    assert k1 == k2 and k1.spki != k3.spki
    with pytest.raises(InvalidArgument):
        c.create_ak(bytes(49))


@needs_swtpm
def test_ek_cert_checks_against_manufacturer_roots(lab):
    a, ca = lab["a"], lab["ca"]
    cert = a.ek_cert()
    ek = tpm.check_ek_cert(cert, roots=[ca.root_pem], intermediates=[ca.intermediate_pem])
    assert ek == a.ek_public()
    # str PEM works too, and a root inventory of several manufacturers
    assert tpm.check_ek_cert(cert, roots=[lab["other_ca"].root_pem.decode(), ca.root_pem.decode()],
                             intermediates=ca.intermediate_pem.decode()) == ek


@needs_swtpm
def test_ek_cert_of_unknown_manufacturer_fails(lab):
    ca, other = lab["ca"], lab["other_ca"]
    with pytest.raises(VerifyError):  # C's certificate against A's manufacturer
        tpm.check_ek_cert(lab["c"].ek_cert(), roots=[ca.root_pem],
                          intermediates=[ca.intermediate_pem, other.intermediate_pem])
    with pytest.raises(VerifyError):  # A's certificate against another manufacturer
        tpm.check_ek_cert(lab["a"].ek_cert(), roots=[other.root_pem],
                          intermediates=[other.intermediate_pem])


@needs_swtpm
def test_ek_cert_needs_the_root_not_just_the_issuer(lab):
    ca = lab["ca"]
    with pytest.raises(VerifyError):  # missing intermediate
        tpm.check_ek_cert(lab["a"].ek_cert(), roots=[ca.root_pem])
    with pytest.raises(VerifyError):  # outside validity
        tpm.check_ek_cert(lab["a"].ek_cert(), roots=[ca.root_pem],
                          intermediates=[ca.intermediate_pem], now=1_000_000_000)


def test_ek_cert_check_rejects_garbage():
    with pytest.raises(FormatError):
        tpm.check_ek_cert(b"\x30\x03\x02\x01\x01", roots=[b"-----BEGIN CERTIFICATE-----\n"])
    with pytest.raises(InvalidArgument):
        tpm.check_ek_cert(b"\x30", roots=[])


@needs_swtpm
def test_credential_activation_with_the_right_tpm(lab):
    ca, a = lab["ca"], lab["a"]
    ch = tpm.challenge(a.ek_cert(), a.ak.public, roots=[ca.root_pem],
                       intermediates=[ca.intermediate_pem])
    assert ch.ak == a.ak and ch.credential not in repr(ch).encode()
    assert ch.check(a.activate_credential(ch.blob, ch.secret)) == a.ak
    with pytest.raises(VerifyError):
        ch.check(bytes(32))


@needs_swtpm
def test_credential_for_another_tpms_ek_fails(lab):
    ca, a, b = lab["ca"], lab["a"], lab["b"]
    # a node claiming B's (genuine) EK certificate for A's AK: only B could answer, and B has no
    # such AK
    ch = tpm.challenge(b.ek_cert(), a.ak.public, roots=[ca.root_pem],
                       intermediates=[ca.intermediate_pem])
    with pytest.raises(VerifyError):
        a.activate_credential(ch.blob, ch.secret)
    with pytest.raises(VerifyError):
        b.activate_credential(ch.blob, ch.secret)


@needs_swtpm
def test_credential_for_another_key_fails(lab):
    ca, a, b = lab["ca"], lab["a"], lab["b"]
    # A's EK, but B's AK name: A's TPM refuses to release it to its own AK
    ch = tpm.challenge(a.ek_cert(), b.ak.public, roots=[ca.root_pem],
                       intermediates=[ca.intermediate_pem])
    with pytest.raises(VerifyError):
        a.activate_credential(ch.blob, ch.secret)


@needs_swtpm
def test_tampered_credential_blob_fails(lab):
    a = lab["a"]
    blob, secret = tpm.make_credential(a.ek_public(), a.ak.name, b"x" * 32)
    assert a.activate_credential(blob, secret) == b"x" * 32
    bad = bytearray(blob)
    bad[-1] ^= 1
    with pytest.raises(VerifyError):
        a.activate_credential(bytes(bad), secret)
    with pytest.raises(FormatError):
        a.activate_credential(b"", secret)


def test_make_credential_arguments():
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    name = b"\x00\x0c" + bytes(48)
    with pytest.raises(UnsupportedError):
        tpm.make_credential(p256, name, b"c")
    with pytest.raises(FormatError):
        tpm.make_credential(b"\x30\x00", name, b"c")
    with pytest.raises(InvalidArgument):
        tpm.make_credential(p256, b"\x00\x0c" + bytes(47), b"c")  # name of the wrong length
    with pytest.raises(InvalidArgument):
        tpm.make_credential(p256, name, bytes(33))


@needs_swtpm
def test_bundle_quote_round_trip_and_tamper(lab):
    b = lab["b"]
    for ev in EVENTS:
        b.extend(tpm.DEFAULT_PCRS[ev["reg"]], ev["name"], ev["sha384"])
    body = b"msgpack body without the tpm key"
    value = tpm.make_bundle_quote(b, body)
    cert = node_cert(b.ak.spki)
    info = tpm.check_bundle_quote(value, body_without_tpm=body, node_cert=cert,
                                  events=EVENTS)
    assert info.extra_data == tpm.qualifying_data(body)
    with pytest.raises(VerifyError):
        tpm.check_bundle_quote(value, body_without_tpm=body + b"!", node_cert=cert,
                               events=EVENTS)
    with pytest.raises(VerifyError):
        tpm.check_bundle_quote(value, body_without_tpm=body, node_cert=cert,
                               events=EVENTS[:3])
    with pytest.raises(VerifyError):  # the same events claimed in other PCRs
        tpm.check_bundle_quote({**value, "pcrs": [9, 10, 8]}, body_without_tpm=body,
                               node_cert=cert, events=EVENTS)
    with pytest.raises(VerifyError):  # a certificate without the TPM AK usage
        tpm.check_bundle_quote(value, body_without_tpm=body, node_cert=node_cert(b.ak.spki, False),
                               events=EVENTS)
    for bad in ({**value, "v": 2}, {**value, "pcrs": [8, 9]}, {**value, "pcrs": [8, 8, 9]},
                {**value, "pcrs": [8, 9, 16]}, {**value, "extra": 1}, {**value, "sig": "x"},
                {k: v for k, v in value.items() if k != "attest"}, [1, 2]):
        with pytest.raises(FormatError):
            tpm.check_bundle_quote(bad, body_without_tpm=body, node_cert=cert,
                                   events=EVENTS)


@needs_swtpm
def test_sha384_bank_missing_is_reported(tmp_path):
    with LocalCA(tmp_path / "ca") as ca, Swtpm(tmp_path / "t", ca, banks="sha256") as sw:
        with tpm.Tpm(sw.tcti) as t:
            with pytest.raises(UnsupportedError):
                t.read_pcrs([8])


def test_unreachable_tpm_and_closed_connection():
    with pytest.raises(StateError):
        tpm.Tpm("swtpm:host=127.0.0.1,port=1")
    with pytest.raises(TypeError):
        tpm.Tpm(b"swtpm")  # type: ignore[arg-type]


@needs_swtpm
def test_closed_connection_raises(tmp_path):
    with LocalCA(tmp_path / "ca") as ca, Swtpm(tmp_path / "t", ca) as sw:
        t = tpm.Tpm(sw.tcti)
        t.close()
        with pytest.raises(StateError):
            t.read_pcrs([8])
        with pytest.raises(StateError):
            t.create_ak()


# ---- hand-built quotes: the parser and verifier without a TPM ---------------------------------

KEY = ec.generate_private_key(ec.SECP384R1())
SPKI = KEY.public_key().public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
VALUES = {8: hashlib.sha384(b"a").digest(), 9: hashlib.sha384(b"b").digest(),
          10: hashlib.sha384(b"c").digest()}
QD = b"q" * 48


def tpm2b(b: bytes) -> bytes:
    return struct.pack(">H", len(b)) + b


def build_attest(*, magic=0xFF544347, type_=0x8018, extra=QD, banks=None, digest=None,
                 safe=1, trailing=b"") -> bytes:
    if banks is None:
        banks = [(0x000C, bytes([0x00, 0x07, 0x00]))]  # SHA-384, PCRs 8, 9, 10
    if digest is None:
        digest = hashlib.sha384(b"".join(VALUES[p] for p in sorted(VALUES))).digest()
    sel = struct.pack(">I", len(banks)) + b"".join(
        struct.pack(">HB", h, len(m)) + m for h, m in banks)
    return (struct.pack(">IH", magic, type_) + tpm2b(b"\x00\x0c" + bytes(48)) + tpm2b(extra) +
            struct.pack(">QIIBQ", 1234, 1, 2, safe, 0x2019) + sel + tpm2b(digest) + trailing)


def tpm_sig(msg: bytes, key=KEY, hash_alg=0x000C, h=hashes.SHA384()) -> bytes:
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(h)))
    n = (key.curve.key_size + 7) // 8
    return struct.pack(">HH", 0x0018, hash_alg) + tpm2b(r.to_bytes(n, "big")) + \
        tpm2b(s.to_bytes(n, "big"))


def signed(attest: bytes) -> tpm.Quote:
    return tpm.Quote(attest, tpm_sig(attest))


def verify(q: tpm.Quote, **kw):
    args = {"public_key": SPKI, "qualifying_data": QD, "pcrs": VALUES, **kw}
    return tpm.verify_quote(q, **args)


def test_hand_built_quote_verifies():
    info = verify(signed(build_attest()))
    assert info.clock == 1234 and info.safe and info.firmware_version == 0x2019
    assert info.signer_name == b"\x00\x0c" + bytes(48)


def test_p256_quote_verifies_and_curve_hash_must_match():
    k = ec.generate_private_key(ec.SECP256R1())
    spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    att = build_attest(digest=hashlib.sha256(b"".join(VALUES[p] for p in sorted(VALUES))).digest())
    verify(tpm.Quote(att, tpm_sig(att, k, 0x000B, hashes.SHA256())), public_key=spki)
    with pytest.raises(VerifyError):  # P-256 key with a SHA-384 scheme
        verify(tpm.Quote(att, tpm_sig(att, k, 0x000C, hashes.SHA384())), public_key=spki)


@pytest.mark.parametrize("kw", [
    {"magic": 0xFF544348}, {"type_": 0x8017}, {"safe": 2}, {"trailing": b"\x00"},
    {"banks": [(0x000C, b"\x00\x07\x00"), (0x000B, b"\x00\x00\x00")]}, {"banks": []},
    {"banks": [(0x0099, b"\x00\x07\x00")]}, {"banks": [(0x000C, b"")]},
    {"banks": [(0x000C, b"\x00\x07\x00\x00\x00")]}, {"digest": bytes(20)}, {"extra": bytes(65)},
], ids=["magic", "type", "safe", "trailing", "two-banks", "no-bank", "unknown-hash",
        "empty-select", "select-too-long", "digest-size", "extra-too-long"])
def test_malformed_signed_attest_is_format_error(kw):
    with pytest.raises(FormatError):
        verify(signed(build_attest(**kw)))


@pytest.mark.parametrize("kw", [
    {"banks": [(0x000B, b"\x00\x07\x00")]},  # the SHA-256 bank
    {"banks": [(0x000C, b"\x00\x07\x01")]},  # PCR 16 as well
    {"banks": [(0x000C, b"\x00\x03\x00")]},  # PCR 10 missing
    {"digest": bytes(48)},
    {"extra": QD[:-1]},
], ids=["sha256-bank", "extra-pcr", "missing-pcr", "digest", "extra-data"])
def test_wrong_signed_attest_is_verify_error(kw):
    with pytest.raises(VerifyError):
        verify(signed(build_attest(**kw)))


def test_signature_is_checked_before_the_structure():
    bad = build_attest(magic=0)
    with pytest.raises(VerifyError):  # unsigned garbage never reaches the parser's verdict
        verify(tpm.Quote(bad, tpm_sig(build_attest())))


@pytest.mark.parametrize("sig", [
    b"", b"\x00\x18\x00\x0c", struct.pack(">HH", 0x0014, 0x000C) + tpm2b(b"\x01") + tpm2b(b"\x01"),
    struct.pack(">HH", 0x0018, 0x0004) + tpm2b(b"\x01") + tpm2b(b"\x01"),
    struct.pack(">HH", 0x0018, 0x000C) + tpm2b(b"") + tpm2b(b"\x01"),
    struct.pack(">HH", 0x0018, 0x000C) + tpm2b(b"\x01") + tpm2b(b"\x01") + b"\x00",
    struct.pack(">HH", 0x0018, 0x000C) + tpm2b(bytes(67)) + tpm2b(b"\x01"),
], ids=["empty", "truncated", "rsassa", "sha1", "empty-r", "trailing", "r-too-long"])
def test_malformed_signature_is_format_error(sig):
    with pytest.raises(FormatError):
        verify(tpm.Quote(build_attest(), sig))


def test_verify_quote_arguments():
    q = signed(build_attest())
    with pytest.raises(InvalidArgument):
        verify(q, pcrs={16: bytes(48)})
    with pytest.raises(InvalidArgument):
        verify(q, pcrs={8: bytes(47)})
    with pytest.raises(InvalidArgument):
        verify(q, pcrs={})
    with pytest.raises(InvalidArgument):
        verify(q, public_key=b"\x30\x00")
    with pytest.raises(TypeError):
        verify((q.attest, q.signature))  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_attest_mutations_never_verify(data):
    att = build_attest()
    sig = tpm_sig(att)
    op = data.draw(st.sampled_from(["flip", "truncate", "insert", "replace"]))
    b = bytearray(att)
    if op == "flip":
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] ^= data.draw(st.integers(1, 255))
    elif op == "truncate":
        b = b[:data.draw(st.integers(0, len(b) - 1))]
    elif op == "insert":
        i = data.draw(st.integers(0, len(b)))
        b[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        i = data.draw(st.integers(0, len(b) - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=16))
        if bytes(b[i:i + len(chunk)]) == chunk:
            return
        b[i:i + len(chunk)] = chunk
    with pytest.raises((VerifyError, FormatError)):
        verify(tpm.Quote(bytes(b), sig))
    # re-signed by the key: parsing decides, never a crash; what passes (a mutation of the
    # signer name, clock or firmware fields) still quotes exactly the expected PCRs and data
    try:
        info = verify(tpm.Quote(bytes(b), tpm_sig(bytes(b))))
    except (VerifyError, FormatError):
        pass
    else:
        orig = _core.tpm_attest_parse(att)
        assert (info.extra_data, info.pcr_mask, info.pcr_digest) == \
            (QD, orig["pcr_mask"], orig["pcr_digest"])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_attest_parser_on_random_bytes(blob):
    for data in (blob, build_attest()[:12] + blob):
        try:
            d = _core.tpm_attest_parse(data)
        except FormatError:
            continue
        assert set(d) >= {"extra_data", "pcr_mask", "pcr_digest"}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_ak_check_on_random_bytes(blob):
    try:
        tpm.check_ak(blob)
    except (FormatError, VerifyError):
        pass


# ---- attestation-key policy on hand-built public areas ----------------------------------------

def ak_public(*, type_=0x0023, name_alg=0x000C, attrs=0x00050072, sym=b"\x00\x10",
              scheme=b"\x00\x18\x00\x0c", curve=0x0004, kdf=b"\x00\x10", key=KEY,
              trailing=b"") -> bytes:
    nums = key.public_key().public_numbers()
    n = (key.curve.key_size + 7) // 8
    return (struct.pack(">HHI", type_, name_alg, attrs) + tpm2b(b"") + sym + scheme +
            struct.pack(">H", curve) + kdf + tpm2b(nums.x.to_bytes(n, "big")) +
            tpm2b(nums.y.to_bytes(n, "big")) + trailing)


def test_ak_check_accepts_a_restricted_fixed_key():
    pub = ak_public()
    ak = tpm.check_ak(pub)
    assert ak.spki == SPKI
    assert ak.name == b"\x00\x0c" + hashlib.sha384(pub).digest()


@pytest.mark.parametrize("kw", [
    {"attrs": 0x00050070},            # fixedTPM clear
    {"attrs": 0x00050062},            # fixedParent clear
    {"attrs": 0x00050052},            # sensitiveDataOrigin clear
    {"attrs": 0x00040072},            # restricted clear
    {"attrs": 0x00070072},            # decrypt set
    {"attrs": 0x00010072},            # sign clear
    {"type_": 0x0001},                # RSA
    {"name_alg": 0x0004},             # SHA-1 names
    {"sym": b"\x00\x06\x00\x80\x00\x43"},  # a symmetric algorithm on a signing key
    {"scheme": b"\x00\x10"},          # no scheme: not restricted to ECDSA
    {"scheme": b"\x00\x18\x00\x0b"},  # P-384 with SHA-256
    {"kdf": b"\x00\x20\x00\x0b"},     # a KDF
    {"curve": 0x0003},                # says P-256, point is P-384
], ids=["fixedtpm", "fixedparent", "sdo", "restricted", "decrypt", "sign", "rsa", "sha1-name",
        "symmetric", "no-scheme", "hash-mismatch", "kdf", "curve-mismatch"])
def test_ak_check_refuses_keys_that_are_no_ak(kw):
    with pytest.raises(VerifyError):
        tpm.check_ak(ak_public(**kw))


def test_ak_check_refuses_a_point_off_the_curve():
    pub = bytearray(ak_public())
    pub[-1] ^= 1
    with pytest.raises(VerifyError):
        tpm.check_ak(bytes(pub))


@pytest.mark.parametrize("cut", [0, 3, 7, 20, -1])
def test_ak_check_truncated_is_format_error(cut):
    with pytest.raises(FormatError):
        tpm.check_ak(ak_public()[:cut])


def test_ak_check_trailing_is_format_error():
    with pytest.raises(FormatError):
        tpm.check_ak(ak_public(trailing=b"\x00"))


def test_event_data_and_replay():
    d = hashlib.sha384(b"x").digest()
    assert tpm.event_data("pcc", d) == hashlib.sha384(hashlib.sha384(b"pcc").digest() + d).digest()
    assert tpm.replay([]) == [bytes(48)] * 3
    with pytest.raises(InvalidArgument):
        tpm.event_data("pcc", d[:47])
    with pytest.raises(FormatError):
        tpm.replay([{"reg": 3, "name": "x", "sha384": d}])
    with pytest.raises(FormatError):
        tpm.replay([{"reg": 0, "name": b"x", "sha384": d}])


# ---- a quote taken from swtpm, kept as a vector (runs without a TPM) --------------------------

def test_swtpm_vector_verifies():
    import json
    import pathlib
    v = json.loads((pathlib.Path(__file__).parent / "vectors" / "tpm_swtpm_quote.json").read_text())
    events = [{**e, "sha384": bytes.fromhex(e["sha384"])} for e in v["events"]]
    ak = tpm.check_ak(bytes.fromhex(v["ak_public"]))
    assert ak.spki.hex() == v["ak_spki"] and ak.name.hex() == v["ak_name"]
    expected = tpm.replay(events)
    assert [e.hex() for e in expected] == [v["pcrs"][str(p)] for p in tpm.DEFAULT_PCRS]
    q = tpm.Quote(bytes.fromhex(v["attest"]), bytes.fromhex(v["signature"]))
    info = tpm.verify_quote(q, public_key=ak.spki,
                            qualifying_data=bytes.fromhex(v["qualifying_data"]),
                            pcrs=dict(zip(tpm.DEFAULT_PCRS, expected)))
    assert info.extra_data.hex() == v["qualifying_data"]
    with pytest.raises(VerifyError):
        tpm.verify_quote(q, public_key=ak.spki, qualifying_data=bytes(48),
                         pcrs=dict(zip(tpm.DEFAULT_PCRS, expected)))


def test_ak_cert_key_needs_the_tpm_ak_usage():
    import json
    import pathlib
    v = json.loads((pathlib.Path(__file__).parent / "vectors" / "tpm_swtpm_quote.json").read_text())
    assert tpm.ak_cert_key(bytes.fromhex(v["ak_cert"])).hex() == v["ak_spki"]
    with pytest.raises(VerifyError):
        tpm.ak_cert_key(bytes.fromhex(v["ak_cert_without_eku"]))
    with pytest.raises(FormatError):
        tpm.ak_cert_key(bytes.fromhex(v["ak_cert"])[:-1])
    assert tpm.ak_cert_key(node_cert(SPKI)) == SPKI
    with pytest.raises(VerifyError):
        tpm.ak_cert_key(node_cert(SPKI, eku=False))


@needs_swtpm
def test_end_to_end_provisioning_and_bundle(lab):
    """How the pieces fit: the CA challenges the node's TPM and certifies its AK with the AK usage;
    the node measures, quotes over the body without its tpm key, adds the quote and signs the
    whole body with the same AK; a verifier checks the body signature under the certificate, then
    the tpm value."""
    ca, b = lab["ca"], lab["b"]
    # provisioning (a key of its own; the module's tests get B's usual key back at the end)
    ak = b.create_ak(b"boot-id-0123456")
    try:
        _end_to_end(ca, b, ak)
    finally:
        assert b.create_ak() == lab["b_ak"]


def _end_to_end(ca, b, ak):
    import msgpack

    ch = tpm.challenge(b.ek_cert(), ak.public, roots=[ca.root_pem],
                       intermediates=[ca.intermediate_pem])
    cert = node_cert(ch.check(b.activate_credential(ch.blob, ch.secret)).spki)
    # the node (PCRs 11..13 are fresh on this TPM)
    pcrs = (11, 12, 13)
    events = [{"reg": r, "name": n, "sha384": hashlib.sha384(n.encode()).digest()}
              for r, n in ((0, "pcc"), (1, "smollm2"), (2, "node-config"))]
    for ev in events:
        b.extend(pcrs[ev["reg"]], ev["name"], ev["sha384"])
    fields = {"v": 1, "serial": "node-1", "events": events, "hpke": {"pk": bytes(32)}}

    def canonical(d):
        return msgpack.packb(dict(sorted(d.items())), use_bin_type=True)

    body = canonical({**fields, "tpm": tpm.make_bundle_quote(b, canonical(fields), pcrs)})
    sig = b.sign(body)
    # the verifier
    key = x509.load_der_x509_certificate(cert).public_key()
    key.verify(sig, body, ec.ECDSA(hashes.SHA384()))
    decoded = msgpack.unpackb(body, raw=False)
    value = decoded.pop("tpm")
    info = tpm.check_bundle_quote(value, body_without_tpm=canonical(decoded), node_cert=cert,
                                  events=decoded["events"])
    assert info.extra_data == tpm.qualifying_data(canonical(fields))
    # a body with another HPKE key cannot reuse the quote
    forged = {**decoded, "hpke": {"pk": b"\x01" * 32}}
    with pytest.raises(VerifyError):
        tpm.check_bundle_quote(value, body_without_tpm=canonical(forged), node_cert=cert,
                               events=decoded["events"])
