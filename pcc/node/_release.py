"""Where a node gets its release leaf and tlog-proof, and how long a proof may be served.

Two sources (node.json ``release``, docs/node.md):

- **log**: the transparency log's URL and the release's leaf index (or its name and version,
  looked up once by reading the log's entries). The leaf and a proof under the log's current
  checkpoint are built from the checkpoint, one entry bundle and the hash tiles of the inclusion
  path, fetched through the bounded peer client; later refreshes fetch only the checkpoint and
  the tiles and prove the very leaf bytes the node booted with.
- **file**: two files (offline use); a refresh reads them again, and the leaf must not change.

Either way a proof is used only after :func:`verify` (what a client checks: the pinned log key,
the witness quorum, freshness), and a refreshed one replaces the current one only when it is
fresher. :func:`fresh_until` is when a proof stops passing a client's freshness check;
:func:`stale_margin` is how long before that the node stops serving it.
"""
from __future__ import annotations

import pathlib
from typing import Optional

from pcc import transparency
from pcc.errors import FormatError, InvalidArgument, PccError, PeerError, VerifyError
from pcc.node._config import NodeConfig
from pcc.transparency import leaves

#: Why a fetch or a refresh failed: the proof checks, then the source's own failures. Log
#: events name exactly one of these (a fixed vocabulary).
CHECKS = transparency.CHECKS + ("unreachable", "unreadable", "not found", "leaf changed")

REQUEST_DEADLINE_S = 20.0       # one request to the log (connect, headers and body)


class SourceError(PccError):
    """The release or its proof could not be had or did not verify; ``check`` is one of
    :data:`CHECKS` and the message says more (public data only)."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


def verify(cfg: NodeConfig, leaf: bytes, proof: str, now: Optional[float] = None) -> None:
    """Check ``proof`` for ``leaf`` exactly as a client checks a bundle's (the ``transparency``
    and ``freshness`` checks); :class:`SourceError` naming the failed check."""
    try:
        transparency.verify_proof(leaf, proof, cfg.log_vkey, list(cfg.witnesses), cfg.quorum,
                                  cfg.max_checkpoint_age_s, now=now)
    except VerifyError as e:
        check = getattr(e, "check", "proof format")
        raise SourceError(check, f"tlog proof: {check} check failed") from None
    except (PccError, TypeError) as e:
        raise SourceError("proof format", f"tlog proof: {e}") from None


def fresh_until(cfg: NodeConfig, proof: str) -> int:
    """The last second at which ``proof`` still passes the freshness check: the ``quorum``-th
    newest trusted cosignature plus ``max_checkpoint_age_s`` (0 when it never does)."""
    try:
        stamps = sorted(transparency.cosignature_times(proof, list(cfg.witnesses)).values(),
                        reverse=True)
    except PccError:
        return 0
    if cfg.quorum == 0 or len(stamps) < cfg.quorum:
        return 0
    return int(stamps[cfg.quorum - 1]) + cfg.max_checkpoint_age_s


def stale_margin(cfg: NodeConfig) -> int:
    """Seconds before :func:`fresh_until` at which the node stops serving a proof: a tenth of
    ``max_checkpoint_age_s``, at most 300 s (a client's clock may run ahead of the node's)."""
    return min(300, cfg.max_checkpoint_age_s // 10)


class Source:
    """The node's source of its release leaf and proof (see the module docstring)."""

    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        self.index: Optional[int] = cfg.release_index
        self._reader = None

    def describe(self) -> str:
        """Where the release comes from, for log lines (a URL or "files")."""
        return self.cfg.release_log or "files"

    def _tiles(self):
        from pcc.transparency.client import TileReader
        if self._reader is None:
            assert self.cfg.release_log is not None
            self._reader = TileReader(self.cfg.release_log, deadline_s=REQUEST_DEADLINE_S)
        return self._reader

    def close(self) -> None:
        """Close the connection to the log (if any)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _read_files(self) -> tuple[bytes, str]:
        assert self.cfg.release_leaf is not None and self.cfg.release_proof is not None
        try:
            return (pathlib.Path(self.cfg.release_leaf).read_bytes(),
                    pathlib.Path(self.cfg.release_proof).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise SourceError("unreadable", "cannot read the release leaf or proof "
                              f"({type(e).__name__})") from None

    def _from_log(self, leaf: Optional[bytes]) -> tuple[bytes, str]:
        """The leaf and a proof from the log; with ``leaf`` given, only a proof for it."""
        url = self.cfg.release_log
        try:
            if self.index is None:
                self.index = self._lookup()
            if leaf is not None:
                return leaf, self._tiles().inclusion_proof(self.index)
            return self._tiles().proof(self.index)
        except PeerError as e:
            raise SourceError("unreachable", f"the log {url} is unreachable or too slow "
                              f"({e.problem})") from None
        except (FormatError, InvalidArgument) as e:     # e.g. a checkpoint size no tree has
            raise SourceError("unreadable", f"the log {url} served something unreadable "
                              f"({e})") from None

    def _lookup(self) -> int:
        """The index of the first release logged with the configured name and version."""
        from pcc.transparency.release import PublishError, find_releases
        name, version = self.cfg.release_name, self.cfg.release_version
        try:
            found = find_releases(self.cfg.release_log or "", name, version,
                                  log_vkey=self.cfg.log_vkey, reader=self._tiles(), limit=1)
        except PublishError as e:
            raise FormatError(str(e)) from None
        if not found:
            raise SourceError("not found", f"the log {self.cfg.release_log} holds no release "
                              f"{name} {version}")
        return found[0].index                   # the first in log order

    def fetch(self) -> tuple[bytes, str]:
        """The release leaf and a proof for it, verified as a client verifies them
        (:class:`SourceError` naming the failed check)."""
        if self.cfg.release_source == "file":
            leaf, proof = self._read_files()
        else:
            leaf, proof = self._from_log(None)
        verify(self.cfg, leaf, proof)
        if self.cfg.release_name is not None:
            try:
                d = leaves.decode(leaf)
            except FormatError:
                d = {}
            if d.get("name") != self.cfg.release_name or \
                    d.get("version") != self.cfg.release_version:
                raise SourceError("not found", f"the leaf at index {self.index} is not the "
                                  f"release {self.cfg.release_name} {self.cfg.release_version}")
        return leaf, proof

    def refresh(self, leaf: bytes, current: str) -> Optional[str]:
        """A proof for ``leaf`` under a newer checkpoint, verified, fresher than ``current``;
        None when the source has nothing fresher yet (the log has not been cosigned again);
        :class:`SourceError` when it cannot be had or does not verify (the caller keeps
        ``current``)."""
        if self.cfg.release_source == "file":
            got, proof = self._read_files()
            if got != leaf:
                raise SourceError("leaf changed", "the release leaf file no longer holds the "
                                  "leaf the node booted with")
        else:
            _, proof = self._from_log(leaf)
        if proof == current:
            return None
        verify(self.cfg, leaf, proof)
        if fresh_until(self.cfg, proof) <= fresh_until(self.cfg, current):
            return None
        return proof
