""".env.example's first line says "Copy to .env": the settings in that file must reach every process that
``make run`` (and the production commands in README) start, or none of them."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRINT_URI = 'print("URI=" + app.config["SQLALCHEMY_DATABASE_URI"])'


def _environ() -> dict:
    drop = ("DATABASE_URL", "FLASK_SKIP_DOTENV", "FLASK_APP")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "PYTHONPATH": str(ROOT)}


def _uri(output: str) -> str:
    return next(line.split("URI=", 1)[1] for line in output.splitlines() if "URI=" in line)


def test_a_dotenv_file_gives_the_flask_commands_and_the_gunicorn_app_the_same_database(tmp_path):
    """Flask's CLI loads ./.env (python-dotenv is installed), gunicorn's ``wsgi:app`` does not: with .env naming
    a database, ``flask db upgrade`` and ``flask demo-setup`` (make run's first steps) migrate and seed that one
    while gunicorn serves the default SQLite file in instance/, unmigrated on a fresh clone."""
    wanted = f"sqlite:///{tmp_path / 'from-dotenv.sqlite3'}"
    (tmp_path / ".env").write_text(f"DATABASE_URL={wanted}\n")
    cli = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "shell"], input=PRINT_URI, cwd=tmp_path,
                         env=_environ(), capture_output=True, text=True, timeout=120)
    served = subprocess.run([sys.executable, "-c", f"from wsgi import app; {PRINT_URI}"], cwd=tmp_path,
                            env=_environ(), capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and served.returncode == 0, cli.stderr + served.stderr
    assert _uri(cli.stdout) == _uri(served.stdout), (
        f"flask CLI uses {_uri(cli.stdout)}, the WSGI app (gunicorn wsgi:app) uses {_uri(served.stdout)}")
