"""Selection audit: did the gateway offer nodes uniformly at random?

When the gateway chooses the k nodes of a request (``GET /v1/nodes?model=M&k=K``), a client can
keep, opt-in, the node ids it was offered. If the gateway steered traffic (sending more requests
to a node it controls, or pairing nodes in a pattern), the offers would stop looking like
uniform draws from the roster. :func:`audit` tests a history of offers against that null
hypothesis: every request's offer is a uniformly random k-subset of the roster's N nodes, drawn
independently of other requests.

Offers are drawn *without replacement*, so per-node counts are not multinomial: node i appears
in request r with probability p_r = k_r/N, and within a request the indicators of two nodes are
negatively correlated (they sum to k_r). Three tests are run and combined (Bonferroni, so the
false-alarm rate stays at most ``alpha``):

- ``nodes``: the chi-square statistic on per-node counts with the exact covariance of
  without-replacement sampling. For a request the covariance matrix of the indicators is
  ``a_r (I - J/N)`` with ``a_r = p_r (1 - p_r) N / (N - 1)``, so with ``A = Σ a_r`` the
  statistic ``Σ_i (c_i - E)² / A`` is chi-square with N - 1 degrees of freedom under the null
  (for a fixed k it equals the naive Pearson statistic times (N - 1)/(N - k)). Any k per request
  is allowed.
- ``max-node``: the largest standardised deviation of one node's count, ``|c_i - E| /
  sqrt(Σ p_r (1 - p_r))``, two-sided normal tail times N (Bonferroni over the nodes). This is
  the most powerful of the three against a gateway that favours (or starves) one node.
- ``pairs``: from each request with k ≥ 2 one pair of offered nodes is kept, chosen by a
  generator seeded from the history itself (so the verdict is reproducible); under the null the
  pair is uniform over the N(N-1)/2 pairs and independent across requests, so Pearson's
  chi-square with N(N-1)/2 - 1 degrees of freedom applies. It catches a gateway whose per-node
  counts are fair but whose pairs are not (always offering i with i+1). It runs only when the
  expected count per pair is at least 5.

The combined p-value is ``min(1, m · min p)`` over the m tests that ran; the verdict is
``biased`` when it is below ``alpha``. The approximations need an expected count of at least 5
per node (``Σ k_r / N ≥ 5``); for a shorter history the combined p-value is instead calibrated
by simulating fair histories of the same shape (the client's exact sampling, seeded from the
history), and a history too short even for that is refused (:class:`InsufficientData`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np

from pcc.errors import FormatError, InvalidArgument

#: Expected count per node (and per pair) below which the asymptotic tests are not used.
MIN_EXPECTED = 5.0
#: Fair histories simulated to calibrate a short history's p-value.
MC_REPLICATES = 1999
#: Most random numbers the calibration may draw (requests × nodes × replicates).
MC_BUDGET = 200_000_000
#: Longest line of a history file, in characters.
MAX_LINE = 1 << 16


class InsufficientData(InvalidArgument):
    """The history is too short for the tests' approximations (fewer than 5 expected
    offers per node)."""


# ----------------------------------------------------------------------------- distributions

def _gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) (series below a + 1, Lentz's continued
    fraction above), to about 1e-14 relative."""
    if x <= 0:
        return 1.0
    lg = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(100000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(lg))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return min(1.0, math.exp(lg) * h)


def chi2_sf(x: float, df: int) -> float:
    """P(X ≥ x) for X chi-square with ``df`` degrees of freedom."""
    if df < 1:
        raise InvalidArgument("df must be >= 1")
    return _gammaincc(df / 2.0, x / 2.0)


def normal_sf2(z: float) -> float:
    """Two-sided standard normal tail P(|Z| ≥ z)."""
    return math.erfc(abs(z) / math.sqrt(2.0))


# ----------------------------------------------------------------------------- results

@dataclasses.dataclass(frozen=True)
class Test:
    """One test of the audit: ``p`` is None when it did not run (``detail`` says why)."""

    name: str
    statistic: Optional[float]
    df: Optional[int]
    p: Optional[float]
    detail: str


@dataclasses.dataclass(frozen=True)
class SelectionAudit:
    """The outcome of :func:`audit`: ``requests`` offers over ``nodes`` roster nodes, the
    combined ``p`` value, ``verdict`` (``uniform`` or ``biased`` at ``alpha``) and each test."""

    requests: int
    nodes: int
    p: float
    alpha: float
    tests: tuple[Test, ...]
    counts: tuple[int, ...]

    @property
    def verdict(self) -> str:
        """``biased`` when the combined p-value is below ``alpha``, else ``uniform``."""
        return "biased" if self.p < self.alpha else "uniform"

    @property
    def biased(self) -> bool:
        """True when the verdict is ``biased``."""
        return self.verdict == "biased"

    def line(self) -> str:
        """The summary line ``selection: n=<requests> nodes=<N> p=<p> verdict=<verdict>``."""
        return (f"selection: n={self.requests} nodes={self.nodes} p={self.p:.4g} "
                f"verdict={self.verdict}")

    def __str__(self) -> str:
        rows = []
        for t in self.tests:
            if t.p is None:
                rows.append(f"  {t.name:9s} skipped: {t.detail}")
            else:
                rows.append(f"  {t.name:9s} stat={t.statistic:.4g}"
                            + (f" df={t.df}" if t.df is not None else "")
                            + f" p={t.p:.4g}  {t.detail}")
        return "\n".join(rows + [self.line()])

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"requests": self.requests, "nodes": self.nodes, "p": self.p,
                "alpha": self.alpha, "verdict": self.verdict,
                "tests": [dataclasses.asdict(t) for t in self.tests],
                "counts": list(self.counts)}


# ----------------------------------------------------------------------------- the tests

def audit_indices(n_nodes: int, idx, sizes=None, *, alpha: float = 0.01) -> SelectionAudit:
    """Audit offers given as roster indices (vectorised form of :func:`audit`).

    ``idx`` is either a 2-D integer array (one row per request, fixed k, no repeats in a row)
    or, with ``sizes`` (k of each request), the concatenation of every request's indices.
    Indices must be in ``0..n_nodes-1`` and distinct within a request (checked)."""
    if not isinstance(n_nodes, int) or isinstance(n_nodes, bool) or n_nodes < 2:
        raise InvalidArgument("the roster needs at least 2 nodes")
    if not (isinstance(alpha, float) or isinstance(alpha, int)) or not 0 < alpha < 1:
        raise InvalidArgument("alpha must be in (0, 1)")
    arr = np.asarray(idx)
    if sizes is None:
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise InvalidArgument("idx must be a non-empty 2-D array (requests × k)")
        n, k = arr.shape
        sz = np.full(n, k, dtype=np.int64)
        flat = arr.reshape(-1).astype(np.int64)
        if k > 1:
            s = np.sort(arr, axis=1)
            if np.any(s[:, 1:] == s[:, :-1]):
                raise InvalidArgument("a request offers the same node twice")
    else:
        sz = np.asarray(sizes, dtype=np.int64)
        flat = arr.reshape(-1).astype(np.int64)
        if sz.ndim != 1 or sz.size == 0 or np.any(sz < 1) or int(sz.sum()) != flat.size:
            raise InvalidArgument("sizes must be positive and add up to len(idx)")
        order = np.repeat(np.arange(sz.size), sz)
        key = order * n_nodes + flat
        if np.unique(key).size != key.size:
            raise InvalidArgument("a request offers the same node twice")
        n = int(sz.size)
    if flat.size and (flat.min() < 0 or flat.max() >= n_nodes):
        raise InvalidArgument("node index out of range")
    if np.any(sz > n_nodes):
        raise InvalidArgument("a request offers more nodes than the roster holds")
    N = n_nodes
    counts = np.bincount(flat, minlength=N).astype(np.float64)
    p_r = sz.astype(np.float64) / N
    E = float(p_r.sum())
    V = float((p_r * (1 - p_r)).sum())           # variance of one node's count
    if V <= 0:
        raise InsufficientData("every request offers the whole roster: nothing to test")
    tests = _tests(N, flat, sz, counts, E, V)
    p = _combined(tests)
    if E < MIN_EXPECTED:
        # Too few offers per node for the chi-square and normal approximations: calibrate the
        # combined statistic by simulating the client's exact sampling with the same sizes.
        p_mc = _monte_carlo(N, flat, sz, p)
        tests = tests + (Test("calibration", p, None, p_mc,
                              f"{E:.1f} expected offers per node (< {MIN_EXPECTED:g}): the "
                              f"combined p-value (stat) is calibrated with {MC_REPLICATES} "
                              "simulated fair histories"),)
        p = p_mc
    return SelectionAudit(n, N, p, float(alpha), tests, tuple(int(c) for c in counts))


def _tests(N: int, flat: np.ndarray, sz: np.ndarray, counts: np.ndarray, E: float,
           V: float) -> tuple[Test, ...]:
    dev = counts - E
    A = V * N / (N - 1)
    t_nodes = float((dev * dev).sum() / A)
    zmax = float(np.abs(dev).max() / math.sqrt(V))
    worst = int(np.abs(dev).argmax())
    return (Test("nodes", t_nodes, N - 1, chi2_sf(t_nodes, N - 1),
                 "per-node counts, chi-square with the without-replacement covariance"),
            Test("max-node", zmax, None, min(1.0, N * normal_sf2(zmax)),
                 f"largest deviation: node #{worst} offered {int(counts[worst])} times, "
                 f"expected {E:.1f}"),
            _pair_test(N, flat, sz))


def _combined(tests: Sequence[Test]) -> float:
    ran = [t.p for t in tests if t.p is not None]
    return min(1.0, len(ran) * min(ran))


def _monte_carlo(N: int, flat: np.ndarray, sz: np.ndarray, observed: float) -> float:
    """P(combined p of a fair history <= observed), estimated from MC_REPLICATES histories
    drawn as the client draws (uniform k_r-subsets), with the add-one rule so the estimate is
    a valid p-value. Seeded from the history, so the verdict is reproducible."""
    n = int(sz.size)
    if n * N * MC_REPLICATES > MC_BUDGET:
        raise InsufficientData(
            f"too few requests for a verdict: {n} requests give {float(sz.sum()) / N:.1f} "
            f"expected offers per node over {N} nodes; keep about "
            f"{math.ceil(MIN_EXPECTED * N / float(sz.mean()))} requests")
    h = hashlib.sha256(b"mc" + flat.astype("<i8").tobytes() + sz.astype("<i8").tobytes())
    rng = np.random.default_rng(int.from_bytes(h.digest()[:16], "big"))
    p_r = sz.astype(np.float64) / N
    E = float(p_r.sum())
    V = float((p_r * (1 - p_r)).sum())
    take = np.arange(N)[None, :] < sz[:, None]
    hits = 0
    for _ in range(MC_REPLICATES):
        order = np.argsort(rng.random((n, N)), axis=1)
        sim = order[take]                    # row-major: each request's k_r ids in turn
        counts = np.bincount(sim, minlength=N).astype(np.float64)
        hits += _combined(_tests(N, sim, sz, counts, E, V)) <= observed
    return (1 + hits) / (1 + MC_REPLICATES)


def _pair_test(N: int, flat: np.ndarray, sz: np.ndarray) -> Test:
    P = N * (N - 1) // 2
    two = sz >= 2
    M = int(two.sum())
    if M == 0:
        return Test("pairs", None, None, None, "no request offers two nodes")
    if M / P < MIN_EXPECTED:
        return Test("pairs", None, None, None,
                    f"{M} requests give {M / P:.2f} expected per pair (< {MIN_EXPECTED:g})")
    starts = (np.cumsum(sz) - sz)[two]
    k = sz[two]
    if np.all(k == 2):
        a = np.zeros(M, dtype=np.int64)
        b = np.ones(M, dtype=np.int64)
    else:
        h = hashlib.sha256(flat.astype("<i8").tobytes() + sz.astype("<i8").tobytes()).digest()
        rng = np.random.default_rng(int.from_bytes(h[:16], "big"))
        a = np.minimum((rng.random(M) * k).astype(np.int64), k - 1)
        b = np.minimum((rng.random(M) * (k - 1)).astype(np.int64), k - 2)
        b = b + (b >= a)
    x = flat[starts + a]
    y = flat[starts + b]
    lo = np.minimum(x, y)
    hi = np.maximum(x, y)
    # index of the pair (lo, hi), lo < hi, in row-major order of the upper triangle
    pid = lo * N - lo * (lo + 1) // 2 + (hi - lo - 1)
    m = np.bincount(pid, minlength=P).astype(np.float64)
    e = M / P
    t = float(((m - e) ** 2).sum() / e)
    return Test("pairs", t, P - 1, chi2_sf(t, P - 1),
                "one random pair per request, chi-square over all pairs")


def audit(roster_ids: Sequence[bytes], offers: Iterable[Sequence[bytes]], *,
          alpha: float = 0.01) -> SelectionAudit:
    """Test offered node ids against uniform selection from ``roster_ids``.

    ``offers`` holds one sequence of node ids per request. Raises :class:`InvalidArgument`
    for an empty roster or history, an id not in the roster, or an id offered twice in one
    request, and :class:`InsufficientData` for a history too short to judge."""
    index: dict[bytes, int] = {}
    for n in roster_ids:
        b = bytes(n)
        if b in index:
            raise InvalidArgument("the roster lists a node twice")
        index[b] = len(index)
    if len(index) < 2:
        raise InvalidArgument("the roster needs at least 2 nodes")
    flat: list[int] = []
    sizes: list[int] = []
    for r, offer in enumerate(offers):
        ids = [bytes(o) for o in offer]
        if not ids:
            raise InvalidArgument(f"request {r + 1}: no node offered")
        if len(set(ids)) != len(ids):
            raise InvalidArgument(f"request {r + 1}: a node is offered twice")
        for o in ids:
            if o not in index:
                raise InvalidArgument(f"request {r + 1}: node {o.hex()[:16]}… is not in the "
                                      "roster")
            flat.append(index[o])
        sizes.append(len(ids))
    if not sizes:
        raise InvalidArgument("the history holds no request")
    return audit_indices(len(index), np.array(flat, dtype=np.int64), sizes, alpha=alpha)


# ----------------------------------------------------------------------------- files

def read_roster(text: str) -> list[bytes]:
    """Node ids from a roster file: one hex id a line (blank lines and ``#`` comments
    ignored). Raises :class:`FormatError` (malformed or repeated id, fewer than 2 nodes)."""
    from pcc.roster import read_ids_file
    ids = read_ids_file(text)
    if len(ids) < 2:
        raise FormatError("the roster file lists fewer than 2 node ids")
    return ids


def history_line(offered: Sequence[bytes]) -> str:
    """One line of a history file for the node ids a gateway offered in one request (what a
    client that opted in appends, newline included)."""
    ids = [bytes(o) for o in offered]
    if not ids or any(len(i) != 32 for i in ids):
        raise InvalidArgument("offered must be one or more 32-byte node ids")
    return json.dumps({"offered": [i.hex() for i in ids]}) + "\n"


def read_history(text: str) -> list[list[bytes]]:
    """Offers from a history file: one JSON object a line, ``{"offered": ["<hex>", …]}``
    (other keys are ignored; blank lines are skipped). Raises :class:`FormatError` naming the
    first malformed line."""
    from pcc.roster import parse_id
    out: list[list[bytes]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            raise FormatError(f"history line {lineno}: longer than {MAX_LINE} characters")
        try:
            obj = json.loads(line)
        except ValueError:
            raise FormatError(f"history line {lineno}: not JSON") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("offered"), list):
            raise FormatError(f'history line {lineno}: expected {{"offered": ["<hex>", …]}}')
        ids = []
        for item in obj["offered"]:
            if not isinstance(item, str):
                raise FormatError(f"history line {lineno}: offered ids must be hex strings")
            try:
                ids.append(parse_id(item))
            except FormatError:
                raise FormatError(f"history line {lineno}: {item[:20]!r} is not a node id "
                                  "(64 hex digits)") from None
        if not ids:
            raise FormatError(f"history line {lineno}: no node offered")
        if len(set(ids)) != len(ids):
            raise FormatError(f"history line {lineno}: a node is offered twice in one request")
        out.append(ids)
    if not out:
        raise FormatError("the history file holds no request")
    return out
