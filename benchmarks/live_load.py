"""The live benchmark's load: held SSE streams, spread over client processes.

Each client process runs uvloop and holds its share of the streams as ``asyncio.Protocol``
objects: no task per stream, and while an update fans out a stream only notes the time and
keeps the bytes (``data_received`` appends a pair). The bytes are parsed afterwards, when the
main process asks which streams heard an event: each event's arrival is the time of the
read that completed it. So the client's cost during a fan-out is one callback per read,
and it is measured (CPU per update, every client process added up) rather than assumed.

The main process talks to each client over a pipe: ``open`` (streams to hold), ``collect``
(an event's arrivals), ``close`` (hang up; what went wrong), ``quit``. perf_counter is
CLOCK_MONOTONIC on Linux, the same clock in every process, so a time taken by the main
process just before sending an update and the arrival times of the clients compare.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection as Pipe
from typing import Any, cast

import uvloop

CONNECT_TIMEOUT_S = 30.0
POLL_S = 0.005


@dataclass
class Board:
    """What one process's streams report, shared: refusals, losses and duplicates."""

    refused: int = 0
    lost: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        """Keep the first few problems whole; the counts say how many there were."""
        if len(self.problems) < 5:
            self.problems.append(problem)


class Stream(asyncio.Protocol):
    """One held SSE stream. Reads are kept with their time and parsed on demand."""

    def __init__(self, board: Board, request: bytes) -> None:
        self.board = board
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.answered = False
        self.closing = False
        self.arrivals: dict[int, tuple[str, float]] = {}
        self.heartbeats = 0
        self.reads: list[tuple[float, bytes]] = []
        self._head = b""
        self._raw = b""
        self._left = 0
        self._text = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.answered:
            self.reads.append((time.perf_counter(), data))
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            return
        head, body = self._head[:end], self._head[end + 4 :]
        self.answered = True
        if not head.startswith(b"HTTP/1.1 200 ") or b"transfer-encoding: chunked" not in head:
            self.board.refused += 1
            self.board.note(f"stream refused: {head.decode(errors='replace')} {body[:300]!r}")
            self.close()
        elif body:
            self.reads.append((time.perf_counter(), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.board.lost += 1
            self.board.note(f"the server ended a stream ({exc or 'EOF'}): {self._text[-200:]!r}")

    def close(self) -> None:
        """Hang up; the server must notice and forget the stream."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def parse(self) -> None:
        """Read what came in since the last call: events, heartbeat comments, the retry."""
        reads, self.reads = self.reads, []
        for at, data in reads:
            self._read_events(self._dechunk(data), at)

    def _dechunk(self, data: bytes) -> bytes:
        """The stream's bytes without the chunked framing; each pass consumes input."""
        self._raw += data
        out = []
        while self._raw:
            if self._left:
                piece = self._raw[: self._left]
                out.append(piece)
                self._left -= len(piece)
                self._raw = self._raw[len(piece) :]
                continue
            end = self._raw.find(b"\r\n")
            if end < 0:
                break
            line, self._raw = self._raw[:end], self._raw[end + 2 :]
            if line:  # an empty line is the CRLF that closes a chunk
                self._left = int(line.split(b";")[0], 16)
        return b"".join(out)

    def _read_events(self, text: bytes, at: float) -> None:
        """Whole SSE blocks (up to a blank line)."""
        self._text += text
        while (end := self._text.find(b"\n\n")) >= 0:
            block, self._text = self._text[:end], self._text[end + 2 :]
            if b"\n: heartbeat" in block or block.startswith(b":"):
                self.heartbeats += 1
                continue
            fields = dict(line.split(b": ", 1) for line in block.split(b"\n") if b": " in line)
            if b"id" in fields and b"event" in fields:
                event_id = int(fields[b"id"])
                if event_id in self.arrivals:
                    self.board.duplicates += 1
                else:
                    self.arrivals[event_id] = (fields[b"event"].decode(), at)


def stream_request(host: str, path: str, token: str) -> bytes:
    """The whole GET of a stream, written once the connection is up."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()


async def until(done: Callable[[], bool], seconds: float) -> bool:
    """Poll ``done`` until it holds or ``seconds`` pass; answers whether it held."""
    deadline = time.perf_counter() + seconds
    while not done():
        if time.perf_counter() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


async def open_streams(
    board: Board, host: str, targets: list[tuple[int, bytes]], batch: int
) -> list[Stream]:
    """Open a stream per (port, request), ``batch`` at a time, each batch answered first."""
    loop = asyncio.get_running_loop()
    opened: list[Stream] = []
    for start in range(0, len(targets), batch):
        chunk = [(port, Stream(board, request)) for port, request in targets[start : start + batch]]
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await asyncio.gather(
                *(loop.create_connection(_made(s), host, port) for port, s in chunk)
            )
        streams = [s for _, s in chunk]
        if not await until(partial(_all_answered, streams), CONNECT_TIMEOUT_S):
            raise RuntimeError(f"streams not answered within {CONNECT_TIMEOUT_S:.0f} s")
        if board.refused:
            raise RuntimeError(board.problems[-1])
        opened += streams
    return opened


def _made(stream: Stream) -> Callable[[], Stream]:
    return lambda: stream


def _all_answered(streams: list[Stream]) -> bool:
    return all(s.answered for s in streams)


async def collect(streams: list[Stream], event_id: int, seconds: float) -> list[tuple[str, float]]:
    """Each stream's arrival of ``event_id`` (name, time), waiting up to ``seconds``."""
    missing = list(streams)

    def heard_all() -> bool:
        nonlocal missing
        for stream in missing:
            stream.parse()
        missing = [s for s in missing if event_id not in s.arrivals]
        return not missing

    await until(heard_all, seconds)
    return [s.arrivals[event_id] for s in streams if event_id in s.arrivals]


# A client process.


class Client:
    """The streams of one client process, driven by the main process's commands, one at a
    time (the pipe is read in a thread: the loop would make it non-blocking)."""

    def __init__(self, pipe: Pipe, host: str) -> None:
        self.pipe = pipe
        self.host = host
        self.board = Board()
        self.streams: list[Stream] = []
        self.cpu_mark = time.process_time()

    async def serve(self) -> None:
        while True:
            command = await asyncio.to_thread(self.pipe.recv)
            try:
                answer = await self.answer(command)
            except Exception as exc:  # the main process reports it and ends the run
                answer = ("failed", f"{type(exc).__name__}: {exc}")
            self.pipe.send(answer)
            if command == ("quit",):
                return

    async def answer(self, command: tuple[Any, ...]) -> tuple[Any, ...]:
        match command:
            case ("open", targets, batch):
                self.streams += await open_streams(self.board, self.host, targets, batch)
                self.cpu_mark = time.process_time()  # the updates' CPU, not the opening's
                return ("opened", len(self.streams))
            case ("collect", event_id, seconds):
                arrivals = await collect(self.streams, event_id, seconds)
                cpu, self.cpu_mark = time.process_time() - self.cpu_mark, time.process_time()
                return ("arrivals", arrivals, cpu)
            case ("close",):
                for stream in self.streams:
                    stream.parse()
                    stream.close()
                heartbeats = sum(s.heartbeats for s in self.streams)
                self.streams = []
                board = self.board
                return ("closed", board.lost, board.duplicates, board.problems, heartbeats)
            case ("quit",):
                return ("bye",)
        raise RuntimeError(f"unknown command {command!r}")


def client_main(pipe: Pipe, host: str, open_files: int) -> None:
    """A client process's entry point."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(open_files, hard)), hard))
    uvloop.run(Client(pipe, host).serve())


class ClientPool:
    """The client processes, seen from the main process."""

    def __init__(self, count: int, host: str, open_files: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.processes = []
        for _ in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=client_main, args=(theirs, host, open_files), daemon=True
            )
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)
        self.held = [0] * count

    async def ask(self, commands: list[tuple[Any, ...] | None]) -> list[tuple[Any, ...]]:
        """Send each process its command (None: none), then wait for every answer."""
        asked = [(pipe, c) for pipe, c in zip(self.pipes, commands, strict=True) if c is not None]
        for pipe, command in asked:
            pipe.send(command)
        answers = [await asyncio.to_thread(pipe.recv) for pipe, _ in asked]
        for answer in answers:
            if answer[0] == "failed":
                raise RuntimeError(f"a client process failed: {answer[1]}")
        return answers

    async def open(self, targets: list[tuple[int, bytes]], batch: int) -> None:
        """Spread new streams over the processes, the least loaded first."""
        shares: list[list[tuple[int, bytes]]] = [[] for _ in self.pipes]
        for target in targets:
            n = min(range(len(shares)), key=lambda i: self.held[i] + len(shares[i]))
            shares[n].append(target)
        for n, share in enumerate(shares):
            self.held[n] += len(share)
        per_process = max(1, batch // len(self.pipes))
        await self.ask([("open", share, per_process) if share else None for share in shares])

    async def collect(self, event_id: int, seconds: float) -> tuple[list[tuple[str, float]], float]:
        """Every stream's arrival of ``event_id``, and the clients' CPU since the last call."""
        answers = await self.ask([("collect", event_id, seconds)] * len(self.pipes))
        arrivals = [arrival for answer in answers for arrival in answer[1]]
        return arrivals, sum(answer[2] for answer in answers)

    async def close(self) -> dict[str, Any]:
        """Hang up every stream; what the clients saw go wrong."""
        answers = await self.ask([("close",)] * len(self.pipes))
        self.held = [0] * len(self.pipes)
        return {
            "lost": sum(a[1] for a in answers),
            "duplicates": sum(a[2] for a in answers),
            "problems": [p for a in answers for p in a[3]],
            "heartbeats": sum(a[4] for a in answers),
        }

    async def quit(self) -> None:
        await self.ask([("quit",)] * len(self.pipes))
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
