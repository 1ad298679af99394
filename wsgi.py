"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""
import gc
import sys

from portal import create_app
from portal.config import ConfigError, load_dotenv_file

load_dotenv_file()  # the .env the flask command reads, so gunicorn serves the database flask db upgrade migrated
try:
    app = create_app()
except ConfigError as exc:
    # A bad setting is the operator's to fix, not a bug: its message alone, no traceback. Status 3 is gunicorn's
    # "worker failed to boot", so the master stops at once instead of starting worker after worker.
    print(exc, file=sys.stderr, flush=True)
    raise SystemExit(3) from None
# Everything loaded so far (modules, the app, the models' metadata) lives as long as the worker.
# Freezing it moves it out of the cyclic collector's generations, so the collections that
# requests trigger no longer walk it: 11-14 % less server CPU per MDM request in the alternating
# runs of benchmarks/RESULTS.md (fifth pass).
gc.freeze()
