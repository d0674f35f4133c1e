"""CI: what a plain `pip install .` (no extras) must do. Run by the plain venv's Python, with
the standard library only, from a folder outside the checkout; its one argument is a scratch
folder. Exits non-zero, saying why, when:

1. a module of the installed `chatport` package does not import, unless it is of an extra
   (EXTRA_ONLY) and what it misses is that extra's package;
2. a command that needs a missing extra says more than one line, shows a traceback, or does
   not exit 2;
3. `chatport serve` on SQLite does not answer /healthz, refuses a signed WAHA `message`
   webhook, does not store its message, or does not stop on SIGTERM (its log is shown).

The modules are found by walking the package, not listed, so moving modules needs no change
here; only EXTRA_ONLY names places.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib
import importlib.util
import json
import os
import pkgutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# modules (a prefix: the module and everything under it) that only an extra makes importable,
# and the top-level package whose absence is the only failure accepted from them
EXTRA_ONLY = {
    "chatport.engines.temporal": "temporalio",  # chatport[temporal]
    "chatport.store.backends.postgres": "psycopg",  # chatport[postgres]
    "chatport.store.backends.pg_copy": "psycopg",  # chatport[postgres]
}
# packages an extra brings: a plain install must not have them, or step 1 proves nothing
EXTRA_PACKAGES = ("psycopg", "temporalio")

BIN = Path(sys.executable).parent
CHATPORT = str(BIN / "chatport")
WEBHOOK_KEY = "plain-install-key"


class Failed(Exception):
    """A check failed; the message says which and why."""


def log(message: str) -> None:
    print(f"   {message}", flush=True)


def not_importable_on_its_own(name: str) -> bool:
    """Alembic's environment script runs only inside a migration (step 3 runs it: serve
    migrates the SQLite file)."""
    return name.endswith(".migrations.env")


def extra_prefix(name: str) -> str | None:
    """The EXTRA_ONLY prefix that `name` is under, if any."""
    for prefix in EXTRA_ONLY:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


def check_imports(_scratch: Path) -> None:
    import chatport

    location = Path(chatport.__file__).resolve()
    if not location.is_relative_to(Path(sys.prefix).resolve()):
        raise Failed(f"chatport imported from {location}, not from the plain venv {sys.prefix}")
    present = [name for name in EXTRA_PACKAGES if importlib.util.find_spec(name) is not None]
    if present:
        raise Failed(f"a plain install has extra packages {present}: nothing is checked")
    if importlib.util.find_spec("httpx") is not None:
        log("note: httpx is installed (by a dependency); chatport must not need it")

    errors: dict[str, BaseException] = {}

    def failed(name: str) -> None:  # walk_packages could not import a package to walk it
        errors.setdefault(name, sys.exc_info()[1] or RuntimeError("import failed"))

    imported, extra_only, skipped, used_prefixes = [], [], [], set()
    for module in pkgutil.walk_packages(chatport.__path__, "chatport.", onerror=failed):
        name = module.name
        if not_importable_on_its_own(name):
            skipped.append(name)
            continue
        try:
            importlib.import_module(name)
        except (Exception, SystemExit) as error:  # every failure is reported below
            errors.setdefault(name, error)
        else:
            imported.append(name)
    problems = []
    for name, error in sorted(errors.items()):
        prefix = extra_prefix(name)
        missing = (getattr(error, "name", None) or "").partition(".")[0]
        if (
            prefix is not None
            and isinstance(error, ModuleNotFoundError)
            and missing == EXTRA_ONLY[prefix]
        ):
            extra_only.append(f"{name} (needs {missing})")
            used_prefixes.add(prefix)
        else:
            problems.append(f"{name}: {type(error).__name__}: {error}")
    log(f"{len(imported)} modules import; skipped {skipped}")
    log(f"extra-only, as expected: {extra_only}")
    for prefix in sorted(set(EXTRA_ONLY) - used_prefixes):
        log(f"note: EXTRA_ONLY names {prefix}, and no module there needs its extra")
    if problems:
        raise Failed("modules that do not import in a plain install:\n" + "\n".join(problems))
    if len(imported) < 20:
        raise Failed(f"only {len(imported)} modules found: is the package walked at all?")


def scrubbed_environment(**extra: str) -> dict[str, str]:
    """This environment without CHATPORT_* settings (a developer's or CI's), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATPORT_")}
    return {**env, "COLUMNS": "60", **extra}  # a narrow terminal: a message must not wrap


def check_missing_extra_messages(scratch: Path) -> None:
    nowhere = "postgresql://nobody@127.0.0.1:1/nothing"
    cases = [
        (["serve", "--db", nowhere], "chatport[postgres]"),
        (["import", "waha", "--url", "http://127.0.0.1:9", "--db", nowhere], "chatport[postgres]"),
        (["worker", "--db", f"sqlite:///{scratch / 'worker.db'}"], "chatport[temporal]"),
        (["temporal", "dev"], "chatport[temporal]"),
    ]
    for args, extra in cases:
        result = subprocess.run(
            [CHATPORT, *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=scratch,
            env=scrubbed_environment(),
            stdin=subprocess.DEVNULL,
        )
        output = result.stdout + result.stderr
        lines = [line for line in output.splitlines() if line.strip()]
        shown = f"`chatport {' '.join(args)}` (exit {result.returncode}):\n{output}"
        if result.returncode != 2 or len(lines) != 1 or extra not in lines[0]:
            raise Failed(f"expected one line naming {extra} and exit 2 from {shown}")
        if "Traceback" in output:
            raise Failed(f"a traceback from {shown}")
        log(f"chatport {' '.join(args[:2])}: {lines[0]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def waha_message_webhook(message_id: str) -> bytes:
    """A WAHA `message` delivery (the shape of tests/integration/test_webhooks_api.py)."""
    chat = "5511999990001@c.us"
    envelope = {
        "id": "evt_plain_install_1",
        "timestamp": 1741249702485,
        "event": "message",
        "session": "default",
        "me": {"id": "5511888880000@c.us", "pushName": "Shop"},
        "engine": "NOWEB",
        "environment": {"version": "2026.7.1", "engine": "NOWEB"},
        "payload": {
            "id": message_id,
            "timestamp": 1741249700,
            "from": chat,
            "to": "5511888880000@c.us",
            "fromMe": False,
            "body": "hello from a plain install",
            "_data": {"pushName": "Plain"},
        },
    }
    return json.dumps(envelope).encode()


def post_webhook(base: str, body: bytes, key: str) -> tuple[int, bytes]:
    """POST `body` to /webhooks/waha signed as WAHA signs (X-Webhook-Hmac: HMAC-SHA512 of the
    body); the status and body of the answer."""
    signature = hmac.new(key.encode(), body, hashlib.sha512).hexdigest()
    request = urllib.request.Request(
        f"{base}/webhooks/waha",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Webhook-Hmac": signature,
            "X-Webhook-Hmac-Algorithm": "sha512",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_healthy(base: str, server: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    log(f"/healthz: {response.read().decode()}")
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if server.poll() is not None:
            raise Failed(f"chatport serve exited ({server.returncode}) before /healthz answered")
        if time.monotonic() > deadline:
            raise Failed(f"/healthz did not answer within {seconds:g} s")
        time.sleep(0.2)


def stored_message(database: Path, message_id: str, seconds: float) -> tuple | None:
    deadline = time.monotonic() + seconds
    while True:
        connection = sqlite3.connect(database, timeout=10)
        try:
            row = connection.execute(
                "SELECT external_id, chat_id, text, origin FROM messages WHERE external_id = ?",
                (message_id,),
            ).fetchone()
        finally:
            connection.close()
        if row is not None or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def check_serve(scratch: Path) -> None:
    database = scratch / "serve.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = scratch / "serve.log"
    command = [CHATPORT, "serve", "--db", f"sqlite:///{database}", "--port", str(port)]
    with open(log_path, "wb") as server_log:
        server = subprocess.Popen(
            command,
            cwd=scratch,
            env=scrubbed_environment(CHATPORT_WEBHOOK_HMAC_KEY=WEBHOOK_KEY),
            stdin=subprocess.DEVNULL,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: nothing of it outlives the check
        )
    failure = None
    try:
        wait_until_healthy(base, server, seconds=90)
        message_id = "false_5511999990001@c.us_PLAININSTALL1"
        body = waha_message_webhook(message_id)
        status, answer = post_webhook(base, body, "not-the-key")
        if status != 401:
            raise Failed(f"a wrongly signed webhook got {status} {answer!r}, not 401")
        status, answer = post_webhook(base, body, WEBHOOK_KEY)
        if not 200 <= status < 300:
            raise Failed(f"the signed webhook got {status} {answer!r}")
        log(f"signed webhook: {status} {answer.decode()}")
        row = stored_message(database, message_id, seconds=10)
        if row is None:
            raise Failed(f"no message {message_id} in {database}")
        log(f"stored: {row}")
    except Exception as error:  # noqa: BLE001 - shown with the server's log
        failure = str(error) if isinstance(error, Failed) else f"{type(error).__name__}: {error}"
    finally:
        stopped = stop(server)
    text = log_path.read_text(errors="replace")
    if failure is None and not stopped:
        failure = "chatport serve did not stop within 30 s of SIGTERM"
    elif failure is None and (
        # uvicorn shuts down, then dies of the signal it caught: -15 is a clean stop
        server.returncode not in (0, -signal.SIGTERM) or "Application shutdown complete" not in text
    ):
        failure = f"chatport serve exited {server.returncode} on SIGTERM, not cleanly"
    if failure is not None:
        raise Failed(f"{failure}\n--- chatport serve's log ({' '.join(command)}):\n{text}")
    log("chatport serve stopped on SIGTERM")


def stop(server: subprocess.Popen) -> bool:
    """SIGTERM; whether it stopped within 30 s. Then SIGKILL to whatever is left of its
    process group (its live writer, when it did not stop)."""
    stopped = True
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stopped = False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=10)
    return stopped


def main() -> int:
    scratch = Path(sys.argv[1]).resolve()
    checks = [
        ("every module imports (the extras' aside)", check_imports),
        ("a command needing a missing extra says so on one line", check_missing_extra_messages),
        ("chatport serve on SQLite stores a signed WAHA webhook", check_serve),
    ]
    for title, check in checks:
        print(f"-- {title}", flush=True)
        try:
            check(scratch)
        except Failed as failure:
            print(f"FAILED: {failure}", file=sys.stderr, flush=True)
            return 1
    print("plain install: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
