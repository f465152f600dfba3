"""The embedded run stops every process on Ctrl-C, even processes that ignore SIGTERM (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404 - starts test processes with fixed argv
import sys
import textwrap
import time
from pathlib import Path

import psutil

from medibot.embedded import stop

ROOT = Path(__file__).resolve().parents[2]
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
POLITE = "import time; time.sleep(600)"


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _command_line(process: psutil.Process) -> str:
    """The process's command line; empty once it is a zombie or gone (it may exit while we look)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def _sleepers(pid: int) -> int:
    return sum("sleep(600)" in _command_line(p) for p in _descendants(pid))


def _exited(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _gone(processes: list[psutil.Process]) -> bool:
    return all(_exited(p) for p in processes)


def test_stop_kills_a_server_that_ignores_sigterm_after_the_grace_period() -> None:
    process = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)  # nosec B603
    time.sleep(0.5)
    started = time.monotonic()

    stop(process, grace=1.0)

    assert process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 3.0


def test_ctrl_c_on_the_run_script_stops_every_process_within_15_seconds(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f'stubborn: {sys.executable} -c "{STUBBORN}"\npolite: {sys.executable} -c "{POLITE}"\n'
    )
    script = tmp_path / "run.sh"
    script.write_text(
        textwrap.dedent(
            f"""\
            source {ROOT}/scripts/lib.sh
            trap shutdown_supervised EXIT
            trap 'shutdown_supervised; exit 130' INT TERM
            supervise {sys.executable} -c "{STUBBORN}"
            supervise honcho -f {procfile} start
            wait "${{SUPERVISED[-1]}}" || true
            """
        )
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    runner = subprocess.Popen(["bash", str(script)], env=env, start_new_session=True)  # nosec
    try:
        # the stubborn server, honcho (+ its shell wrappers) and both Procfile processes
        _wait_for(lambda: _sleepers(runner.pid) >= 3, 20)
        processes = _descendants(runner.pid)
        started = time.monotonic()

        os.killpg(runner.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        runner.wait(timeout=20)
        _wait_for(lambda: _gone(processes), 20)
        elapsed = time.monotonic() - started
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)

    assert elapsed < 15, elapsed
