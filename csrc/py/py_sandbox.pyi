# pcc._core: the worker sandbox (csrc/py/py_sandbox.c).
from typing import List, Optional, Sequence

SANDBOX_NETNS: int
SANDBOX_LANDLOCK: int
SANDBOX_NO_NEW_PRIVS: int
SANDBOX_NOT_DUMPABLE: int
SANDBOX_RLIMITS: int
SANDBOX_SECCOMP: int
SANDBOX_ALL: int

class SandboxFilter: ...

def sandbox_filter_new(fds: Sequence[int]) -> SandboxFilter: ...
def sandbox_apply(layers: int = ..., optional: int = ..., fds: Sequence[int] = ...,
                  nofile: int = ..., netns_fd: int = ...,
                  filter: Optional[SandboxFilter] = ...) -> int: ...
def sandbox_netns_prepare() -> int: ...
def sandbox_landlock_abi() -> int: ...
def _bench_fork(n: int, layers: int, netns_fd: int = ..., prepared: bool = ...) -> List[int]: ...
