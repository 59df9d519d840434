# pcc._core: the worker sandbox (csrc/py/py_sandbox.c).
from typing import Sequence

SANDBOX_NETNS: int
SANDBOX_LANDLOCK: int
SANDBOX_NO_NEW_PRIVS: int
SANDBOX_NOT_DUMPABLE: int
SANDBOX_RLIMITS: int
SANDBOX_SECCOMP: int
SANDBOX_ALL: int

def sandbox_apply(layers: int = ..., optional: int = ..., fds: Sequence[int] = ...,
                  nofile: int = ...) -> int: ...
def sandbox_landlock_abi() -> int: ...
