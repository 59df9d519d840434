"""The TPM backend end to end, on real software TPMs (swtpm): the provisioning CA certifies an
attestation key (AK) only after the EK certificate chains to a known manufacturer and the TPM
answers the credential challenge, with the tcg-kp-AIKCertificate usage; the node extends its
events into PCRs, quotes them over the body without its tpm key, signs the body with the AK; the
client's attest.verify runs the `tpm` check. One named refusal per way it can go wrong."""
from __future__ import annotations

import subprocess
import sys

import msgpack
import pytest

from _attest_util import DAY, EVENTS, NOW, World
from _swtpm import LocalCA, Swtpm, missing_tools
from pcc import attest, provision, tpm
from pcc.errors import FormatError, StateError, VerifyError

MISSING = missing_tools()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"swtpm not installed ({', '.join(MISSING)}): "
                          "apt-get install swtpm swtpm-tools")

W = World()
SERIAL = "SN-TPM-0001"
BOOT = b"\x07" * 16
MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """TPM "a" from manufacturer 1, TPM "c" from manufacturer 2; a provisioning CA that knows
    manufacturer 1 and the serial."""
    base = tmp_path_factory.mktemp("swtpm-attest")
    maker, other_maker = LocalCA(base / "maker"), LocalCA(base / "other-maker")
    sws = {"a": Swtpm(base / "a", maker), "c": Swtpm(base / "c", other_maker)}
    try:
        for s in sws.values():
            s.start()
        ca = provision.CA.generate("pcc test provisioning", now=NOW - DAY)
        ca.add_serial(SERIAL)
        assert ca.add_manufacturer_root(maker.root_pem)
        assert not ca.add_manufacturer_root(maker.root_pem)
        yield {"sw": sws, "maker": maker, "other_maker": other_maker, "ca": ca}
    finally:
        for s in sws.values():
            s.stop()


def trust(ca, **kw):
    return attest.Trust([ca.root_pem], W.log_vk, [v for _, v in W.wits], quorum=2, **kw)


def boot_tpm(sw: Swtpm) -> tpm.Tpm:
    """Reboot the TPM (PCRs back to zero) and recreate the AK: a primary key from the same
    template, so the same key and the same certificate. The shutdown is orderly: a TPM counts
    every disorderly one as a dictionary-attack failure and locks the AK out after a few."""
    assert sw.shutdown()  # TPM_RC_SUCCESS
    sw.stop()
    sw.start()
    t = tpm.Tpm(sw.tcti)
    t.create_ak(unique=b"node AK")
    return t


def enroll(lab, t: tpm.Tpm) -> bytes:
    ca = lab["ca"]
    enr = ca.tpm_challenge(t.ek_cert(), t.ak.public, SERIAL,
                           intermediates=[lab["maker"].intermediate_pem])
    assert enr.serial == SERIAL and "credential" not in repr(enr)
    answer = t.activate_credential(enr.blob, enr.secret)
    return ca.issue_tpm_ak(enr, answer, now=NOW - 3600)


def measure(t: tpm.Tpm, events) -> None:
    for reg, name, digest in events:
        t.extend(tpm.DEFAULT_PCRS[reg], name, digest)


def fields(events=EVENTS, issued=NOW - 60, pk=None):
    return dict(serial=SERIAL, boot=BOOT, issued=issued, events=events,
                hpke=attest.HpkeKey(pk=W.hpke_pk if pk is None else pk, key_id=W.key_id,
                                    not_after=NOW + DAY),
                models=[MODEL], release=W.release, tlog_proof=W.proof)


def tpm_bundle(t: tpm.Tpm, cert: bytes, f: dict, *, value=None) -> bytes:
    """What the enclave does: body without tpm, quote over it, body with tpm, AK signature."""
    without = attest.encode_body(t.ak.spki, **f)
    if value is None:
        value = tpm.make_bundle_quote(t, without)
    body = attest.encode_body(t.ak.spki, tpm=value, **f)
    return attest.assemble_bundle(body, t.sign(body), [cert])


def expect(report, name, reason=None):
    assert not report.ok and report.failed == name, str(report)
    names = [c.name for c in report.checks]
    assert names == list(attest.TPM_CHECKS[:attest.TPM_CHECKS.index(name) + 1])
    if reason is not None:
        assert report.reason.startswith(reason), report.reason


@pytest.fixture(scope="module")
def ak_cert(lab):
    """The AK certificate of TPM a (the AK is the same key after every boot)."""
    t = boot_tpm(lab["sw"]["a"])
    try:
        return enroll(lab, t)
    finally:
        t.close()


@pytest.fixture
def node(lab, ak_cert):
    """TPM a freshly booted and measured with the release's events, and its AK certificate."""
    t = boot_tpm(lab["sw"]["a"])
    measure(t, EVENTS)
    yield t, ak_cert
    t.close()


@pytest.fixture
def rebooted(lab, ak_cert):
    """TPM a freshly booted, nothing measured yet."""
    t = boot_tpm(lab["sw"]["a"])
    yield t, ak_cert
    t.close()


# ---- the full flow ------------------------------------------------------------------------------

def test_full_flow_passes_with_tpm_listed(lab, node):
    t, cert = node
    from cryptography import x509
    eku = x509.load_der_x509_certificate(cert).extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in eku] == [tpm.AK_EKU_OID]
    assert tpm.ak_cert_key(cert) == t.ak.spki
    b = tpm_bundle(t, cert, fields())
    r = attest.verify(b, trust(lab["ca"]), model=MODEL, now=NOW)
    assert r.ok, str(r)
    assert [c.name for c in r.checks] == list(attest.TPM_CHECKS)
    assert r.backend == "tpm" and r.to_dict()["backend"] == "tpm"
    assert r.node_id == attest.hashlib.sha256(t.ak.spki).digest()
    # require_tpm accepts it too; the Python equivalent of the check agrees
    assert attest.verify(b, trust(lab["ca"], require_tpm=True), now=NOW).ok
    body = msgpack.unpackb(msgpack.unpackb(b, raw=False)["body"], raw=False)
    value = body.pop("tpm")
    info = tpm.check_bundle_quote(value, body_without_tpm=msgpack.packb(body, use_bin_type=True),
                                  node_cert=cert, events=body["events"])
    assert info.extra_data == tpm.qualifying_data(msgpack.packb(body, use_bin_type=True))


# ---- refusals -----------------------------------------------------------------------------------

def test_quote_over_other_pcr_values_is_refused(lab, rebooted):
    t, cert = rebooted
    # the PCRs hold one event more than the body claims
    measure(t, EVENTS + [(0, "extra", attest.hashlib.sha384(b"x").digest())])
    r = attest.verify(tpm_bundle(t, cert, fields()), trust(lab["ca"]), now=NOW)
    expect(r, "tpm", "the TPM quote does not verify")


def test_replayed_quote_is_refused(lab, node):
    t, cert = node
    old = msgpack.unpackb(msgpack.unpackb(tpm_bundle(t, cert, fields()), raw=False)["body"],
                          raw=False)["tpm"]
    # a later body (new HPKE key, new time) with the old quote: other qualifying data
    b = tpm_bundle(t, cert, fields(issued=NOW - 30, pk=bytes(32)), value=old)
    expect(attest.verify(b, trust(lab["ca"]), now=NOW), "tpm", "the TPM quote does not verify")


def test_sim_certified_key_with_a_fake_quote_is_refused(lab, node):
    """A software key certified for a sim node signs a TPMS_ATTEST that is right in every field;
    only the missing tcg-kp-AIKCertificate usage stops it."""
    t, _ = node
    ca = lab["ca"]
    key = attest.IdentityKey.generate()
    cert = ca.issue(key.csr(SERIAL), now=NOW - 3600)
    f = fields()
    without = attest.encode_body(key, **f)
    real = t.quote(tpm.qualifying_data(without))  # genuine TPMS_ATTEST for this very body
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    r_, s_ = decode_dss_signature(key.sign(real.attest))
    rb, sb = r_.to_bytes(48, "big"), s_.to_bytes(48, "big")
    fake_sig = (b"\x00\x18\x00\x0c" + len(rb).to_bytes(2, "big") + rb +
                len(sb).to_bytes(2, "big") + sb)
    # the forged quote verifies under the software key ...
    pcrs = dict(zip(tpm.DEFAULT_PCRS, tpm.replay([{"reg": r, "name": n, "sha384": d}
                                                  for r, n, d in EVENTS])))
    tpm.verify_quote(tpm.Quote(real.attest, fake_sig), public_key=key.spki,
                     qualifying_data=tpm.qualifying_data(without), pcrs=pcrs)
    value = {"v": 1, "pcrs": list(tpm.DEFAULT_PCRS), "attest": real.attest, "sig": fake_sig}
    b = attest.build_bundle(key, chain=[cert], tpm=value, **f)
    # ... and the verifier refuses it for the certificate
    expect(attest.verify(b, trust(ca), now=NOW), "tpm",
           "the node certificate is not issued to a TPM attestation key")


def test_ak_signing_a_body_without_a_quote_is_refused(lab, node):
    """A TPM AK must not pass as a sim node: its body needs a quote."""
    t, cert = node
    body = attest.encode_body(t.ak.spki, **fields())
    b = attest.assemble_bundle(body, t.sign(body), [cert])
    r = attest.verify(b, trust(lab["ca"]), now=NOW)
    expect(r, "tpm", "the node key is a TPM attestation key but the body carries no TPM quote")
    assert r.backend == "sim"


def test_sim_bundle_with_require_tpm_is_refused(lab):
    ca = lab["ca"]
    key = attest.IdentityKey.generate()
    cert = ca.issue(key.csr(SERIAL), now=NOW - 3600)
    b = attest.build_bundle(key, chain=[cert], **fields())
    assert attest.verify(b, trust(ca), now=NOW).ok
    r = attest.verify(b, trust(ca, require_tpm=True), now=NOW)
    expect(r, "tpm", "a TPM quote is required")
    assert r.backend == "sim"


def test_node_restarted_with_a_changed_model(lab, node, rebooted):
    t, cert = rebooted  # the same node, rebooted (same AK, same certificate)
    changed = [(0, EVENTS[0][1], EVENTS[0][2]),
               (1, EVENTS[1][1], attest.hashlib.sha384(b"other gguf").digest()),
               (2, EVENTS[2][1], EVENTS[2][2])]
    measure(t, changed)
    # honest about it: the quote checks out, the release does not list the model
    r = attest.verify(tpm_bundle(t, cert, fields(events=changed)), trust(lab["ca"]), now=NOW)
    expect(r, "release")
    assert r.checks[3].name == "tpm" and r.checks[3].ok
    # claiming the release's events: the PCRs say otherwise
    r = attest.verify(tpm_bundle(t, cert, fields()), trust(lab["ca"]), now=NOW)
    expect(r, "tpm", "the TPM quote does not verify")


# ---- the CA's side ------------------------------------------------------------------------------

def test_ek_of_an_unknown_manufacturer_is_refused(lab):
    t = tpm.Tpm(lab["sw"]["c"].tcti)
    try:
        t.create_ak()
        with pytest.raises(VerifyError):
            lab["ca"].tpm_challenge(t.ek_cert(), t.ak.public, SERIAL,
                                    intermediates=[lab["other_maker"].intermediate_pem])
    finally:
        t.close()


def test_ca_refusals(lab, node, tmp_path):
    t, _ = node
    ca = lab["ca"]
    inter = [lab["maker"].intermediate_pem]
    with pytest.raises(VerifyError, match="SN-UNKNOWN"):  # serial not in the inventory
        ca.tpm_challenge(t.ek_cert(), t.ak.public, "SN-UNKNOWN", intermediates=inter)
    bare = provision.CA.generate("no manufacturers", now=NOW - DAY)
    bare.add_serial(SERIAL)
    with pytest.raises(StateError):  # no manufacturer roots at all
        bare.tpm_challenge(t.ek_cert(), t.ak.public, SERIAL, intermediates=inter)
    enr = ca.tpm_challenge(t.ek_cert(), t.ak.public, SERIAL, intermediates=inter)
    with pytest.raises(VerifyError):  # a wrong answer
        ca.issue_tpm_ak(enr, bytes(32), now=NOW)
    with pytest.raises(FormatError):
        ca.add_manufacturer_root("not a certificate")
    # removed from the inventory between challenge and answer: refused
    answer = t.activate_credential(enr.blob, enr.secret)
    ca.remove_serial(SERIAL)
    try:
        with pytest.raises(VerifyError):
            ca.issue_tpm_ak(enr, answer, now=NOW)
    finally:
        ca.add_serial(SERIAL)
    # the manufacturer inventory survives save/load
    ca.save(tmp_path / "ca")
    assert (tmp_path / "ca" / provision.MANUFACTURERS_FILE).exists()
    loaded = provision.CA.load(tmp_path / "ca")
    assert loaded.manufacturer_roots == ca.manufacturer_roots
    enr = loaded.tpm_challenge(t.ek_cert(), t.ak.public, SERIAL, intermediates=inter)
    cert = loaded.issue_tpm_ak(enr, t.activate_credential(enr.blob, enr.secret), now=NOW)
    assert tpm.ak_cert_key(cert) == t.ak.spki


def test_cli_add_manufacturer_root(lab, tmp_path):
    d = tmp_path / "ca"
    cli = [sys.executable, "-m", "pcc"]
    subprocess.run(cli + ["ca", "init", "--dir", str(d), "--name", "CLI root"], check=True,
                   capture_output=True)
    pem = tmp_path / "maker.pem"
    pem.write_bytes(lab["maker"].root_pem)
    r = subprocess.run(cli + ["ca", "add-manufacturer-root", "--dir", str(d), str(pem)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "added" in r.stdout, r.stderr
    r = subprocess.run(cli + ["ca", "add-manufacturer-root", "--dir", str(d), str(pem)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "already present" in r.stdout
    ca = provision.CA.load(d)
    assert len(ca.manufacturer_roots) == 1
    bad = tmp_path / "bad.pem"
    bad.write_text("garbage\n")
    r = subprocess.run(cli + ["ca", "add-manufacturer-root", "--dir", str(d), str(bad)],
                       capture_output=True, text=True)
    assert r.returncode != 0
