"""pcc.attest.verify: a valid bundle passes every check; for every named check, bundles that
fail exactly that check (one test per way to be wrong), built by an independent encoder
(msgpack + cryptography) so each breaks one thing only."""
import hashlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives import hashes

from _attest_util import (DAY, EVENTS, NOW, World, make_cert, make_log, p256, p384, pem,
                          rsa_key, spki_der)
from pcc import attest
from pcc.transparency import _note as tlognote, leaves
from pcc.errors import InvalidArgument

W = World()
TRUST = W.trust()
MODEL = "smollm2-135m"


def run(bundle, trust=TRUST, model=MODEL, now=NOW):
    return attest.verify(bundle, trust, model=model, now=now)


def expect(report, name):
    assert not report.ok
    assert report.failed == name, str(report)
    names = [c.name for c in report.checks]
    order = attest.TPM_CHECKS if attest.TPM_CHECK in names else attest.CHECKS
    assert names == list(order[:order.index(name) + 1])
    assert all(c.ok for c in report.checks[:-1]) and not report.checks[-1].ok
    assert report.reason


def expect_body_format(report):
    assert not report.ok and report.failed == "format"
    assert [c.name for c in report.checks] == ["format"]
    assert report.reason.startswith("body")
    assert report.node_id is None


def body_bytes(**over):
    return msgpack.packb(W.body(**over), use_bin_type=True)


def with_events(events, **over):
    """A body whose events are `events` and whose registers replay them."""
    return W.bundle(W.body(events=[{"reg": r, "name": n, "sha384": d} for r, n, d in events],
                           registers=attest.replay(events), **over))


# ---- the valid bundle ----------------------------------------------------------------------

def test_valid_bundle_passes_every_check():
    r = run(W.bundle())
    assert r.ok, str(r)
    assert r.failed is None and r.reason is None
    assert [c.name for c in r.checks] == list(attest.CHECKS)
    assert r.node_id == W.node_id
    assert r.hpke_public_key == W.hpke_pk and r.key_id == W.key_id
    assert r.hpke_suite == (0x20, 1, 1) and r.key_not_after == NOW + DAY
    assert r.log_index == 3
    d = r.to_dict()
    assert d["ok"] is True and d["node_id"] == W.node_id.hex() and len(d["checks"]) == 11
    text = str(r)
    assert text.splitlines()[0].startswith("attestation passed")
    assert len(text.splitlines()) == 12


def test_no_model_requested_passes():
    r = run(W.bundle(), model=None)
    assert r.ok and r.checks[-1].detail == "no model was requested"


def test_cached_chain_still_checks_time():
    t = W.trust()
    assert run(W.bundle(), trust=t).ok  # now cached
    expect(run(W.bundle(), trust=t, now=NOW + 400 * DAY), "chain")
    t.clear_cache()
    expect(run(W.bundle(), trust=t, now=NOW + 400 * DAY), "chain")


# ---- tpm (the parts that need no TPM; tests/test_tpm_attest.py runs swtpm) -----------------

GOOD_TPM = {"v": 1, "pcrs": [8, 9, 10], "attest": b"a" * 40, "sig": b"s" * 70}


def test_sim_bundle_has_no_tpm_check_and_says_sim():
    r = run(W.bundle())
    assert r.ok and r.backend == "sim" and r.to_dict()["backend"] == "sim"
    assert [c.name for c in r.checks] == list(attest.CHECKS)
    assert "sim" in str(r)


def test_require_tpm_refuses_a_sim_bundle():
    t = attest.Trust([pem(W.root)], W.log_vk, [v for _, v in W.wits], quorum=2,
                     require_tpm=True)
    r = run(W.bundle(), trust=t)
    expect(r, "tpm")
    assert r.reason == "a TPM quote is required" and r.backend == "sim"
    assert t.require_tpm and "require_tpm=True" in repr(t)
    assert not TRUST.require_tpm
    with pytest.raises(TypeError):
        attest.Trust([pem(W.root)], W.log_vk, [v for _, v in W.wits], quorum=2, require_tpm=1)
    cfg = {"provisioning_roots": [pem(W.root)], "log": W.log_vk,
           "witnesses": [v for _, v in W.wits], "quorum": 2, "require_tpm": True}
    assert attest.Trust.from_client_config(cfg).require_tpm


@pytest.mark.parametrize("value,why", [
    (b"quote", "tpm: not exactly"),
    ({"quote": b"q", "sig": b"s"}, "tpm: not exactly"),
    (dict(GOOD_TPM, v=2), "tpm: not exactly"),
    (dict(GOOD_TPM, extra=1), "tpm: not exactly"),
    (dict(GOOD_TPM, pcrs=[8, 9]), "tpm: pcrs"),
    (dict(GOOD_TPM, pcrs=[8, 8, 10]), "tpm: pcrs"),
    (dict(GOOD_TPM, pcrs=[8, 9, 16]), "tpm: pcrs"),
    (dict(GOOD_TPM, pcrs=[8, 9, -1]), "tpm: pcrs"),
    (dict(GOOD_TPM, pcrs=[8, 9, "10"]), "tpm: pcrs"),
    (dict(GOOD_TPM, attest=b""), "tpm: attest"),
    (dict(GOOD_TPM, attest=b"a" * 1025), "tpm: attest"),
    (dict(GOOD_TPM, sig=b"s" * 257), "tpm: attest"),
    (dict(GOOD_TPM, sig="text"), "tpm: attest"),
])
def test_tpm_value_parsed_strictly(value, why):
    r = run(W.bundle(W.body(tpm=value)))
    expect(r, "tpm")
    assert r.reason.startswith(why) and r.backend == "tpm"


def test_tpm_quote_under_a_software_key_certificate_is_refused():
    # a well-formed tpm value, but the node certificate has no tcg-kp-AIKCertificate usage:
    # a software key could sign any TPMS_ATTEST it likes
    r = run(W.bundle(W.body(tpm=GOOD_TPM)))
    expect(r, "tpm")
    assert r.reason == "the node certificate is not issued to a TPM attestation key"


def test_tpm_value_of_the_wrong_type_is_a_format_failure():
    expect_body_format(run(W.bundle(W.body(tpm="text"))))


# ---- format ---------------------------------------------------------------------------------

def outer(**m):
    return msgpack.packb(m, use_bin_type=True)


def good_parts():
    d = msgpack.unpackb(W.bundle(), raw=False)
    return d["body"], d["sig"], d["chain"]


def test_format_extra_outer_key():
    expect(run(W.bundle(outer={"extra": 1})), "format")


def test_format_missing_outer_key():
    body, sig, _ = good_parts()
    expect(run(outer(body=body, sig=sig)), "format")


def test_format_body_not_bin():
    body, sig, chain = good_parts()
    expect(run(outer(body=body.decode("latin-1"), sig=sig, chain=chain)), "format")


def test_format_chain_not_array():
    body, sig, chain = good_parts()
    expect(run(outer(body=body, sig=sig, chain=chain[0])), "format")


def test_format_chain_empty_or_too_long():
    body, sig, chain = good_parts()
    expect(run(outer(body=body, sig=sig, chain=[])), "format")
    expect(run(outer(body=body, sig=sig, chain=chain * 3)), "format")


def test_format_sig_too_long():
    body, sig, chain = good_parts()
    expect(run(outer(body=body, sig=sig + bytes(60), chain=chain)), "format")


def test_format_trailing_bytes():
    expect(run(W.bundle() + b"\x00"), "format")


def test_format_not_msgpack():
    for junk in (b"", b"\xc1", b"hello", b"\x80", b"\xdf\xff\xff\xff\xff", b"\x93\x01\x02"):
        expect(run(junk), "format")


def test_format_duplicate_outer_key():
    body, sig, chain = good_parts()
    raw = (b"\x84" + msgpack.packb("body") + msgpack.packb(body, use_bin_type=True) +
           msgpack.packb("sig") + msgpack.packb(sig, use_bin_type=True) +
           msgpack.packb("chain") + msgpack.packb(chain, use_bin_type=True) +
           msgpack.packb("sig") + msgpack.packb(sig, use_bin_type=True))
    expect(run(raw), "format")


def test_format_ext_type_refused():
    body, sig, chain = good_parts()
    raw = outer(body=body, sig=sig, chain=chain)
    raw = b"\x84" + raw[1:] + msgpack.packb("x") + msgpack.packb(msgpack.ExtType(1, b"a"))
    expect(run(raw), "format")


def test_format_oversized_bundle():
    expect(run(b"\xc6" + (300 * 1024).to_bytes(4, "big") + bytes(300 * 1024)), "format")


def test_format_body_duplicate_key():
    good = body_bytes()
    n = good[0] & 0x0F
    dup = bytes([0x80 | (n + 1)]) + good[1:] + msgpack.packb("v") + msgpack.packb(1)
    expect_body_format(run(W.bundle(body_bytes=dup)))


def test_format_body_unknown_key():
    expect_body_format(run(W.bundle(W.body(extra=1))))


def test_format_body_missing_key():
    b = W.body()
    del b["boot"]
    expect_body_format(run(W.bundle(b)))


@pytest.mark.parametrize("key,value", [
    ("issued", str(NOW)), ("issued", -1), ("v", 2), ("node_id", b"x" * 31),
    ("serial", b"SN"), ("serial", ""), ("boot", b"x" * 15), ("registers", [bytes(48)] * 2),
    ("registers", [bytes(47)] * 3), ("events", {}), ("models", "smollm2-135m"),
    ("release", "leaf"), ("tlog_proof", b"proof"), ("modes", None),
    ("events", [{"reg": 3, "name": "pcc", "sha384": bytes(48)}]),
    ("events", [{"reg": 0, "name": "pcc"}]),
    ("events", [{"reg": 0, "name": "pcc", "sha384": bytes(48), "x": 1}]),
    ("modes", {"restricted": 1, "ephemeral_data": True, "debug": False,
               "sandbox": {"seccomp": True, "landlock": True, "netns": True}}),
    ("modes", {"restricted": True, "ephemeral_data": True, "debug": False,
               "sandbox": {"seccomp": True, "landlock": True}}),
    ("hpke", {"kem": 32, "kdf": 1, "aead": 1, "pk": bytes(31), "key_id": bytes(8),
              "not_after": NOW}),
    ("hpke", {"kem": 32, "kdf": 1, "aead": 1, "pk": bytes(32), "key_id": bytes(9),
              "not_after": NOW}),
    ("hpke", {"kem": 1 << 17, "kdf": 1, "aead": 1, "pk": bytes(32), "key_id": bytes(8),
              "not_after": NOW}),
    ("issued", 1.5),
])
def test_format_body_wrong_type_or_size(key, value):
    expect_body_format(run(W.bundle(W.body(**{key: value}))))


def test_format_body_trailing_bytes():
    expect_body_format(run(W.bundle(body_bytes=body_bytes() + b"\xc0")))


def test_format_body_not_a_map():
    expect_body_format(run(W.bundle(body_bytes=msgpack.packb([1, 2]))))


# ---- chain ----------------------------------------------------------------------------------

def test_chain_wrong_root():
    other = World()
    expect(run(W.bundle(), trust=other.trust()), "chain")


def test_chain_root_copy_is_ignored():
    assert run(W.bundle(chain=[W.leaf, W.inter, W.root])).ok


def test_chain_self_signed_root_in_chain_is_not_trusted():
    fake_root_key = p384()
    fake_root = make_cert(fake_root_key, fake_root_key, "pcc test root", "pcc test root",
                          ca=True, pathlen=1)
    inter = make_cert(W.inter_key, fake_root_key, "pcc test intermediate", "pcc test root",
                      ca=True, pathlen=0)
    expect(run(W.bundle(chain=[W.leaf, inter, fake_root])), "chain")


def test_chain_missing_intermediate():
    expect(run(W.bundle(chain=[W.leaf])), "chain")


def test_chain_leaf_expired():
    leaf = make_cert(W.node_key, W.inter_key, "node-1", "pcc test intermediate", ca=False,
                     not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    r = run(W.bundle(chain=[leaf, W.inter]))
    expect(r, "chain")
    assert "expired" in r.reason


def test_chain_leaf_not_yet_valid():
    leaf = make_cert(W.node_key, W.inter_key, "node-1", "pcc test intermediate", ca=False,
                     not_before=NOW + DAY, not_after=NOW + 10 * DAY)
    r = run(W.bundle(chain=[leaf, W.inter]))
    expect(r, "chain")
    assert "not yet valid" in r.reason


def test_chain_intermediate_expired():
    inter = make_cert(W.inter_key, W.root_key, "pcc test intermediate", "pcc test root",
                      ca=True, pathlen=0, not_before=NOW - 10 * DAY, not_after=NOW - 1)
    expect(run(W.bundle(chain=[W.leaf, inter])), "chain")


def test_chain_intermediate_without_ca_bit():
    inter = make_cert(W.inter_key, W.root_key, "pcc test intermediate", "pcc test root",
                      ca=False)
    expect(run(W.bundle(chain=[W.leaf, inter])), "chain")


def test_chain_intermediate_without_basic_constraints():
    inter = make_cert(W.inter_key, W.root_key, "pcc test intermediate", "pcc test root",
                      ca=True, basic_constraints=False)
    expect(run(W.bundle(chain=[W.leaf, inter])), "chain")


def test_chain_path_length_exceeded():
    root_key = p384()
    root = make_cert(root_key, root_key, "tight root", "tight root", ca=True, pathlen=0)
    inter = make_cert(W.inter_key, root_key, "pcc test intermediate", "tight root", ca=True,
                      pathlen=0)
    r = run(W.bundle(chain=[W.leaf, inter]), trust=W.trust(roots=[pem(root)]))
    expect(r, "chain")


def test_chain_intermediate_path_length_exceeded():
    # root (pathlen 2) -> A (pathlen 0) -> B -> leaf: B is below A's limit
    a_key, b_key = p384(), p384()
    a = make_cert(a_key, W.root_key, "A", "pcc test root", ca=True, pathlen=0)
    b = make_cert(b_key, a_key, "B", "A", ca=True, pathlen=0)
    leaf = make_cert(W.node_key, b_key, "node-1", "B", ca=False)
    root_key = W.root_key
    root = make_cert(root_key, root_key, "pcc test root", "pcc test root", ca=True, pathlen=2)
    expect(run(W.bundle(chain=[leaf, b, a]), trust=W.trust(roots=[pem(root)])), "chain")


def test_chain_p256_node_key():
    k = p256()
    leaf = make_cert(k, W.inter_key, "node-1", "pcc test intermediate", ca=False)
    body = W.body(node_id=hashlib.sha256(spki_der(k)).digest())
    expect(run(W.bundle(body, key=k, chain=[leaf, W.inter])), "chain")


def test_chain_rsa_node_key():
    k = rsa_key()
    leaf = make_cert(k, W.inter_key, "node-1", "pcc test intermediate", ca=False)
    expect(run(W.bundle(chain=[leaf, W.inter])), "chain")


def test_chain_p256_intermediate():
    k = p256()
    inter = make_cert(k, W.root_key, "pcc test intermediate", "pcc test root", ca=True,
                      pathlen=0)
    leaf = make_cert(W.node_key, k, "node-1", "pcc test intermediate", ca=False)
    expect(run(W.bundle(chain=[leaf, inter])), "chain")


def test_chain_sha256_signature():
    leaf = make_cert(W.node_key, W.inter_key, "node-1", "pcc test intermediate", ca=False,
                     hash_alg=hashes.SHA256())
    expect(run(W.bundle(chain=[leaf, W.inter])), "chain")


def test_chain_leaf_is_ca():
    leaf = make_cert(W.node_key, W.inter_key, "node-1", "pcc test intermediate", ca=True,
                     pathlen=0)
    expect(run(W.bundle(chain=[leaf, W.inter])), "chain")


def test_chain_leaf_without_digital_signature():
    leaf = make_cert(W.node_key, W.inter_key, "node-1", "pcc test intermediate", ca=False,
                     digital_signature=False)
    expect(run(W.bundle(chain=[leaf, W.inter])), "chain")


def test_chain_leaf_without_key_usage():
    leaf = make_cert(W.node_key, W.inter_key, "node-1", "pcc test intermediate", ca=False,
                     key_usage=False)
    expect(run(W.bundle(chain=[leaf, W.inter])), "chain")


def test_chain_leaf_signed_by_another_key():
    leaf = make_cert(W.node_key, p384(), "node-1", "pcc test intermediate", ca=False)
    expect(run(W.bundle(chain=[leaf, W.inter])), "chain")


def test_chain_garbage_certificate():
    expect(run(W.bundle(chain=[b"\x30\x03\x02\x01\x01", W.inter])), "chain")
    expect(run(W.bundle(chain=[W.leaf + b"\x00", W.inter])), "chain")


# ---- signature ------------------------------------------------------------------------------

def test_signature_over_other_bytes():
    expect(run(W.bundle(sign_over=body_bytes(serial="SN-0002"))), "signature")


def test_signature_by_another_key():
    expect(run(W.bundle(key=p384())), "signature")


def test_signature_not_der():
    body, sig, chain = good_parts()
    expect(run(outer(body=body, sig=b"\x30" + bytes(70), chain=chain)), "signature")


def test_signature_checked_before_body_is_decoded():
    # a malformed body with a bad signature is a signature failure, not a format one
    expect(run(W.bundle(body_bytes=b"\xc1junk", sign_over=b"other")), "signature")


# ---- node_id ----------------------------------------------------------------------------------

def test_node_id_of_another_key():
    other = hashlib.sha256(spki_der(p384())).digest()
    expect(run(W.bundle(W.body(node_id=other))), "node_id")


# ---- registers --------------------------------------------------------------------------------

def test_registers_event_does_not_replay():
    ev = [{"reg": r, "name": n, "sha384": d} for r, n, d in EVENTS]
    ev[1]["sha384"] = hashlib.sha384(b"another model").digest()
    expect(run(W.bundle(W.body(events=ev))), "registers")


def test_registers_wrong_register_value():
    regs = attest.replay(EVENTS)
    regs[2] = bytes(48)
    expect(run(W.bundle(W.body(registers=regs))), "registers")


def test_registers_events_reordered_across_one_register():
    events = EVENTS + [(0, "extra", bytes(48))]
    body = W.body(events=[{"reg": r, "name": n, "sha384": d} for r, n, d in events],
                  registers=attest.replay(EVENTS))
    expect(run(W.bundle(body)), "registers")


# ---- release ----------------------------------------------------------------------------------

def test_release_component_digest_differs():
    events = list(EVENTS)
    events[1] = (1, "smollm2-135m", hashlib.sha384(b"another model").digest())
    expect(run(with_events(events)), "release")


def test_release_extra_event():
    expect(run(with_events(EVENTS + [(2, "debug-config", bytes(48))])), "release")


def test_release_missing_event():
    expect(run(with_events(EVENTS[:2])), "release")


def test_release_component_in_wrong_register():
    events = [(0, "pcc", EVENTS[0][2]), (0, "smollm2-135m", EVENTS[1][2]), EVENTS[2]]
    expect(run(with_events(events)), "release")


def test_release_leaf_malformed():
    for leaf in (b"\xc0", msgpack.packb({"type": "release"}),
                 leaves.issuer_key("issuer", spki_der(p384()), NOW)):
        expect(run(W.bundle(W.body(release=leaf))), "release")


def test_release_leaf_not_minimal():
    leaf = W.release
    # re-encode "v": 1 as uint8 0xcc 0x01 (not the shortest form)
    i = leaf.index(msgpack.packb("v")) + 2
    assert leaf[i] == 1
    padded = leaf[:i] + b"\xcc\x01" + leaf[i + 1:]
    expect(run(W.bundle(W.body(release=padded))), "release")


def test_release_duplicate_events_are_a_set():
    assert run(with_events(EVENTS + [EVENTS[0]])).ok


# ---- transparency -------------------------------------------------------------------------------

def test_transparency_release_not_in_log():
    leaf_list = list(W.other_leaves)
    proof = W.log_proof(leaf_list=leaf_list, index=2)
    expect(run(W.bundle(W.body(tlog_proof=proof))), "transparency")


def test_transparency_proof_for_another_leaf():
    proof = W.log_proof(index=2)
    expect(run(W.bundle(W.body(tlog_proof=proof))), "transparency")


def test_transparency_too_few_cosignatures():
    proof = W.log_proof(wit_sks=[W.wits[0][0]])
    r = run(W.bundle(W.body(tlog_proof=proof)))
    expect(r, "transparency")
    assert "witness" in r.reason


def test_transparency_untrusted_witnesses():
    strangers = [tlognote.generate(f"w{i}.example", cosigner=True)[0] for i in range(3)]
    expect(run(W.bundle(W.body(tlog_proof=W.log_proof(wit_sks=strangers)))), "transparency")


def test_transparency_one_bad_cosignature_costs_only_that_witness():
    proof = W.log_proof()
    # corrupt the last witness's signature line: 2 of 3 still verify (quorum 2)
    lines = proof.split("\n")
    last = max(i for i, ln in enumerate(lines) if ln.startswith("\u2014 w2.example"))
    sig = lines[last].rsplit(" ", 1)
    body = __import__("base64").b64decode(sig[1])
    body = body[:-1] + bytes([body[-1] ^ 1])
    lines[last] = sig[0] + " " + __import__("base64").b64encode(body).decode()
    bad = "\n".join(lines)
    assert run(W.bundle(W.body(tlog_proof=bad))).ok
    expect(run(W.bundle(W.body(tlog_proof=bad)), trust=W.trust(quorum=3)), "transparency")


def test_transparency_log_signature_by_another_key():
    sk, _ = tlognote.generate("log.example/attest")
    proof = make_log(W.leaves, 3, log_sk=sk, wit_sks=[s for s, _ in W.wits], stamp=NOW - 600)
    expect(run(W.bundle(W.body(tlog_proof=proof))), "transparency")


def test_transparency_checkpoint_from_another_origin():
    sk, vk = tlognote.generate("log.example/other")
    proof = make_log(W.leaves, 3, log_sk=sk, wit_sks=[s for s, _ in W.wits], stamp=NOW - 600,
                     origin="log.example/other")
    expect(run(W.bundle(W.body(tlog_proof=proof))), "transparency")


def test_transparency_malformed_proof():
    expect(run(W.bundle(W.body(tlog_proof="c2sp.org/tlog-proof@v1\nindex x\n"))),
           "transparency")


def test_transparency_index_out_of_range():
    proof = W.log_proof().replace("index 3\n", "index 9\n")
    expect(run(W.bundle(W.body(tlog_proof=proof))), "transparency")


# ---- freshness ------------------------------------------------------------------------------------

def test_freshness_stale_cosignatures():
    proof = W.log_proof(stamp=NOW - 2 * DAY)
    r = run(W.bundle(W.body(tlog_proof=proof)))
    expect(r, "freshness")
    assert "recent" in r.reason


def test_freshness_only_one_fresh_cosignature():
    proof = W.log_proof(stamp=[NOW - 60, NOW - 3 * DAY, NOW - 3 * DAY])
    expect(run(W.bundle(W.body(tlog_proof=proof))), "freshness")
    # a longer max age accepts them
    assert run(W.bundle(W.body(tlog_proof=proof)), trust=W.trust(max_age=4 * DAY)).ok


def test_freshness_cosignature_in_the_future():
    proof = W.log_proof(stamp=[NOW - 60, NOW - 60, NOW + 301])
    r = run(W.bundle(W.body(tlog_proof=proof)))
    expect(r, "freshness")
    assert "ahead" in r.reason
    assert run(W.bundle(W.body(tlog_proof=W.log_proof(stamp=NOW + 300)))).ok


def test_freshness_issued_in_the_future():
    expect(run(W.bundle(W.body(issued=NOW + 301))), "freshness")
    assert run(W.bundle(W.body(issued=NOW + 300))).ok


def test_freshness_issued_too_long_ago():
    expect(run(W.bundle(W.body(issued=NOW - 48 * 3600 - 1,
                               hpke={"kem": 32, "kdf": 1, "aead": 1, "pk": W.hpke_pk,
                                     "key_id": W.key_id, "not_after": NOW + 60}))),
           "freshness")


# ---- modes -------------------------------------------------------------------------------------

def modes(**over):
    m = {"restricted": True, "ephemeral_data": True, "debug": False,
         "sandbox": {"seccomp": True, "landlock": True, "netns": True}}
    sb = {k: over.pop(k) for k in list(over) if k in attest.SANDBOX_LAYERS}
    m.update(over)
    m["sandbox"].update(sb)
    return m


def test_modes_debug_on():
    expect(run(W.bundle(W.body(modes=modes(debug=True)))), "modes")


def test_modes_not_restricted():
    expect(run(W.bundle(W.body(modes=modes(restricted=False)))), "modes")


def test_modes_not_ephemeral():
    expect(run(W.bundle(W.body(modes=modes(ephemeral_data=False)))), "modes")


@pytest.mark.parametrize("layer", attest.SANDBOX_LAYERS)
def test_modes_sandbox_layer_off(layer):
    b = W.bundle(W.body(modes=modes(**{layer: False})))
    r = run(b)
    expect(r, "modes")
    assert "sandbox" in r.reason
    relaxed = run(b, trust=W.trust(relax=[layer]))
    assert relaxed.ok, str(relaxed)
    assert "relaxed" in relaxed.checks[8].detail
    others = [x for x in attest.SANDBOX_LAYERS if x != layer]
    expect(run(b, trust=W.trust(relax=others)), "modes")


def test_modes_relax_does_not_allow_debug():
    b = W.bundle(W.body(modes=modes(debug=True)))
    expect(run(b, trust=W.trust(relax=list(attest.SANDBOX_LAYERS))), "modes")


# ---- key ---------------------------------------------------------------------------------------

def hpke(**over):
    h = {"kem": 0x20, "kdf": 1, "aead": 1, "pk": W.hpke_pk, "key_id": W.key_id,
         "not_after": NOW + DAY}
    h.update(over)
    return h


def test_key_expired():
    expect(run(W.bundle(W.body(hpke=hpke(not_after=NOW)))), "key")


def test_key_lifetime_over_48h():
    expect(run(W.bundle(W.body(hpke=hpke(not_after=NOW - 60 + 48 * 3600 + 1)))), "key")
    assert run(W.bundle(W.body(hpke=hpke(not_after=NOW - 60 + 48 * 3600)))).ok


@pytest.mark.parametrize("field,value", [("kem", 0x10), ("kdf", 2), ("aead", 0), ("aead", 4),
                                         ("aead", 0xFFFF)])
def test_key_suite_refused(field, value):
    expect(run(W.bundle(W.body(hpke=hpke(**{field: value})))), "key")


@pytest.mark.parametrize("aead", [1, 2, 3])
def test_key_every_aead_accepted(aead):
    assert run(W.bundle(W.body(hpke=hpke(aead=aead)))).ok


# ---- model -------------------------------------------------------------------------------------

def test_model_not_served():
    r = run(W.bundle(), model="llama-70b")
    expect(r, "model")
    assert r.node_id == W.node_id  # node fields are known once the body decoded


def test_model_prefix_is_not_a_match():
    expect(run(W.bundle(), model="smollm2"), "model")


def test_model_none_served():
    expect(run(W.bundle(W.body(models=[]))), "model")


# ---- arguments -----------------------------------------------------------------------------------

def test_verify_type_errors():
    b = W.bundle()
    with pytest.raises(TypeError):
        attest.verify("bundle", TRUST)
    with pytest.raises(TypeError):
        attest.verify(b, object())
    with pytest.raises(TypeError):
        attest.verify(b, TRUST, model=b"m")
    with pytest.raises(TypeError):
        attest.verify(b, TRUST, now="now")


def test_verify_accepts_bytearray_and_float_now():
    assert attest.verify(bytearray(W.bundle()), TRUST, now=float(NOW)).ok


def test_trust_arguments():
    vks = [v for _, v in W.wits]
    root = pem(W.root)
    with pytest.raises(InvalidArgument):
        attest.Trust([root], W.log_vk, vks, quorum=0)
    with pytest.raises(InvalidArgument):
        attest.Trust([root], W.log_vk, vks, quorum=4)
    with pytest.raises(InvalidArgument):
        attest.Trust([root], W.log_vk, vks, quorum=2, relax=["ptrace"])
    with pytest.raises(InvalidArgument):
        attest.Trust(["not a cert"], W.log_vk, vks, quorum=2)
    with pytest.raises(InvalidArgument):
        attest.Trust([], W.log_vk, vks, quorum=2)
    with pytest.raises(InvalidArgument):  # a P-256 root
        k = p256()
        attest.Trust([pem(make_cert(k, k, "r", "r", ca=True, hash_alg=hashes.SHA256()))],
                     W.log_vk, vks, quorum=2)
    with pytest.raises(InvalidArgument):  # witness keys must be cosigners
        attest.Trust([root], W.log_vk, [W.log_vk], quorum=1)
    with pytest.raises(InvalidArgument):  # the log key must be a plain note key
        attest.Trust([root], vks[0], vks, quorum=1)
    with pytest.raises(InvalidArgument):  # duplicate witness names
        attest.Trust([root], W.log_vk, [vks[0], vks[0]], quorum=1)
    with pytest.raises(TypeError):
        attest.Trust(root, W.log_vk, vks, quorum=2)
    with pytest.raises(TypeError):
        attest.Trust([root], W.log_vk, vks, quorum="2")
    # DER and PEM bytes roots work too
    assert run(W.bundle(), trust=attest.Trust([W.root], W.log_vk, vks, quorum=2)).ok
    assert run(W.bundle(), trust=attest.Trust([root.encode()], W.log_vk, vks, quorum=2)).ok
    t = attest.Trust.from_client_config({"provisioning_roots": [root], "log": W.log_vk,
                                         "witnesses": vks, "quorum": 2,
                                         "max_checkpoint_age_s": DAY})
    assert run(W.bundle(), trust=t).ok and t.quorum == 2 and "quorum=2" in repr(t)
    with pytest.raises(InvalidArgument):
        attest.Trust.from_client_config({"log": W.log_vk})


def test_concurrent_verifications_share_one_trust():
    from concurrent.futures import ThreadPoolExecutor
    t = W.trust()
    good, bad = W.bundle(), W.bundle(W.body(modes=modes(debug=True)))

    def one(i):
        t.clear_cache() if i % 7 == 0 else None
        return run(good if i % 2 else bad, trust=t).failed

    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(one, range(64)))
    assert got == [None if i % 2 else "modes" for i in range(64)]


def test_chain_root_expired():
    root_key = p384()
    root = make_cert(root_key, root_key, "old root", "old root", ca=True, pathlen=1,
                     not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    inter = make_cert(W.inter_key, root_key, "pcc test intermediate", "old root", ca=True,
                      pathlen=0)
    r = run(W.bundle(chain=[W.leaf, inter]), trust=W.trust(roots=[pem(root)]))
    expect(r, "chain")
    assert "expired" in r.reason


def test_chain_second_pinned_root_is_used():
    other = World()
    t = W.trust(roots=[pem(other.root), pem(W.root)])
    assert run(W.bundle(), trust=t).ok


def test_body_format_failure_reports_no_node_fields():
    r = run(W.bundle(W.body(extra=1)))
    d = r.to_dict()
    assert d["node_id"] is None and d["hpke_public_key"] is None and d["log_index"] is None
    assert "FAILED at format" in str(r)


_tpm_leaf = st.one_of(st.integers(min_value=-2, max_value=2**64 - 1), st.booleans(), st.none(),
                      st.binary(max_size=1100), st.text(max_size=8),
                      st.lists(st.integers(min_value=-1, max_value=20), max_size=4))


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.dictionaries(st.sampled_from(["v", "pcrs", "attest", "sig", "x"]), _tpm_leaf, max_size=5),
    st.builds(lambda d: dict(GOOD_TPM, **d),
              st.dictionaries(st.sampled_from(["v", "pcrs", "attest", "sig"]), _tpm_leaf,
                              max_size=2)),
    _tpm_leaf))
def test_tpm_value_property(value):
    """Whatever Body's tpm holds, verify returns a report that fails at format or tpm (the test
    leaf is no TPM attestation key) and never raises."""
    r = run(W.bundle(W.body(tpm=value)))
    assert not r.ok and r.failed in ("format", "tpm")
    if r.failed == "tpm":
        assert [c.name for c in r.checks] == list(attest.TPM_CHECKS[:4]) and r.backend == "tpm"
