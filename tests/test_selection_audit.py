"""Selection audit (pcc.audit, `pcc audit selection`): power against a gateway that steers
traffic, false alarms on a fair one, bad input refused with exit status 2.

The histories here come from generators written for these tests (random sort keys per request,
`random.sample`), not from the audit's own code, so the verdicts are checked against an
independent model of the client's sampling."""
from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pcc import audit
from pcc.cli import main
from pcc.errors import FormatError, InvalidArgument

N, K, REQUESTS, ALPHA = 20, 2, 10_000, 0.01
HISTORIES = 400


def fair_offers(rng: np.random.Generator, n: int, nodes: int, k: int) -> np.ndarray:
    """n requests, each k distinct nodes uniformly at random: the k smallest of N random keys."""
    return np.argsort(rng.random((n, nodes)), axis=1)[:, :k]


def steering_offers(rng, n, nodes, k, extra=0.05, target=0):
    """A gateway that, in an extra 5% of requests, puts `target` into the offer (the rest of
    that offer uniform among the others) and is fair otherwise."""
    out = fair_offers(rng, n, nodes, k)
    hit = np.flatnonzero(rng.random(n) < extra)
    others = np.argsort(rng.random((hit.size, nodes - 1)), axis=1)[:, :k - 1]
    others = others + (others >= target)
    out[hit, 0] = target
    out[hit, 1:] = others
    return out


def _upper(successes: int, trials: int, z: float = 3.0) -> float:
    """An upper confidence bound on a rate (Wilson score, z standard errors)."""
    p = successes / trials
    den = 1 + z * z / trials
    c = p + z * z / (2 * trials)
    return (c + z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))) / den


def _lower(successes: int, trials: int, z: float = 3.0) -> float:
    return 1 - _upper(trials - successes, trials, z)


# ----------------------------------------------------------------------------- the statistics

def test_chi2_sf_known_values():
    # reference values of the chi-square upper tail (tables / scipy.stats.chi2.sf)
    assert audit.chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-9)
    assert audit.chi2_sf(36.19086912927004, 19) == pytest.approx(0.01, rel=1e-6)
    assert audit.chi2_sf(30.14352720564616, 19) == pytest.approx(0.05, rel=1e-6)
    assert audit.chi2_sf(223.1598, 189) == pytest.approx(0.045, abs=1e-3)
    assert audit.chi2_sf(0.0, 5) == 1.0 and audit.chi2_sf(1e5, 19) == 0.0
    assert audit.normal_sf2(1.959963984540054) == pytest.approx(0.05, rel=1e-9)


def test_nodes_statistic_has_the_without_replacement_variance():
    # for fixed k the statistic is the naive Pearson chi-square times (N-1)/(N-k)
    rng = np.random.default_rng(3)
    x = fair_offers(rng, 2000, 10, 4)
    r = audit.audit_indices(10, x)
    counts = np.bincount(x.ravel(), minlength=10)
    e = 2000 * 4 / 10
    naive = float(((counts - e) ** 2).sum() / e)
    assert r.tests[0].statistic == pytest.approx(naive * 9 / 6, rel=1e-9)
    assert list(r.counts) == counts.tolist()


def test_fair_gateway_false_alarms_and_steering_gateway_power():
    rng = np.random.default_rng(20261206)
    false_alarms = sum(audit.audit_indices(N, fair_offers(rng, REQUESTS, N, K), alpha=ALPHA)
                       .biased for _ in range(HISTORIES))
    detected = sum(audit.audit_indices(N, steering_offers(rng, REQUESTS, N, K), alpha=ALPHA)
                   .biased for _ in range(HISTORIES))
    # A level-alpha test calls a fair gateway biased in (at most) a share alpha of histories.
    # The counts must be consistent with a false-alarm rate <= alpha and a power >= 99%, up to
    # Monte-Carlo error (3 standard errors): the confidence interval of each measured rate must
    # reach the promised side of the bound.
    assert _lower(false_alarms, HISTORIES) <= ALPHA, false_alarms
    assert false_alarms <= ALPHA * HISTORIES + 3 * math.sqrt(HISTORIES * ALPHA * (1 - ALPHA))
    assert _upper(detected, HISTORIES) >= 0.99, detected
    assert detected >= HISTORIES - 2, detected


def test_steering_generator_is_what_it_says():
    rng = np.random.default_rng(5)
    x = steering_offers(rng, 50_000, N, K)
    assert all(len(set(row)) == K for row in x[:2000].tolist())
    share = np.mean(np.any(x == 0, axis=1))
    assert share == pytest.approx(0.05 + 0.95 * K / N, abs=0.006)


def test_pair_steering_with_fair_marginals_is_caught():
    """Per-node counts stay uniform, but node i is paired with i+1 far too often."""
    rng = np.random.default_rng(11)
    x = fair_offers(rng, REQUESTS, N, K)
    rows = rng.random(REQUESTS) < 0.2
    x[rows, 1] = (x[rows, 0] + 1) % N
    r = audit.audit_indices(N, x)
    assert r.tests[0].p > 1e-4             # marginals look fine
    assert r.tests[2].p < 1e-6 and r.biased


def test_varying_k_fair_and_biased():
    rng = np.random.default_rng(8)
    flags = []
    for _ in range(60):
        sizes = rng.integers(1, 5, 4000)
        flat = np.concatenate([fair_offers(rng, int((sizes == s).sum()), N, int(s)).ravel()
                               for s in (1, 2, 3, 4)])
        order = np.concatenate([np.full(int((sizes == s).sum()), s) for s in (1, 2, 3, 4)])
        flags.append(audit.audit_indices(N, flat, order).biased)
    assert sum(flags) <= 3
    sizes = np.full(4000, 3)
    x = fair_offers(rng, 4000, N, 3)
    x[:600, 0] = np.where((x[:600] == 7).any(axis=1), x[:600, 0], 7)
    assert audit.audit_indices(N, x.ravel(), sizes).biased


def test_short_history_is_calibrated_by_simulation():
    """40 requests over 20 nodes (4 expected offers per node): the p-value comes from
    simulated fair histories; a fair one passes, one that always offers node 0 does not."""
    rng = np.random.default_rng(1)
    r = audit.audit_indices(N, fair_offers(rng, 40, N, K))
    assert r.tests[-1].name == "calibration" and r.tests[-1].p == r.p
    assert r.p > 0.05 and not r.biased
    x = fair_offers(rng, 40, N, K)
    x[:, 0] = np.where(x[:, 1] == 0, x[:, 0], 0)
    b = audit.audit_indices(N, x)
    assert b.biased and b.p == pytest.approx(1 / (1 + audit.MC_REPLICATES))
    assert audit.audit_indices(N, x).p == b.p                     # reproducible


def test_short_history_false_alarms_are_bounded(monkeypatch):
    monkeypatch.setattr(audit, "MC_REPLICATES", 199)
    rng = np.random.default_rng(12)
    ps = [audit.audit_indices(10, fair_offers(rng, 12, 10, 3)).p for _ in range(150)]
    # a valid p-value: P(p <= 0.1) <= 0.1 (up to Monte-Carlo error)
    assert sum(p <= 0.1 for p in ps) <= 0.1 * 150 + 3 * math.sqrt(150 * 0.09)
    assert min(ps) >= 1 / 200


def test_too_few_requests_for_a_large_roster_is_refused():
    x = fair_offers(np.random.default_rng(1), 5000, 2000, 1)      # 2.5 expected per node
    with pytest.raises(audit.InsufficientData, match="about 10000 requests"):
        audit.audit_indices(2000, x)


@pytest.mark.parametrize("idx,sizes,match", [
    (np.array([[0, 0]] * 100), None, "twice"),
    (np.array([[0, 20]] * 100), None, "range"),
    (np.array([0, 1, 2]), [1, 1], "add up"),
    (np.zeros((0, 2), dtype=int), None, "non-empty"),
])
def test_indices_bad_input(idx, sizes, match):
    with pytest.raises(InvalidArgument, match=match):
        audit.audit_indices(N, idx, sizes)


# ----------------------------------------------------------------------------- the command

def _ids(n, seed=0):
    r = random.Random(seed)
    return [r.randbytes(32) for _ in range(n)]


def _write(tmp_path, roster_ids, offers, *, roster_text=None, history_text=None):
    rf = tmp_path / "roster.txt"
    hf = tmp_path / "history.jsonl"
    rf.write_text(roster_text if roster_text is not None else
                  "".join(i.hex() + "\n" for i in roster_ids))
    hf.write_text(history_text if history_text is not None else
                  "".join(json.dumps({"offered": [o.hex() for o in off]}) + "\n"
                          for off in offers))
    return rf, hf


def _run(capsys, rf, hf, *extra):
    code = main(["audit", "selection", "--roster", str(rf), "--history", str(hf), *extra])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def test_cli_fair_history_is_uniform(tmp_path, capsys):
    ids = _ids(12)
    r = random.Random(99)                  # the client's sampling, as random.sample does it
    offers = [r.sample(ids, 3) for _ in range(3000)]
    code, lines, _ = _run(capsys, *_write(tmp_path, ids, offers))
    assert code == 0
    last = lines[-1]
    assert last.startswith("selection: n=3000 nodes=12 p=") and last.endswith("verdict=uniform")
    p = float(last.split("p=")[1].split()[0])
    assert 0.01 <= p <= 1


def test_cli_biased_history_exit_3(tmp_path, capsys):
    ids = _ids(12)
    r = random.Random(7)
    offers = []
    for _ in range(3000):
        if r.random() < 0.1:
            offers.append([ids[0]] + r.sample(ids[1:], 2))
        else:
            offers.append(r.sample(ids, 3))
    code, lines, _ = _run(capsys, *_write(tmp_path, ids, offers), "--alpha", "0.001")
    assert code == 3 and lines[-1].endswith("verdict=biased")
    assert "nodes=12" in lines[-1] and "n=3000" in lines[-1]


def test_cli_json(tmp_path, capsys):
    ids = _ids(5)
    r = random.Random(1)
    code, lines, _ = _run(capsys, *_write(tmp_path, ids, [r.sample(ids, 2) for _ in range(200)]),
                          "--json")
    doc = json.loads(lines[0])
    assert code in (0, 3) and doc["requests"] == 200 and len(doc["counts"]) == 5
    assert lines[-1].startswith("selection: n=200 nodes=5 ")


GOOD = _ids(6)
HEX = [i.hex() for i in GOOD]


def _hist(rows):
    return "".join(json.dumps({"offered": row}) + "\n" for row in rows)


# every pair of the 6 nodes 8 times: 120 requests, 40 offers per node
FAIR_ROWS = [[HEX[a], HEX[b]] for a, b in itertools.combinations(range(6), 2)] * 8


@pytest.mark.parametrize("case,roster_text,history_text,match", [
    ("unknown id", None, _hist(FAIR_ROWS + [[HEX[0], "ab" * 32]]), "not in the roster"),
    ("malformed json", None, _hist(FAIR_ROWS) + "{offered: nope}\n", "not JSON"),
    ("not an object", None, _hist(FAIR_ROWS) + "[1, 2]\n", "expected"),
    ("missing offered", None, _hist(FAIR_ROWS) + '{"nodes": []}\n', "expected"),
    ("non-hex id", None, _hist(FAIR_ROWS + [[HEX[0], "zz" * 32]]), "not a node id"),
    ("number id", None, _hist(FAIR_ROWS) + '{"offered": [1, 2]}\n', "hex strings"),
    ("duplicate in offer", None, _hist(FAIR_ROWS + [[HEX[0], HEX[0]]]), "twice"),
    ("empty offer", None, _hist(FAIR_ROWS + [[]]), "no node offered"),
    ("empty history", None, "", "no request"),
    ("empty roster", "", None, "fewer than 2"),
    ("bad roster line", "xyz\n" + "\n".join(HEX), None, "line 1"),
    ("duplicate roster id", "\n".join(HEX + HEX[:1]), None, "twice"),
])
def test_cli_bad_input_exit_2(tmp_path, capsys, case, roster_text, history_text, match):
    rf, hf = _write(tmp_path, GOOD, [], roster_text=roster_text,
                    history_text=history_text if history_text is not None else _hist(FAIR_ROWS))
    code, lines, err = _run(capsys, rf, hf)
    assert code == 2, (case, lines, err)
    assert err.startswith("pcc: error: ") and match in err, err
    assert not any(ln.startswith("selection:") for ln in lines)


def test_cli_too_few_requests_exit_2(tmp_path, capsys):
    ids = _ids(2000)
    r = random.Random(3)
    rf, hf = _write(tmp_path, ids, [r.sample(ids, 1) for _ in range(5000)])
    code, lines, err = _run(capsys, rf, hf)
    assert code == 2 and "too few requests" in err and not lines


def test_cli_short_history_gets_a_verdict(tmp_path, capsys):
    rf, hf = _write(tmp_path, GOOD, [], history_text=_hist(FAIR_ROWS[:10]))
    code, lines, _ = _run(capsys, rf, hf)
    assert code == 0 and lines[-1].startswith("selection: n=10 nodes=6 ")
    assert any("calibration" in ln for ln in lines)


def test_cli_missing_file_and_bad_alpha(tmp_path, capsys):
    rf, hf = _write(tmp_path, GOOD, [], history_text=_hist(FAIR_ROWS))
    code, _, err = _run(capsys, rf, tmp_path / "nope.jsonl")
    assert code == 2 and "No such file" in err
    code, _, err = _run(capsys, rf, hf, "--alpha", "1.5")
    assert code == 2 and "--alpha" in err


def test_cli_accepts_upper_case_blank_lines_and_extra_keys(tmp_path, capsys):
    rows = "".join(json.dumps({"offered": [a.upper(), b], "t": i}) + "\n\n"
                   for i, (a, b) in enumerate(FAIR_ROWS))
    rf, hf = _write(tmp_path, GOOD, [], roster_text="# roster\n" + "\n".join(HEX) + "\n",
                    history_text=rows)
    code, lines, _ = _run(capsys, rf, hf)
    assert code in (0, 3) and lines[-1].startswith("selection: n=120 nodes=6 ")


def test_history_line_roundtrip():
    rows = [GOOD[:2], GOOD[3:6], [GOOD[5]]]
    text = "".join(audit.history_line(r) for r in rows)
    assert audit.read_history(text) == rows and text.count("\n") == 3
    for bad in ([], [b"x" * 31]):
        with pytest.raises(InvalidArgument):
            audit.history_line(bad)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_read_history_hostile_text(text):
    try:
        offers = audit.read_history(text)
    except FormatError:
        return
    assert all(len(o) >= 1 and all(len(i) == 32 for i in o) for o in offers)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=6), min_size=1, max_size=40))
def test_audit_never_crashes(rows):
    try:
        r = audit.audit(GOOD, [[GOOD[i] for i in row] for row in rows])
    except InvalidArgument:
        return
    assert 0 <= r.p <= 1 and r.verdict in ("uniform", "biased")
