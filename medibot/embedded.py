"""Start and wait for the embedded SecantusDB server used by local runs and the test session.

Only the embedded defaults use this: production sets ``MONGODB_URI`` to a real MongoDB.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import socket
import subprocess  # nosec B404 - starts the embedded SecantusDB with a fixed argv
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, *, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"SecantusDB exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"SecantusDB did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _secantus_argv(*, port: int, storage_path: str) -> list[str]:
    """The server's fixed command line: loopback only, warnings and worse logged."""
    return [
        sys.executable,
        "-m",
        "secantus",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        storage_path,
        "--log-level",
        "WARNING",
    ]


def start_secantus(*, port: int, storage_path: str, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m secantus`` in its own process group; returns once it accepts connections."""
    if storage_path != ":memory:":
        Path(storage_path).mkdir(parents=True, exist_ok=True)
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    process = subprocess.Popen(  # noqa: S603  # nosec B603 - fixed argv, no shell
        _secantus_argv(port=port, storage_path=storage_path),
        stdout=output,
        stderr=output,
        start_new_session=True,
    )
    wait_for_port(port, process=process)
    return process


STOP_GRACE_SECONDS = 5.0


def stop(process: subprocess.Popen[bytes], *, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM to the server's process group, SIGKILL when it is still there after ``grace``.

    A server stuck in a retry loop may ignore SIGTERM; returning only once it is gone means no
    caller (test session, bench, Ctrl-C) leaves it behind.
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
        return
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout=grace)


def start_for_session(storage_path: str = ":memory:") -> tuple[subprocess.Popen[bytes], str]:
    """A throw-away server on a free port, stopped when this interpreter exits."""
    port = free_port()
    process = start_secantus(port=port, storage_path=storage_path)
    atexit.register(stop, process)
    return process, f"mongodb://127.0.0.1:{port}/?directConnection=true"


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the embedded SecantusDB in the foreground.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--storage-path", required=True)
    args = parser.parse_args()
    Path(args.storage_path).mkdir(parents=True, exist_ok=True)
    os.execv(  # noqa: S606  # nosec B606 - fixed argv: replaces this process with the server
        sys.executable,
        _secantus_argv(port=args.port, storage_path=args.storage_path),
    )


if __name__ == "__main__":
    main()
