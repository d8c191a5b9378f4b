"""The process backend's pipe framing: the parent reads what a worker writes, whole messages
only, whichever way they were written and however the bytes arrive."""

from __future__ import annotations

import socket
from multiprocessing.connection import Connection

from perfkit.backends.process import _Post, read_messages


SCRATCH = bytearray(1 << 12)  # smaller than a message: a message arrives over several reads


def _pair() -> tuple[socket.socket, socket.socket]:
    parent, child = socket.socketpair()
    child.setblocking(True)
    return parent, child


def test_messages_written_by_post_or_connection_send_are_read_whole_and_in_order():
    parent, child = _pair()
    big = ("batch", b"x" * 100_000, [(1, 7)], (1,), None)  # over Connection's 16 KiB single-write size
    post = _Post(child)
    post(("up", 1))
    post(big)
    conn = Connection(child.detach())  # the same pipe written the standard library's way
    conn.send(("ready", 2, 0.5))
    conn.send(big)
    inbox = bytearray()
    got: list = []
    while len(got) < 4:
        messages, eof = read_messages(parent, inbox, SCRATCH)
        assert not eof
        got += messages
    assert got == [("up", 1), big, ("ready", 2, 0.5), big]
    assert not inbox
    conn.close()
    post.sock.close()
    parent.close()


def test_a_message_cut_anywhere_waits_for_its_rest_and_a_closed_pipe_is_seen():
    parent, child = _pair()
    post_to = socket.socketpair()  # frame a message with _Post, then deliver it byte range by byte range
    post = _Post(post_to[1])
    post(("batch", b"y" * 5000, [], (3,), 1024))
    frame = post_to[0].recv(1 << 20)
    inbox = bytearray()
    for cut in (1, 3, 4, 100, len(frame) - 1):
        child.sendall(frame[:cut])
        assert read_messages(parent, inbox, SCRATCH) == ([], False)
        child.sendall(frame[cut:])
        messages, eof = read_messages(parent, inbox, SCRATCH)
        assert messages == [("batch", b"y" * 5000, [], (3,), 1024)] and not eof and not inbox
    child.sendall(frame[:10])
    child.close()
    seen = [read_messages(parent, inbox, SCRATCH) for _ in range(2)]  # the bytes, then (on the next wake) the end
    assert [m for m, _eof in seen] == [[], []] and seen[-1][1]  # a torn last message is never handed on
    for s in (parent, post.sock, *post_to):
        s.close()
