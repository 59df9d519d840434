"""pcc.transparency.verify_proof: every check named, one negative test per way to be wrong;
tlog-proof and signature-line parsing."""
import time

import pytest
from hypothesis import given, settings, strategies as st

from conftest import load_vector
from pcc import merkle, transparency
from pcc.transparency import _note as tlognote
from pcc.errors import FormatError, InvalidArgument, VerifyError

NOW = 1_800_000_000
ORIGIN = "log.example/test"
NOTES = load_vector("signed_note_c2sp.json")


def _keys():
    log_sk, log_vk = tlognote.generate(ORIGIN)
    wits = [tlognote.generate(f"w{i}.example", cosigner=True) for i in range(3)]
    return log_sk, log_vk, wits


LOG_SK, LOG_VK, WITS = _keys()
WIT_VKS = [vk for _, vk in WITS]


def make_proof(leaves, index, *, log_sk=LOG_SK, wit_sks=None, ts=NOW - 10, origin=ORIGIN,
               mutate_root=False):
    tree = merkle.Tree()
    tree.append_many(leaves)
    root = tree.root()
    if mutate_root:
        root = bytes([root[0] ^ 1]) + root[1:]
    text = tlognote.checkpoint_text(origin, len(leaves), root)
    signed = tlognote.sign_checkpoint(tlognote.load_signer(log_sk), text)
    lines = list(signed.lines)
    for sk in (wit_sks if wit_sks is not None else [s for s, _ in WITS]):
        lines.append(tlognote.cosign(tlognote.load_signer(sk), text, ts))
    note_text = tlognote.SignedNote(text, tuple(lines)).format()
    return tlognote.format_proof(index, tree.inclusion_proof(index), note_text)


LEAVES = [f"leaf {i}".encode() for i in range(13)]
GOOD = make_proof(LEAVES, 5)


def verify(proof=GOOD, leaf=LEAVES[5], quorum=2, max_age=3600, wits=WIT_VKS, log_vk=LOG_VK):
    return transparency.verify_proof(leaf, proof, log_vk, wits, quorum, max_age, now=NOW)


def check_fails(name, **kw):
    with pytest.raises(VerifyError, match=f"{name} check failed"):
        verify(**kw)


def test_valid_proof():
    index, cp = verify()
    assert index == 5 and cp.size == 13 and cp.origin == ORIGIN
    assert verify(quorum=3)[0] == 5
    # no freshness limit, no witnesses required
    assert transparency.verify_proof(LEAVES[5], GOOD, LOG_VK, (), 0, None, now=NOW)[0] == 5


def test_every_index_and_size():
    for n in (1, 2, 3, 7, 8, 9):
        for i in range(n):
            p = make_proof(LEAVES[:n], i)
            assert verify(proof=p, leaf=LEAVES[i])[0] == i


def test_proof_format_garbage():
    check_fails("proof format", proof="hello")


def test_proof_format_bad_header():
    check_fails("proof format", proof=GOOD.replace("tlog-proof@v1", "tlog-proof@v2", 1))


def test_proof_format_bad_hash_line():
    lines = GOOD.split("\n")
    lines[2] = lines[2][:-4]
    check_fails("proof format", proof="\n".join(lines))


def test_proof_format_leading_zero_index():
    check_fails("proof format", proof=GOOD.replace("index 5", "index 05", 1))


def test_checkpoint_signature_other_key():
    other_sk, _ = tlognote.generate(ORIGIN)
    check_fails("checkpoint signature", proof=make_proof(LEAVES, 5, log_sk=other_sk))


def test_checkpoint_signature_tampered_size():
    check_fails("checkpoint signature", proof=GOOD.replace(f"{ORIGIN}\n13\n", f"{ORIGIN}\n14\n"))


def test_checkpoint_origin():
    sk, vk = tlognote.generate("other.example/log")
    p = make_proof(LEAVES, 5, log_sk=sk, origin=ORIGIN)
    check_fails("checkpoint origin", proof=p, log_vk=vk)


def test_inclusion_wrong_leaf():
    check_fails("inclusion", leaf=b"not in the log")


def test_inclusion_wrong_index():
    check_fails("inclusion", proof=GOOD.replace("index 5", "index 6", 1))


def test_inclusion_index_beyond_size():
    check_fails("inclusion", proof=GOOD.replace("index 5", "index 13", 1))


def test_inclusion_truncated_path():
    lines = GOOD.split("\n")
    del lines[2]
    check_fails("inclusion", proof="\n".join(lines))


def test_inclusion_extra_hash():
    lines = GOOD.split("\n")
    lines.insert(2, lines[2])
    check_fails("inclusion", proof="\n".join(lines))


def test_inclusion_root_mismatch():
    # log signed a checkpoint whose root is not the tree's: the path cannot reach it
    check_fails("inclusion", proof=make_proof(LEAVES, 5, mutate_root=True))


def test_witness_quorum_too_few():
    p = make_proof(LEAVES, 5, wit_sks=[WITS[0][0]])
    check_fails("witness quorum", proof=p)


def test_witness_quorum_same_witness_twice_counts_once():
    p = make_proof(LEAVES, 5, wit_sks=[WITS[0][0], WITS[0][0]])
    check_fails("witness quorum", proof=p)


def test_witness_quorum_unknown_witness_ignored():
    stranger, _ = tlognote.generate("w9.example", cosigner=True)
    p = make_proof(LEAVES, 5, wit_sks=[WITS[0][0], stranger])
    check_fails("witness quorum", proof=p)


def test_witness_quorum_forged_cosignature():
    # a cosignature line from a trusted name with someone else's key does not count
    forger, _ = tlognote.generate("w1.example", cosigner=True)
    p = make_proof(LEAVES, 5, wit_sks=[WITS[0][0], forger])
    check_fails("witness quorum", proof=p)


def test_freshness_stale():
    p = make_proof(LEAVES, 5, ts=NOW - 7200)
    check_fails("freshness", proof=p)


def test_freshness_future():
    p = make_proof(LEAVES, 5, ts=NOW + 3600)
    check_fails("freshness", proof=p)


def test_freshness_needs_witnesses():
    with pytest.raises(VerifyError, match="freshness"):
        transparency.verify_proof(LEAVES[5], GOOD, LOG_VK, (), 0, 3600, now=NOW)


def test_freshness_uses_quorum_of_fresh_cosignatures():
    # two witnesses fresh, the third stale: quorum 2 passes, quorum 3 fails on freshness
    text = tlognote.parse_proof(GOOD)
    p = make_proof(LEAVES, 5, wit_sks=[WITS[0][0], WITS[1][0]])
    stale_line = tlognote.cosign(tlognote.load_signer(WITS[2][0]),
                                 tlognote.split_note(text.checkpoint).text, NOW - 99999)
    p = p.rstrip("\n") + "\n" + stale_line + "\n"
    assert verify(proof=p, quorum=2)[0] == 5
    with pytest.raises(VerifyError, match="freshness"):
        verify(proof=p, quorum=3)


def test_argument_errors():
    with pytest.raises(InvalidArgument):
        verify(quorum=4)
    with pytest.raises(InvalidArgument):
        verify(log_vk="not a vkey")
    with pytest.raises(InvalidArgument):
        verify(quorum=-1)
    with pytest.raises(TypeError):
        transparency.verify_proof("str leaf", GOOD, LOG_VK, WIT_VKS, 2, None)


def test_cosignature_times():
    times = transparency.cosignature_times(GOOD, WIT_VKS)
    assert times == {"w0.example": NOW - 10, "w1.example": NOW - 10, "w2.example": NOW - 10}


def test_default_now_is_wall_clock():
    p = make_proof(LEAVES, 5, ts=int(time.time()))
    assert transparency.verify_proof(LEAVES[5], p, LOG_VK, WIT_VKS, 3, 600)[0] == 5


# --------------------------------------------------------------------------- parsing helpers

def test_cosignature_example_timestamp():
    # tlog-cosignature.md example line: keyID || timestamp (1679315147, per the spec's signed
    # message) || signature
    note_text = NOTES["c2sp_checkpoint_examples"][1]["note"]
    n = tlognote.split_note(note_text)
    assert n.text.startswith("example.com/behind-the-sofa\n20852163\n")
    sig = tlognote.parse_sig_lines([n.lines[1]])[0]
    assert sig.name == "witness.example.com/w1"
    assert sig.timestamp == 1679315147


def test_checkpoint_vector_parses():
    case = NOTES["c2sp_checkpoint_examples"][0]
    n = tlognote.split_note(case["note"])
    cp = tlognote.parse_checkpoint(n.text)
    assert cp.origin == case["origin"] and cp.size == case["tree_size"]
    assert tlognote.b64(bytes(cp.root)) == case["root_hash_b64"]


def test_derived_checkpoint_verifies():
    case = NOTES["derived_signed_checkpoints"]["cases"][1]
    n = tlognote.open_note(case["note"], [tlognote.load_verifier(case["verifier_keys"][0])])
    assert tlognote.parse_checkpoint(n.text).size == 8


@pytest.mark.parametrize("line", [
    "- name AAAAAAA=",                       # not an em dash
    "\u2014 name",                           # no signature
    "\u2014 na me AAAAAAAA",                 # space in name
    "\u2014 na+me AAAAAAAA",                 # plus in name
    "\u2014 name AAAA",                      # shorter than a key ID
    "\u2014 name AAAAAAA",                   # bad padding
    "\u2014 name AAAAAAB=",                  # non-canonical base64 (trailing bits)
    "\u2014 name AAAAAAAA ",                 # trailing space
])
def test_sig_line_rejects(line):
    with pytest.raises(FormatError):
        tlognote.parse_sig_lines([line])


@pytest.mark.parametrize("note_text", [
    "text\n",                                  # no signatures
    "text\n\n",                                # empty signature block
    "text\n\n\u2014 a AAAAAAAA",               # no final newline
    "te\x01xt\n\n\u2014 a AAAAAAAA\n",         # control character
])
def test_split_note_rejects(note_text):
    with pytest.raises(FormatError):
        tlognote.split_note(note_text)


def test_proof_roundtrip_with_extra():
    p = tlognote.parse_proof(GOOD)
    again = tlognote.format_proof(p.index, p.hashes, p.checkpoint, extra=b"ctx")
    q = tlognote.parse_proof(again)
    assert q.extra == b"ctx" and q.hashes == p.hashes and q.checkpoint == p.checkpoint
    assert tlognote.format_proof(p.index, p.hashes, p.checkpoint) == GOOD


def test_proof_too_many_hashes():
    p = tlognote.parse_proof(GOOD)
    text = tlognote.format_proof(1, [b"\x00" * 32] * 64, p.checkpoint)
    head, _, cp = text.partition("\n\n")
    with pytest.raises(FormatError):
        tlognote.parse_proof(head + "\n" + tlognote.b64(bytes(32)) + "\n\n" + cp)


@given(st.text(max_size=400))
@settings(max_examples=300)
def test_parse_proof_fuzz(s):
    try:
        tlognote.parse_proof(s)
    except FormatError:
        pass


@given(st.integers(0, len(GOOD) - 1), st.characters(max_codepoint=0x2100))
@settings(max_examples=300, deadline=None)
def test_mutated_proof_never_verifies_wrongly(pos, ch):
    p = GOOD[:pos] + ch + GOOD[pos + 1:]
    try:
        verify(proof=p)
    except VerifyError:
        return
    # the only mutations that still verify leave the signed content and path intact
    q = tlognote.parse_proof(p)
    assert q.index == 5 and tlognote.split_note(q.checkpoint).text == \
        tlognote.split_note(tlognote.parse_proof(GOOD).checkpoint).text
