"""Database plumbing under the device hot path: Core statements run on the DBAPI cursor
(``driver``), the libpq liveness ping (``ping``), connections kept checked out between requests
(``kept``) and the retry on a connection that proved dead (``retry``).

Named ``database``, not ``db``: ``portal.db`` would be bound to this package on import and
shadow the Flask-SQLAlchemy object that ``portal/__init__.py`` imports under that name.
"""
