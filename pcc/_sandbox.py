"""The worker sandbox's layers as the node reports them (internal).

The C core applies the layers in a freshly forked worker (``_core.sandbox_apply``); this module
names the bits of the mask it returns and turns it into the attestation bundle's
``modes.sandbox`` map.
"""
from __future__ import annotations

from typing import Dict, List

from pcc import _core

LAYERS = (
    ("netns", _core.SANDBOX_NETNS),
    ("landlock", _core.SANDBOX_LANDLOCK),
    ("no_new_privs", _core.SANDBOX_NO_NEW_PRIVS),
    ("not_dumpable", _core.SANDBOX_NOT_DUMPABLE),
    ("rlimits", _core.SANDBOX_RLIMITS),
    ("seccomp", _core.SANDBOX_SECCOMP),
)
ALL = _core.SANDBOX_ALL


def layer_names(mask: int) -> List[str]:
    """The names of the layers set in mask, in the order they are applied."""
    return [name for name, bit in LAYERS if mask & bit]


def modes(mask: int) -> Dict[str, bool]:
    """``modes.sandbox`` of an attestation bundle for the layers in mask."""
    return {"seccomp": bool(mask & _core.SANDBOX_SECCOMP),
            "landlock": bool(mask & _core.SANDBOX_LANDLOCK),
            "netns": bool(mask & _core.SANDBOX_NETNS)}


def layers_from_names(names: List[str]) -> int:
    """The mask of the named layers (ValueError for an unknown name)."""
    table = dict(LAYERS)
    mask = 0
    for n in names:
        if n not in table:
            raise ValueError(f"unknown sandbox layer {n!r}; known: {', '.join(table)}")
        mask |= table[n]
    return mask
