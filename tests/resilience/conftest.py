"""Fixtures of the resilience tests: a PostgreSQL cluster of their own (they stop and restart it), a
template database each test copies, and each test's stack of processes (``stack.Stack``).

They run once per CI run, in the pass without ``TEST_DATABASE_URL`` (``make test`` on SQLite): their
database is their own whatever the pass, so the PostgreSQL pass skips them rather than repeat them."""
from __future__ import annotations

import itertools
import os

import pytest

from tests.resilience.stack import TEMPLATE, PrivateCluster, Stack, postgres_bin, prepare_template

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def cluster():
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("the resilience tests start their own PostgreSQL: they run in the pass without TEST_DATABASE_URL")
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's binaries (initdb, pg_ctl under /usr/lib/postgresql) are not installed")
    cluster = PrivateCluster(bin_dir)
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def template_token(cluster, standin_pki) -> str:
    """The API token of the template database (migrated, push certificate and admin in place)."""
    _pki, files = standin_pki
    return prepare_template(cluster, files)


@pytest.fixture
def stack(cluster, template_token, apns_standin, standin_pki, tmp_path):
    """A fresh copy of the template database and nothing started yet; everything started is stopped after."""
    _pki, files = standin_pki
    database = f"resilience_{next(_databases)}"
    cluster.execute(f"CREATE DATABASE {database} TEMPLATE {TEMPLATE}")
    stack = Stack(cluster, database, template_token, apns_standin, files["server_ca"], tmp_path)
    yield stack
    stack.close()
    if not cluster.running():  # a test that stopped it failed before starting it again
        cluster.start()
