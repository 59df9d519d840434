"""The node's enclave backend ``tpm`` on real software TPMs (swtpm): a node (``pcc node serve
--enclave tpm``) enrols its attestation key with the provisioning CA through the credential
challenge, mirrors every register in a SHA-384 PCR, and serves bundles that verify with the
``tpm`` check under ``require_tpm``; it answers requests with unchanged HPKE keys; its AK is the
TPM's and cannot be exported; a TPM whose PCRs are not zero is refused; the TPM gets an orderly
shutdown. The enclave's new operations are also driven alone, with their refusals."""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys

import httpx
import msgpack
import pytest

import _node_util as U
from _swtpm import LocalCA, Swtpm, missing_tools
from pcc import _request, attest, tpm
from pcc.errors import VerifyError
from pcc.node._proc import Channel

MISSING = missing_tools()
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"swtpm not installed "
                                f"({', '.join(MISSING)}): apt-get install swtpm swtpm-tools")
# without root the kernel gives workers no Landlock or network namespace: the nodes say so, and
# the checks here allow exactly that (as `pcc up` does)
WEAKER = [] if os.geteuid() == 0 else ["landlock", "netns"]

TINY = {"max_tokens": 8, "temperature": 0.0, "seed": 1}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A node world (tiny model, CA, log) and one swtpm whose manufacturer the CA trusts."""
    d = tmp_path_factory.mktemp("node-tpm")
    world = U.World(d)
    maker = LocalCA(d / "maker")
    sw = Swtpm(d / "tpm", maker)
    sw.start()
    try:
        assert world.ca.add_manufacturer_root(maker.root_pem)
        world.ca.save(d / "ca")
        yield world, maker, sw
    finally:
        sw.stop()


def tpm_config(world, maker, sw, name="node.json", **over):
    return world.config(name, enclave={"backend": "tpm", "tpm": sw.tcti,
                                       "ek_intermediates": str(maker.dir / "issuercert.pem")},
                        sandbox={"weaker": WEAKER}, **over)


def tpm_trust(world) -> attest.Trust:
    return attest.Trust(provisioning_roots=[world.ca.root_pem], log_vkey=world.log_vk,
                        witness_vkeys=[v for _, v in world.wits], quorum=2,
                        max_checkpoint_age_s=86400, relax=WEAKER, require_tpm=True)


@pytest.fixture(scope="module")
def node(lab):
    world, maker, sw = lab
    n = U.Node(tpm_config(world, maker, sw), world.d / "node.log")
    try:
        yield n.wait(120)
    finally:
        n.stop()


def bundle_of(node) -> bytes:
    r = httpx.get(node.url + "/v1/attestation", timeout=10)
    assert r.status_code == 200
    return r.content


def body_of(bundle: bytes) -> dict:
    return msgpack.unpackb(msgpack.unpackb(bundle)["body"])


def test_bundle_verifies_with_the_tpm_check(node, lab):
    world = lab[0]
    b = bundle_of(node)
    rep = attest.verify(b, tpm_trust(world), model=U.MODEL)
    assert rep.ok, str(rep)
    assert rep.backend == "tpm"
    assert [c.name for c in rep.checks] == list(attest.TPM_CHECKS)
    body = body_of(b)
    assert body["tpm"]["pcrs"] == list(tpm.DEFAULT_PCRS) and body["tpm"]["v"] == 1
    # the node certificate is an AK certificate, and the node id is that key's
    chain = msgpack.unpackb(b)["chain"]
    assert hashlib.sha256(tpm.ak_cert_key(chain[0])).digest() == body["node_id"] == rep.node_id


def test_answers_with_its_hpke_key(node, lab):
    world = lab[0]
    rep = attest.verify(bundle_of(node), world.trust(relax=WEAKER), model=U.MODEL)
    assert rep.ok, str(rep)
    body, state = _request.seal_request([(rep.node_id, rep.key_id, rep.hpke_public_key)],
                                        [("user", "hello")], TINY, model=U.MODEL)
    r = httpx.post(node.url + "/v1/invoke", content=msgpack.packb(body), timeout=60,
                   headers={"content-type": "application/pcc-request+msgpack"})
    assert r.status_code == 200, r.text
    rd = state.reader(rep.node_id)
    ev = rd.feed(r.content)
    rd.finish()
    assert isinstance(ev[-1], _request.Done) and ev[-1].completion_tokens > 0


def test_quote_bound_to_the_body(node, lab):
    """The quote's qualifying data is the body without "tpm", re-encoded canonically as a
    verifier does; any other body fails."""
    b = bundle_of(node)
    body = body_of(b)
    chain = msgpack.unpackb(b)["chain"]
    without = attest.canonical_msgpack(msgpack.packb({k: v for k, v in body.items()
                                                      if k != "tpm"}))
    tpm.check_bundle_quote(body["tpm"], body_without_tpm=without, node_cert=chain[0],
                           events=body["events"])
    with pytest.raises(VerifyError):
        tpm.check_bundle_quote(body["tpm"], body_without_tpm=without + b"\x00",
                               node_cert=chain[0], events=body["events"])


def test_after_stop_pcrs_hold_the_events_and_the_ak_stays_in(node, lab):
    """Stopped (the enclave shuts the TPM down in order), the TPM's register PCRs hold exactly
    what the bundle's events replay to; the AK is the TPM's primary key for the bundle's boot id,
    and the TPM refuses to duplicate (export) it."""
    world, maker, sw = lab
    body = body_of(bundle_of(node))
    node.stop()
    with tpm.Tpm(sw.tcti) as t:
        pcrs = t.read_pcrs(tpm.DEFAULT_PCRS)
        assert [pcrs[p] for p in tpm.DEFAULT_PCRS] == tpm.replay(body["events"])
        assert all(v != bytes(48) for v in pcrs.values())
        ak = t.create_ak(unique=body["boot"])
        assert hashlib.sha256(ak.spki).digest() == body["node_id"]
        with pytest.raises(VerifyError):
            t._t.ak_duplicate()
        assert t.last_rc != 0


def test_used_tpm_refused(node, lab):
    """The same TPM again, its PCRs no longer zero: the node refuses to boot and says why."""
    world, maker, sw = lab
    assert node.proc.poll() is not None        # the node of this module has stopped
    n = U.Node(tpm_config(world, maker, sw, "again.json"), world.d / "again.log")
    try:
        with pytest.raises(RuntimeError, match="PCRs are not zero"):
            n.wait(60)
    finally:
        n.stop()
    assert n.proc.returncode != 0


def test_reset_tpm_boots_again(lab):
    """After an orderly reset of the TPM the PCRs are zero again and a node boots (a new AK)."""
    world, maker, sw = lab
    sw.stop()
    sw.start()
    n = U.Node(tpm_config(world, maker, sw, "reset.json"), world.d / "reset.log",
               extra=["--enclave", "tpm", "--tpm-device", sw.tcti])
    try:
        n.wait(120)
        rep = attest.verify(bundle_of(n), tpm_trust(world), model=U.MODEL)
        assert rep.ok and rep.backend == "tpm", str(rep)
    finally:
        n.stop()


def test_unknown_manufacturer_refused(lab, tmp_path):
    """A TPM whose EK certificate chains to no manufacturer root of the CA: boot refused."""
    world = lab[0]
    other = LocalCA(tmp_path / "other-maker")
    with Swtpm(tmp_path / "tpm", other) as sw2:
        n = U.Node(tpm_config(world, other, sw2, "other.json"), world.d / "other.log")
        try:
            with pytest.raises(RuntimeError, match="provisioning CA refused the TPM"):
                n.wait(60)
        finally:
            n.stop()


# ------------------------------------------------------------------------- the enclave alone

class Enclave:
    def __init__(self, tcti: str | None):
        c_s, c_e = socket.socketpair()
        h_s, h_e = socket.socketpair()
        extra = [] if tcti is None else [f"tpm={tcti}"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pcc.node._enclave", str(c_e.fileno()), str(h_e.fileno()),
             "3600"] + extra, pass_fds=(c_e.fileno(), h_e.fileno()))
        c_e.close()
        h_e.close()
        self.ctrl = Channel(c_s, "enclave")
        self.host = Channel(h_s, "enclave")

    def refused(self, obj, why):
        self.ctrl.send(obj)
        assert self.ctrl.recv() == {"op": "error", "error": why}, obj

    def close(self) -> int:
        self.ctrl.sock.close()
        self.host.sock.close()
        return self.proc.wait(timeout=20)


@pytest.fixture
def fresh_tpm(lab, tmp_path):
    with Swtpm(tmp_path / "tpm", lab[1]) as sw:
        yield sw


D0, D1, D2 = (hashlib.sha384(bytes([i])).digest() for i in range(3))


def attest_bundle(e: Enclave, cert: bytes) -> dict:
    """Ask for a bundle and check it as a verifier does (quote and signature); its body."""
    r = e.ctrl.call({"op": "attest", "release": b"leaf", "tlog_proof": "proof",
                     "models": ["tiny"]}, "bundle")
    outer = msgpack.unpackb(r["bundle"])
    assert outer["chain"] == [cert]
    body = msgpack.unpackb(outer["body"])
    spki = tpm.ak_cert_key(cert)
    attest.verify_signature(spki, outer["body"], outer["sig"])
    without = attest.canonical_msgpack(msgpack.packb({k: v for k, v in body.items()
                                                      if k != "tpm"}))
    tpm.check_bundle_quote(body["tpm"], body_without_tpm=without, node_cert=cert,
                           events=body["events"])
    assert [(ev["reg"], ev["name"], ev["sha384"]) for ev in body["events"]] == [
        (0, "pcc", D0), (2, "node-config", D2), (1, "tiny", D1)]
    return body


def test_enclave_tpm_operations_and_refusals(lab, fresh_tpm):
    world = lab[0]
    e = Enclave(fresh_tpm.tcti)
    try:
        e.refused({"op": "csr", "serial": U.SERIAL}, "invalid")          # sim's operation
        e.refused({"op": "activate", "blob": b"b", "secret": b"s"}, "state")
        e.refused({"op": "enroll", "serial": ""}, "format")
        r = e.ctrl.call({"op": "enroll", "serial": U.SERIAL}, "enroll")
        e.refused({"op": "enroll", "serial": U.SERIAL}, "state")
        e.refused({"op": "set_chain", "chain": [b"cert"]}, "state")      # not activated yet
        enr = world.ca.tpm_challenge(r["ek_cert"], r["ak_public"], U.SERIAL,
                                     intermediates=[lab[1].intermediate_pem])
        other = world.ca.tpm_challenge(r["ek_cert"], r["ak_public"], U.SERIAL,
                                       intermediates=[lab[1].intermediate_pem])
        e.refused({"op": "activate", "blob": enr.blob[:-1] + bytes([enr.blob[-1] ^ 1]),
                   "secret": enr.secret}, "invalid")                      # HMAC fails in the TPM
        a = e.ctrl.call({"op": "activate", "blob": enr.blob, "secret": enr.secret}, "credential")
        with pytest.raises(VerifyError):   # another challenge's credential is not this one
            world.ca.issue_tpm_ak(other, a["credential"])
        cert = world.ca.issue_tpm_ak(enr, a["credential"])
        e.refused({"op": "activate", "blob": enr.blob, "secret": enr.secret}, "state")  # once
        assert hashlib.sha256(tpm.ak_cert_key(cert)).digest() == r["node_id"]
        # the chain must start with the AK's certificate, marked as a TPM attestation key
        e.refused({"op": "set_chain", "chain": [b"cert"]}, "invalid")
        e.refused({"op": "set_chain", "chain": [world.ca.root_der]}, "invalid")
        e.ctrl.call({"op": "set_chain", "chain": [cert]}, "ok")
        # measured, locked, attested: every bundle's quote binds its body and replays its events
        events = [(0, "pcc", D0), (2, "node-config", D2), (1, "tiny", D1)]
        for reg, name, d in events:
            (e.host if reg == 1 else e.ctrl).call(
                {"op": "extend", "reg": reg, "name": name, "sha384": d}, "ok")
        e.host.call({"op": "modes", "sandbox": 7}, "ok")
        e.ctrl.call({"op": "lock"}, "ok")
        first = attest_bundle(e, cert)
        # rotation: a new HPKE key, a new quote; the identity (the AK) stays
        e.ctrl.call({"op": "rotate"}, "key")
        second = attest_bundle(e, cert)
        assert first["hpke"]["key_id"] != second["hpke"]["key_id"]
        assert first["node_id"] == second["node_id"] == r["node_id"]
        assert first["tpm"]["attest"] != second["tpm"]["attest"]
    finally:
        assert e.close() == 0
    # the enclave shut the TPM down in order; it still answers until reset, its PCRs as extended
    with tpm.Tpm(fresh_tpm.tcti) as t:
        pcrs = t.read_pcrs()
    assert [pcrs[p] for p in tpm.DEFAULT_PCRS] == tpm.replay(
        [(0, "pcc", D0), (2, "node-config", D2), (1, "tiny", D1)])
    assert fresh_tpm.shutdown()


def test_enclave_sim_refuses_tpm_operations():
    e = Enclave(None)
    try:
        e.refused({"op": "enroll", "serial": U.SERIAL}, "invalid")
        e.ctrl.call({"op": "csr", "serial": U.SERIAL}, "csr")
        e.refused({"op": "activate", "blob": b"b", "secret": b"s"}, "invalid")
    finally:
        assert e.close() == 0


def test_enclave_unreachable_tpm(lab):
    e = Enclave("swtpm:host=127.0.0.1,port=1")
    try:
        e.refused({"op": "enroll", "serial": U.SERIAL}, "tpm_unreachable")
        e.host.send({"op": "extend", "reg": 1, "name": "m", "sha384": bytes(48)})
        assert e.host.recv() == {"op": "error", "error": "tpm_unreachable"}
    finally:
        assert e.close() == 0


def test_enclave_pcrs_not_zero(lab, fresh_tpm):
    with tpm.Tpm(fresh_tpm.tcti) as t:
        t.extend(tpm.DEFAULT_PCRS[1], "earlier", bytes(48))
    e = Enclave(fresh_tpm.tcti)
    try:
        e.refused({"op": "enroll", "serial": U.SERIAL}, "tpm_pcrs_not_zero")
        e.ctrl.send({"op": "extend", "reg": 0, "name": "pcc", "sha384": bytes(48)})
        assert e.ctrl.recv() == {"op": "error", "error": "tpm_pcrs_not_zero"}
    finally:
        assert e.close() == 0


def test_enclave_without_sha384_bank(lab, tmp_path):
    with Swtpm(tmp_path / "tpm", lab[1], banks="sha256") as sw:
        e = Enclave(sw.tcti)
        try:
            e.refused({"op": "enroll", "serial": U.SERIAL}, "tpm_no_sha384")
        finally:
            assert e.close() == 0


def test_config_enclave_section(lab):
    from pcc.errors import FormatError
    from pcc.node import parse_config
    world = lab[0]
    base = {"v": 1, "serial": "S", "models": {"m": "m.gguf"},
            "release": {"leaf": "l", "proof": "p"},
            "trust": {"log": world.log_vk, "witnesses": [], "quorum": 0}, "ca": {"dir": "ca"}}
    assert parse_config(base).backend == "sim"
    c = parse_config(dict(base, enclave={"backend": "tpm", "tpm": "device:/dev/tpmrm0"}))
    assert (c.backend, c.tpm) == ("tpm", "device:/dev/tpmrm0")
    assert c.with_enclave("sim").tpm is None
    assert c.with_enclave("tpm", "swtpm:port=1").tpm == "swtpm:port=1"
    for bad in [{"backend": "tpm"}, {"backend": "sgx"}, {"tpm": 3}, {"other": 1},
                {"backend": "tpm", "tpm": ""}, {"backend": "tpm", "tpm": "x",
                                                "ek_intermediates": 1}, []]:
        with pytest.raises(FormatError):
            parse_config(dict(base, enclave=bad))
    with pytest.raises(FormatError):
        parse_config(base).with_enclave("tpm")
    # the backend is not measured: sim and tpm nodes of one release share its node-config
    assert c.measured() == parse_config(base).measured()


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@pytest.fixture(scope="module")
def fuzz_enclave(lab, tmp_path_factory):
    """A tpm enclave that enrolled, so activate reaches the TPM."""
    with Swtpm(tmp_path_factory.mktemp("fuzz-tpm"), lab[1]) as sw:
        e = Enclave(sw.tcti)
        e.ctrl.call({"op": "enroll", "serial": U.SERIAL}, "enroll")
        yield e
        assert e.close() == 0


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(["enroll", "activate", "set_chain", "csr"]),
       fields=st.dictionaries(st.sampled_from(["serial", "blob", "secret", "chain", "x"]),
                              st.binary(max_size=600) | st.text(max_size=20) |
                              st.lists(st.binary(max_size=64), max_size=2), max_size=3))
def test_tpm_operations_any_message_gets_a_reply(fuzz_enclave, op, fields):
    """Hostile enroll, activate, set_chain and csr messages (the TPM parses the blob and secret
    it is handed): a reply each, never a crash, and nothing gets past activate."""
    e = fuzz_enclave
    e.ctrl.send(dict(fields, op=op))
    r = e.ctrl.recv()
    assert r["op"] == "error" and r["error"] in ("format", "state", "invalid"), r
    assert e.proc.poll() is None
