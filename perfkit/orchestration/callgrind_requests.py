"""Callgrind's client requests made from Python without a C extension: the counted process turns
instrumentation on just before its run window and off just after (perfkit/orchestration/measured_run.py).

valgrind recognises a client request by a fixed instruction sequence in the code it runs
(valgrind.h, amd64: rotations of ``rdi`` by 3, 13, 61 and 51 bits — 128 in all, so natively
``rdi`` is unchanged — then ``xchg rbx, rbx``; ``rax`` points at the request's six words and
``rdx`` carries the default in and the result out). valgrind.h emits it inline from a C macro;
here the same bytes are written to an executable page and called through ctypes. ctypes alone
could not do it: the request must be that instruction sequence, not a call of some function.
Natively the code does nothing and returns the default, 0.

Only x86-64 has the code here (:func:`supported`); elsewhere the counted process stays
instrumented from its first instruction, as before session 15.

This module imports only the standard library: the driver loads it by its path, beside a base
revision's perfkit that may not have it.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
from typing import Callable, Optional

#: valgrind.h's VG_USERREQ__RUNNING_ON_VALGRIND: how many valgrinds the process runs under.
RUNNING_ON_VALGRIND = 0x1001
#: callgrind.h's requests, VG_USERREQ_TOOL_BASE('C', 'T') + 4 and + 5.
START_INSTRUMENTATION = 0x43540004
STOP_INSTRUMENTATION = 0x43540005

#: ``unsigned long request(unsigned long *args)`` in x86-64 machine code (System V: args in rdi).
AMD64_REQUEST = bytes.fromhex(
    "4889f8"                                  # mov rax, rdi: the request's words
    "31d2"                                    # xor edx, edx: the default result, 0
    "48c1c703" "48c1c70d" "48c1c73d" "48c1c733"  # rol rdi, 3 / 13 / 61 / 51: valgrind's preamble
    "4887db"                                  # xchg rbx, rbx: the request itself
    "4889d0"                                  # mov rax, rdx: its result
    "c3")                                     # ret

_request: Optional[Callable[[int], int]] = None
_page: Optional[mmap.mmap] = None  # kept alive: the function's code lives in it


def supported(machine: str = platform.machine()) -> bool:
    """Whether requests can be made on this machine kind (``platform.machine()``)."""
    return machine.lower() in ("x86_64", "amd64")


def available() -> bool:
    """Whether this process can make requests: a supported machine whose kernel grants an
    executable page (a hardened one may not). The parent asks before it starts a counted run,
    which is then instrumented whole when the answer is no, rather than failing inside valgrind."""
    if not supported():
        return False
    try:
        _function()
    except RuntimeError:
        return False
    return True


def _function() -> Callable[[int], int]:
    global _request, _page
    if _request is None:
        if not supported():
            raise RuntimeError(f"callgrind client requests: no code for {platform.machine()}")
        try:
            _page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except OSError as exc:  # a hardened kernel (SELinux's execmem, PaX) may refuse it
            raise RuntimeError(f"callgrind client requests: this system refused an executable page ({exc})") from None
        _page.write(AMD64_REQUEST)
        call = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_void_p)(ctypes.addressof(ctypes.c_char.from_buffer(_page)))
        words = (ctypes.c_ulong * 6)()
        address = ctypes.addressof(words)

        def request(code: int) -> int:
            words[0] = code
            return call(address)

        _request = request
    return _request


def client_request(code: int) -> int:
    """Make valgrind client request ``code`` (no arguments); its result, 0 when not under valgrind."""
    return _function()(code)

