"""README's production recipe: ``export LOG_FORMAT=json`` then ``gunicorn --config gunicorn.conf.py ... wsgi:app``.
LOG_FORMAT=json is documented as "one JSON object per log line" (DESIGN 7: logs are structured in production), so
every line that process writes, gunicorn's own included (boot, worker exits and timeouts), must be JSON."""
import json
import os
import socket
import subprocess
import sys
import time

import httpx

from tests.helpers import REPO, TEST_SECRET


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_line_gunicorn_writes_under_log_format_json_is_a_json_object(tmp_path):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SECRET_KEY": TEST_SECRET,
           "PUBLIC_URL": f"http://127.0.0.1:{port}", "LOG_FORMAT": "json", "PYTHONPATH": str(REPO)}
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", str(REPO / "gunicorn.conf.py"),
                                   "--bind", f"127.0.0.1:{port}", "--workers", "1", "wsgi:app"],
                                  cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            httpx.put(f"http://127.0.0.1:{port}/mdm/connect", content=b"x", timeout=5)  # logs a refusal
        finally:
            server.terminate()
            server.wait(timeout=30)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert lines
    not_json = []
    for line in lines:
        try:
            assert isinstance(json.loads(line), dict)
        except (ValueError, AssertionError):
            not_json.append(line)
    assert not not_json, "not JSON under LOG_FORMAT=json:\n" + "\n".join(not_json)


def _logger_class_from(cwd, environ: dict) -> str:
    """The ``logger_class`` gunicorn.conf.py sets when gunicorn starts in ``cwd`` with ``environ``."""
    probe = (f"import runpy; settings = runpy.run_path({str(REPO / 'gunicorn.conf.py')!r}); "
             "print(getattr(settings.get('logger_class'), '__name__', 'gunicorn default'))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_log_format_json_from_dotenv_reaches_gunicorns_own_logger_and_text_keeps_gunicorns(tmp_path):
    environ = {**{k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "FLASK_SKIP_DOTENV")},
               "PYTHONPATH": str(REPO)}
    assert _logger_class_from(tmp_path, environ) == "gunicorn default"
    (tmp_path / ".env").write_text("LOG_FORMAT=json\n")
    assert _logger_class_from(tmp_path, environ) == "JsonLogger"
    assert _logger_class_from(tmp_path, {**environ, "LOG_FORMAT": "text"}) == "gunicorn default"
