# pcc._core: the node's C loops (csrc/py/py_node.c). Use pcc.node instead.
from typing import NoReturn, Optional, Sequence, Tuple

NODE_EXIT_OVERLOADED: int
NODE_EXIT_SPAWN: int
NODE_EXIT_MODEL: int

def enclave_run(ctrl_fd: int, host_fd: int, key_lifetime: int, aead: int = ...,
                debug: bool = ..., tpm: Optional[str] = ...) -> NoReturn: ...
def host_run(ctrl_fd: int, enclave_fd: int, models: Sequence[Tuple[str, str]], layers: int = ...,
             optional: int = ..., max_payload: int = ..., max_workers: int = ...,
             max_tokens: int = ..., probe: bool = ..., pool: int = ...,
             threads: int = ...) -> NoReturn: ...
def node_harden() -> None: ...
