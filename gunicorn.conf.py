"""gunicorn settings the portal needs whatever the command line adds. gunicorn reads ./gunicorn.conf.py
from the directory it starts in; `make run` and the README's production command name it.

SCEP's PKIOperation over GET carries the whole base64 pkiMessage in the query string. For a 4096-bit key
the request line measures about 5,600 bytes (our 2048-bit device CA) and 6,000 (a 4096-bit CA, a
64-character organisation name); gunicorn's default limit, 4094, refused it (400 or 414) before the app
saw it. 8190 is the largest limit gunicorn takes short of none at all, a third more than that request
(tests/portal/test_gunicorn_config.py measures it and sends it to gunicorn started with this file).

.env is read here as the flask command reads it (the environment wins), so every setting in it reaches gunicorn
and its workers too.
"""
from portal.config import load_dotenv_file

load_dotenv_file()

limit_request_line = 8190
