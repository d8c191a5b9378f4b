"""The process backend's messages: the parent reads what a worker writes, whole messages only,
whichever way they were written and however the bytes arrive; and it makes from a worker's
rows the very batch the worker's recorder would have taken."""

from __future__ import annotations

import pickle
import socket
from multiprocessing.connection import Connection

import pytest

from perfkit.backends.base import Assignment
from perfkit.backends.process import _Post, read_messages
from perfkit.backends.unit import BatchRecorder, rows_batch
from perfkit.model import WorkItem


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


def _frame(msg, long: bool = False) -> bytes:
    """``msg`` framed as Connection.send does: a 4-byte length, or (``long``, the frame of a
    message of 2 GiB or more) -1 and an 8-byte length."""
    import pickle
    import struct

    p = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    return (struct.pack("!iQ", -1, len(p)) if long else struct.pack("!i", len(p))) + p


@pytest.mark.slow  # over half a second (session 14: the quick subset's time)
def test_frames_of_both_headers_arrive_whole_in_pieces_of_every_size_through_buffers_of_any_size():
    msgs = [("up", 1), ("batch", b"z" * 300, [(1, 2)], (), None), ("ready", 2, 0.5), ("usage", 1.5, 10), ("x",) * 40]
    stream = b"".join(_frame(m, long=i % 2 == 0) for i, m in enumerate(msgs))
    for scratch in (bytearray(1), bytearray(5), bytearray(64), bytearray(1 << 12)):  # 5: less than a long header
        for k in range(1, len(stream) + 1, 3 if len(scratch) < 64 else 1):
            parent, child = _pair()
            inbox, got = bytearray(), []
            for i in range(0, len(stream), k):
                child.sendall(stream[i:i + k])
                messages, eof = read_messages(parent, inbox, scratch)
                assert not eof
                got += messages
            assert got == msgs and not inbox, (len(scratch), k)
            child.close()
            assert read_messages(parent, inbox, scratch) == ([], True)
            parent.close()


def test_a_write_cut_short_by_signals_is_finished_whole():
    """A worker's message of megabytes written while signals keep arriving (each can end a
    blocked write early, with part of the frame sent): the parent still reads every message whole."""
    import signal
    import threading
    import time

    parent, child = _pair()
    post = _Post(child)
    msg = ("batch", b"q" * 3_000_000, [], (1,), None)
    got: list = []

    def read() -> None:
        inbox = bytearray()
        while len(got) < 5:
            time.sleep(0.0005)  # slower than the writer: it blocks with its frame half-sent
            got.extend(read_messages(parent, inbox, SCRATCH)[0])

    def pester(main: int) -> None:  # signals at the writing thread (not SIGALRM: pytest-timeout's)
        while len(got) < 5:
            signal.pthread_kill(main, signal.SIGUSR1)
            time.sleep(0.0003)

    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    threads = [threading.Thread(target=read), threading.Thread(target=pester, args=(threading.get_ident(),))]
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            post(msg)
    finally:
        threads[0].join(60)
        threads[1].join(60)
        signal.signal(signal.SIGUSR1, previous)
    assert got == [msg] * 5
    for s in (parent, child, post.sock):
        s.close()


UNITS = tuple(("demo", 0, f"c{i:03d}") for i in range(6))


def test_a_process_workers_rows_make_the_batch_its_recorder_would_take():
    """A process worker sends its rows as recorded (``BatchRecorder.rows``) and the parent
    makes the batch from the jobs it handed out (``rows_batch``): the same encoding, uids,
    status counts and progress as ``take`` in the worker, across two jobs in one batch, an
    error, a skipped unit and a job continuing after the send."""
    a = Assignment(WorkItem(1, "t1", UNITS, uids=range(100, 106)), queued=0.0, timeout_s=1.0)
    b = Assignment(WorkItem(2, "t1", UNITS[:3], uids=range(200, 203), chunks=(7, 7, 8)), queued=2.5, timeout_s=1.0)
    recorders = [BatchRecorder("pid-1"), BatchRecorder("pid-1")]
    for rec in recorders:
        rec.open(1, a, 4)
        rec.add(4, "ok", 1.0, 1.5, 0.4, "h4", True)
        rec.add(5, "error", 1.5, 1.7, 0.2, error=("ValueError", "bad"))
        rec.open(2, b)
        rec.add(0, "skipped", float("nan"), float("nan"), float("nan"), error=(None, "budget"))
        rec.add(1, "ok", 2.0, 2.2, 0.2, "h1", False)
    taken, progress = recorders[0].take()
    rows = pickle.loads(pickle.dumps(recorders[1].rows()))
    made, made_progress = rows_batch(rows, {1: a, 2: b}.__getitem__)
    assert made.encode() == taken.encode() and list(made.uids) == list(taken.uids) == [104, 105, 200, 201]
    assert made.status_counts() == taken.status_counts() == {"ok": 2, "error": 1, "skipped": 1}
    assert made_progress == progress
    for rec in recorders:  # job 2 goes on: its next rows start a segment of their own
        rec.add(2, "ok", 3.0, 3.1, 0.1, "h2", False)
    taken, _ = recorders[0].take()
    made, _ = rows_batch(recorders[1].rows(), {2: b}.__getitem__)
    assert made.encode() == taken.encode() and list(made.uids) == [202]
    for rec in recorders:  # job 2 ended with the last send; its empty segment needs no job
        rec.open(3, a, 0)
        rec.add(0, "ok", 4.0, 4.1, 0.1, "h0", False)
    taken, progress = recorders[0].take()
    made, made_progress = rows_batch(recorders[1].rows(), {3: a}.__getitem__)
    assert made.encode() == taken.encode() and list(made.uids) == [100] and made_progress == progress
