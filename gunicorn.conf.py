"""gunicorn settings the portal needs whatever the command line adds. gunicorn reads ./gunicorn.conf.py
from the directory it starts in; `make run` and the README's production command name it.

SCEP's PKIOperation over GET carries the whole base64 pkiMessage in the query string. For a 4096-bit key
the request line measures about 5,600 bytes (our 2048-bit device CA) and 6,000 (a 4096-bit CA, a
64-character organisation name); gunicorn's default limit, 4094, refused it (400 or 414) before the app
saw it. 8190 is the largest limit gunicorn takes short of none at all, a third more than that request
(tests/portal/test_gunicorn_config.py measures it and sends it to gunicorn started with this file).

.env is read here as the flask command reads it (the environment wins), so LOG_FORMAT and every other setting
in it reach gunicorn and its workers too.
"""
import os

from gunicorn.glogging import Logger

from portal.config import load_dotenv_file
from portal.logging_setup import JsonFormatter

load_dotenv_file()

limit_request_line = 8190


class JsonLogger(Logger):
    """gunicorn's own lines (boot, worker exits and timeouts, the access log) as the app's JSON objects. Only the
    formatter changes: --error-logfile, --access-logfile, --log-level and syslog apply as gunicorn sets them."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())


if os.environ.get("LOG_FORMAT") == "json":  # LOG_FORMAT=json: one JSON object per line from the whole process
    logger_class = JsonLogger
