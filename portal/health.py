"""Liveness for load balancers: 200 only while the database answers."""
import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .database.outage import RETRY_AFTER_SECONDS
from .extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check failed: %s", exc.__class__.__name__)
        return jsonify({"status": "unavailable", "detail": "database unreachable"}), 503, \
            {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return jsonify({"status": "ok"})
