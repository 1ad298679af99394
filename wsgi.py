"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""
import gc

from portal import create_app
from portal.config import load_dotenv_file

load_dotenv_file()  # the .env the flask command reads, so gunicorn serves the database flask db upgrade migrated
app = create_app()
# Everything loaded so far (modules, the app, the models' metadata) lives as long as the worker.
# Freezing it moves it out of the cyclic collector's generations, so the collections that
# requests trigger no longer walk it: 11-14 % less server CPU per MDM request in the alternating
# runs of benchmarks/RESULTS.md (fifth pass).
gc.freeze()
