"""Starts and stops the server under test for run.py.

The command gets `--listen 127.0.0.1:0` appended (plus extra flags such as --max-message-bytes)
and must print `listening on ws://HOST:PORT` on stderr, like ringgate (notes/cli.md) and
node_echo.js. Output goes to a log file, never a pipe, so a chatty server cannot block on a full
pipe. Only the PID started here is ever signalled; the child also gets PR_SET_PDEATHSIG so it
dies with the runner even if the runner is SIGKILLed (e.g. by a CTest timeout).
"""
import ctypes
import os
import re
import signal
import subprocess
import tempfile
import time

LISTEN_RE = re.compile(r"listening on ws://([0-9.]+):(\d+)")
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (OSError, AttributeError):
        pass  # best effort; the runner still stops the process in its finally block


class ServerError(Exception):
    pass


class ServerProcess:
    def __init__(self, argv, name, logdir=None):
        self.argv = list(argv) + ["--listen", "127.0.0.1:0"]
        self.name = name
        logdir = logdir or os.environ.get("RINGGATE_TEST_LOGDIR") or tempfile.gettempdir()
        os.makedirs(logdir, exist_ok=True)
        fd, self.log_path = tempfile.mkstemp(prefix=f"conformance-{name}-", suffix=".log",
                                             dir=logdir)
        os.close(fd)
        self.proc = None
        self.url = None

    def launch(self):
        """Starts the process (call for every server before waiting on any of them)."""
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, preexec_fn=_die_with_parent)

    def wait_ready(self, timeout=15.0):
        """Waits for the listening line; returns ws://HOST:PORT/echo."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(self._read_log())
            if m:
                self.url = f"ws://{m.group(1)}:{m.group(2)}/echo"
                return self.url
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} server exited with status {self.proc.returncode} "
                                  f"before listening:\n{self.tail()}")
            time.sleep(0.02)
        raise ServerError(f"{self.name} server printed no 'listening on ws://' line within "
                          f"{timeout:g} s:\n{self.tail()}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self):
        return None if self.proc is None else self.proc.poll()

    def stop(self, grace=10.0):
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5.0)

    def _read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, lines=30):
        text = self._read_log().splitlines()[-lines:]
        return "\n".join(f"    | {line}" for line in text) or "    | (no output)"
