"""Work done in bounded batches, each committed on its own, until a batch comes back short."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session


def until_done(session: Session, batch: Callable[[], int], size: int, max_batches: int | None = None) -> int:
    """Run ``batch`` (which handles at most ``size`` rows and says how many) and commit, until it handles fewer
    than ``size`` (or ``max_batches`` ran); returns how many were handled in all. The worker's jobs run this way."""
    total = batches = 0
    while max_batches is None or batches < max_batches:
        handled = batch()
        session.commit()
        total += handled
        batches += 1
        if handled < size:
            break
    return total
