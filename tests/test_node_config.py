"""node.json's ``release`` (log mode and file mode), one named refusal per way it can be wrong,
and the freshness rule a node serves its proof under (pcc.node._release)."""
import time

import pytest

from _attest_util import make_log
from pcc.errors import FormatError
from pcc.node import parse_config
from pcc.node import _release
from pcc.transparency import _note as tlognote, leaves

WITS = [tlognote.generate(f"w{i}.example", cosigner=True) for i in range(2)]
LOG_SK, LOG_VK = tlognote.generate("log.example/cfg")


def cfg(release, **trust):
    t = {"log": LOG_VK, "witnesses": [v for _, v in WITS], "quorum": 2}
    t.update(trust)
    return {"v": 1, "serial": "S-1", "models": {"m": "m.gguf"}, "release": release,
            "trust": t, "ca": {"dir": "ca"}}


def test_log_mode_by_index(tmp_path):
    c = parse_config(cfg({"log": "http://127.0.0.1:9/", "index": 7}), "n", tmp_path)
    assert c.release_source == "log" and c.release_index == 7 and c.release_leaf is None
    assert c.release_refresh_s == 600 and c.release_name is None


def test_log_mode_by_name(tmp_path):
    c = parse_config(cfg({"log": "https://log.example", "name": "pcc", "version": "1",
                          "refresh_s": 30}), "n", tmp_path)
    assert (c.release_name, c.release_version, c.release_index, c.release_refresh_s) == \
        ("pcc", "1", None, 30)


def test_file_mode_paths_resolved(tmp_path):
    c = parse_config(cfg({"leaf": "r.leaf", "proof": "r.proof"}), "n", tmp_path)
    assert c.release_source == "file" and c.release_leaf == str(tmp_path / "r.leaf")


def test_release_is_not_measured(tmp_path):
    a = parse_config(cfg({"leaf": "r.leaf", "proof": "r.proof"}), "n", tmp_path)
    b = parse_config(cfg({"log": "http://x", "index": 1, "refresh_s": 5}), "n", tmp_path)
    assert a.measured() == b.measured()


@pytest.mark.parametrize("release", [
    "http://x",                                            # not an object
    {},                                                    # neither mode
    {"log": "http://x"},                                   # no index, no name
    {"log": "http://x", "index": 1, "name": "a", "version": "1"},   # both
    {"log": "http://x", "name": "a"},                      # name without version
    {"log": "ftp://x", "index": 1},                        # not http(s)
    {"log": 5, "index": 1},
    {"log": "http://x", "index": -1},
    {"log": "http://x", "index": True},
    {"log": "http://x", "index": "1"},
    {"log": "http://x", "name": "", "version": "1"},
    {"log": "http://x", "name": "a", "version": 1},
    {"log": "http://x", "index": 1, "refresh_s": 0},
    {"log": "http://x", "index": 1, "refresh_s": 1.5},
    {"log": "http://x", "index": 1, "extra": 1},
    {"leaf": "a"},
    {"leaf": "a", "proof": ""},
    {"leaf": "a", "proof": "b", "log": "http://x"},
])
def test_bad_release_refused(tmp_path, release):
    with pytest.raises(FormatError):
        parse_config(cfg(release), "n", tmp_path)


def _proof(stamp):
    leaf = leaves.release("pcc", "t", int(time.time()), [("pcc", "code", bytes(48))])
    return leaf, make_log([leaf], 0, log_sk=LOG_SK, wit_sks=[s for s, _ in WITS], stamp=stamp,
                          origin="log.example/cfg")


def test_fresh_until_and_margin(tmp_path):
    c = parse_config(cfg({"log": "http://x", "index": 0}, max_checkpoint_age_s=1000), "n",
                     tmp_path)
    now = int(time.time())
    leaf, proof = _proof(now - 100)
    assert _release.fresh_until(c, proof) == now - 100 + 1000
    assert _release.stale_margin(c) == 100
    _release.verify(c, leaf, proof)
    with pytest.raises(_release.SourceError) as e:
        _release.verify(c, leaf, proof, now=now + 1000)
    assert e.value.check == "freshness"
    with pytest.raises(_release.SourceError) as e:
        _release.verify(c, leaf + b"x", proof)
    assert e.value.check == "inclusion"
    big = parse_config(cfg({"log": "http://x", "index": 0}, max_checkpoint_age_s=86400), "n",
                       tmp_path)
    assert _release.stale_margin(big) == 300
    # a quorum the proof cannot meet: never fresh
    one = parse_config(cfg({"log": "http://x", "index": 0}, witnesses=[WITS[0][1]], quorum=1),
                       "n", tmp_path)
    assert _release.fresh_until(one, proof) > 0
    other = tlognote.generate("w9.example", cosigner=True)[1]
    none = parse_config(cfg({"log": "http://x", "index": 0}, witnesses=[other], quorum=1), "n",
                        tmp_path)
    assert _release.fresh_until(none, proof) == 0


def test_file_source_refresh(tmp_path):
    c = parse_config(cfg({"leaf": "r.leaf", "proof": "r.proof"}), "n", tmp_path)
    now = int(time.time())
    leaf, old = _proof(now - 100)
    (tmp_path / "r.leaf").write_bytes(leaf)
    (tmp_path / "r.proof").write_text(old)
    src = _release.Source(c)
    assert src.fetch() == (leaf, old)
    assert src.refresh(leaf, old) is None                   # nothing fresher
    newer = make_log([leaf], 0, log_sk=LOG_SK, wit_sks=[s for s, _ in WITS], stamp=now - 10,
                     origin="log.example/cfg")
    (tmp_path / "r.proof").write_text(newer)
    assert src.refresh(leaf, old) == newer
    assert src.refresh(leaf, newer) is None
    (tmp_path / "r.proof").write_text(old)                  # an older proof never replaces
    assert src.refresh(leaf, newer) is None
    (tmp_path / "r.proof").write_text(newer.replace("\n\n", "\n\nx", 1))
    with pytest.raises(_release.SourceError) as e:
        src.refresh(leaf, old)
    assert e.value.check in _release.CHECKS
    (tmp_path / "r.leaf").write_bytes(leaf + b"x")
    with pytest.raises(_release.SourceError) as e:
        src.refresh(leaf, old)
    assert e.value.check == "leaf changed"
    (tmp_path / "r.leaf").unlink()
    with pytest.raises(_release.SourceError) as e:
        src.fetch()
    assert e.value.check == "unreadable"


def test_refresh_wait_never_outlasts_the_proof(tmp_path):
    """The refresh loop's next wait: the configured period, cut short so that the next try
    comes before the proof goes stale, and 30 s after a failure or while stale."""
    import types
    from pcc.node._boot import Booted
    from pcc.node._service import NodeState
    c = parse_config(cfg({"log": "http://x", "index": 0, "refresh_s": 600},
                         max_checkpoint_age_s=1000), "n", tmp_path)
    now = 1_000_000.0
    node = types.SimpleNamespace(cfg=c, fresh_until=int(now) + 5000)
    node.stale = lambda t=None: Booted.stale(node, t)
    st = types.SimpleNamespace(cfg=c, node=node)
    wait = lambda failed: NodeState.refresh_wait(st, failed, now=now)
    assert wait(False) == 600                   # far from stale: the period
    assert wait(True) == 30                     # a failure: try again soon
    node.fresh_until = int(now) + 100 + 250     # stale (margin 100) in 250 s, before the period
    assert wait(False) == 250
    node.fresh_until = int(now) + 100           # stale now
    assert wait(False) == 30
