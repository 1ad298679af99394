"""Work done in bounded batches, each committed on its own, until a batch comes back short."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session


def until_done(session: Session, batch: Callable[[], int], size: int) -> int:
    """Run ``batch`` (which handles at most ``size`` rows and says how many) and commit, until it handles fewer
    than ``size``; returns how many were handled in all. The worker's jobs run this way."""
    total = 0
    while True:
        handled = batch()
        session.commit()
        total += handled
        if handled < size:
            return total
