"""Witness (c2sp.org/tlog-witness) over real HTTP: uvicorn in a subprocess on loopback."""
import concurrent.futures

import httpx
import pytest

from _tlog_util import MiniLog, Server, free_port, keygen
from conftest import load_vector
from pcc.transparency import _note as tlognote

NOTES = load_vector("signed_note_c2sp.json")
VEC = NOTES["derived_signed_checkpoints"]["cases"]
VEC_LOG_VKEY = VEC[0]["verifier_keys"][0]          # "Log+2271c621+..."


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("witness")
    log = MiniLog("log.example/w-test")
    log2 = MiniLog("log.example/race")
    sk, vkey = keygen(tmp, "witness.example/w1", cosigner=True)
    args = ["witness", "serve", "--db", str(tmp / "w.db"), "--key", str(sk),
            "--log", f"{log.origin}={log.vkey}", "--log", f"{log2.origin}={log2.vkey}",
            "--log", f"Log={VEC_LOG_VKEY}"]
    srv = Server(args, free_port(), tmp / "w.log", "/add-checkpoint").start()
    client = httpx.Client(timeout=10.0)
    yield {"srv": srv, "log": log, "log2": log2, "vkey": vkey, "client": client, "tmp": tmp,
           "args": args}
    client.close()
    srv.stop()


def post(env, body: bytes):
    return env["client"].post(env["srv"].url + "/add-checkpoint", content=body)


def cosigned_by(env, note_text: str, resp_text: str) -> int:
    n = tlognote.split_note(note_text)
    lines = resp_text.rstrip("\n").split("\n")
    stamps = tlognote.verify_cosignatures(n.text, lines,
                                          [tlognote.load_verifier(env["vkey"])])
    return stamps["witness.example/w1"]


def test_vector_checkpoint_cosigned(env):
    # the project's derived signed checkpoints (key "Log"), sizes 0 then 8
    r = post(env, b"old 0\n\n" + VEC[0]["note"].encode())
    assert r.status_code == 200, r.text
    assert r.text.startswith("\u2014 witness.example/w1 ") and r.text.endswith("\n")
    assert cosigned_by(env, VEC[0]["note"], r.text) > 1_700_000_000
    r = post(env, b"old 0\n\n" + VEC[1]["note"].encode())
    assert r.status_code == 200, r.text
    cosigned_by(env, VEC[1]["note"], r.text)
    # same checkpoint again (old == size, same root): cosigned again
    r = post(env, b"old 8\n\n" + VEC[1]["note"].encode())
    assert r.status_code == 200


def test_flow_with_consistency_proofs(env):
    log = env["log"]
    r = post(env, log.add_checkpoint_body(0, 3))
    assert r.status_code == 200, r.text
    r = post(env, log.add_checkpoint_body(3, 7))
    assert r.status_code == 200, r.text
    cosigned_by(env, log.checkpoint(7), r.text)
    r = post(env, log.add_checkpoint_body(7, 300))
    assert r.status_code == 200, r.text


def test_409_old_size_mismatch(env):
    log = env["log"]
    r = post(env, log.add_checkpoint_body(0, 3, proof=[]))
    assert r.status_code == 409
    # exactly text/x.tlog.size, body: stored size and a newline
    assert r.headers["content-type"] == "text/x.tlog.size"
    assert r.text == "300\n"


def test_404_unknown_origin(env):
    other = MiniLog("log.example/unknown")
    r = post(env, other.add_checkpoint_body(0, 2))
    assert r.status_code == 404


def test_403_bad_signature(env):
    # same origin, a key the witness does not trust
    impostor = MiniLog(env["log"].origin)
    r = post(env, impostor.add_checkpoint_body(300, 301, proof=env["log"].consistency(300, 301)))
    assert r.status_code == 403


def test_403_tampered_note(env):
    note = env["log"].checkpoint(301).replace("\n301\n", "\n302\n")
    r = post(env, env["log"].add_checkpoint_body(300, 302, note=note))
    assert r.status_code == 403


def test_400_old_above_size(env):
    r = post(env, env["log"].add_checkpoint_body(300, 200, proof=[]))
    assert r.status_code == 400


def test_422_bad_consistency_proof(env):
    log = env["log"]
    proof = log.consistency(300, 310)
    proof[0] = bytes(32)
    r = post(env, log.add_checkpoint_body(300, 310, proof=proof))
    assert r.status_code == 422


def test_422_fork(env):
    # a checkpoint of size 320 whose root is not an extension of the stored 300
    log = env["log"]
    fork = log.checkpoint(320, root=b"\x42" * 32)
    r = post(env, log.add_checkpoint_body(300, 320, note=fork))
    assert r.status_code == 422


def test_409_same_size_other_root(env):
    log = env["log"]
    r = post(env, log.add_checkpoint_body(300, 300, note=log.checkpoint(300, root=b"\x01" * 32)))
    assert r.status_code == 409


def test_400_proof_when_old_is_zero(env):
    r = post(env, f"old 0\n{tlognote.b64(bytes(32))}\n\n".encode() + env["log"].checkpoint(5)
             .encode())
    assert r.status_code == 400


@pytest.mark.parametrize("body", [
    b"",
    b"old 1\n",                                      # no blank line, no checkpoint
    b"new 0\n\nx\n",                                 # not "old"
    b"old 01\n\n",                                   # leading zero
    b"old -1\n\n",
    b"old 0\nnot-base64\n\n",
    b"old 0\nAAAA\n\n",                              # proof hash not 32 bytes
    b"\xff\xfe\n\n",                                 # not UTF-8
])
def test_400_malformed(env, body):
    r = post(env, body + env["log"].checkpoint(300).encode() if body.endswith(b"\n\n") else body)
    assert r.status_code == 400, (body, r.status_code, r.text)


def test_400_too_many_proof_lines(env):
    log = env["log"]
    r = post(env, log.add_checkpoint_body(300, 301, proof=[bytes(32)] * 64))
    assert r.status_code == 400


def test_400_malformed_checkpoint(env):
    r = post(env, b"old 0\n\nnot a note\n")
    assert r.status_code == 400


def test_413_oversize(env):
    r = post(env, b"old 0\n" + b"A" * (200 * 1024))
    assert r.status_code == 413


def test_atomic_concurrent_updates(env):
    # 12 concurrent requests all claiming old=7 with different new sizes: exactly one wins,
    # the others see 409 with the winner's size, and the stored size is the winner's.
    log = env["log2"]
    assert post(env, log.add_checkpoint_body(0, 7)).status_code == 200
    bodies = {n: log.add_checkpoint_body(7, n) for n in range(8, 20)}

    def send(n):
        with httpx.Client(timeout=20.0) as c:
            return n, c.post(env["srv"].url + "/add-checkpoint", content=bodies[n])

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        results = list(ex.map(send, bodies))
    wins = [n for n, r in results if r.status_code == 200]
    assert len(wins) == 1, [(n, r.status_code) for n, r in results]
    for n, r in results:
        if r.status_code != 200:
            assert r.status_code == 409 and r.text == f"{wins[0]}\n"
    r = post(env, log.add_checkpoint_body(0, 7, proof=[]))
    assert r.status_code == 409 and r.text == f"{wins[0]}\n"


def test_state_survives_kill(env):
    srv = env["srv"]
    log = env["log"]
    assert post(env, log.add_checkpoint_body(300, 333)).status_code == 200
    srv.kill()
    srv.start()
    r = post(env, log.add_checkpoint_body(0, 400, proof=[]))
    assert r.status_code == 409 and r.text == "333\n"


def test_422_proof_between_equal_sizes(env):
    log = env["log"]
    r = post(env, log.add_checkpoint_body(0, 0, proof=[]))      # learn the stored size
    stored = int(r.text) if r.status_code == 409 else 0
    r = post(env, log.add_checkpoint_body(stored, stored, proof=[bytes(32)]))
    assert r.status_code == 422
