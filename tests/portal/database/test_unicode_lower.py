"""SQLite's lower() as Python's: non-ASCII letters fold too, NULL stays NULL."""
from sqlalchemy import create_engine, text

from portal.database.unicode_lower import install_unicode_lower


def test_lower_folds_non_ascii_letters_on_sqlite():
    engine = create_engine("sqlite://")
    install_unicode_lower(engine)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT lower('VERTRIEB ÖSTERREICH'), lower('ÆØÅ'), lower(NULL)")).one()
    finally:
        engine.dispose()
    assert tuple(row) == ("vertrieb österreich", "æøå", None)
