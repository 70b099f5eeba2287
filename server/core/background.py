"""Background processes beside the HTTP workers (photo processing, push sending): Sanic
starts a supervisor per process, which keeps one ``python -m server <command>`` running with
the same environment, starts another when one dies (a decoder crash, the kernel's OOM
killer), pausing longer each time it dies young, and stops it on SIGTERM.

Separate processes keep CPU-heavy work (image decoding, payload encryption) off the event
loops that answer requests, and let the kernel run it at a lower priority.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger("tinedy.supervision")

RESTART_PAUSE_SECONDS = 1.0
LONGEST_RESTART_PAUSE = 30.0


def keep_running(command: str) -> None:
    """Run ``python -m server <command>`` until SIGTERM or SIGINT, restarting it when it dies."""
    stopping = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopping.set())
    pause = RESTART_PAUSE_SECONDS
    while not stopping.is_set():
        child = subprocess.Popen([sys.executable, "-m", "server", command])
        started = time.monotonic()
        while child.poll() is None and not stopping.is_set():
            stopping.wait(0.5)
        if stopping.is_set():
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
            return
        lived = time.monotonic() - started
        pause = RESTART_PAUSE_SECONDS if lived > 60 else min(pause * 2, LONGEST_RESTART_PAUSE)
        log.warning("%s exited (%s); another in %.0f s", command, child.returncode, pause)
        stopping.wait(pause)


async def until_stopped() -> None:
    """In a background process: return on SIGTERM or SIGINT (then it stops its work)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stopping.set)
    await stopping.wait()
