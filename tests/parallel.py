"""The suite on two pytest-xdist workers (`-n 2` in pyproject.toml), and what keeps that safe.

- Each worker has its own test databases (support.TEST_DATABASE: `tickflow_test` for the first worker,
  `tickflow_test_gw1` for the second, each with its `_airflow`, `_bench` and `_lifecycle` side databases, all made by
  scripts/local-services.sh); topics and consumer groups are already each test's own (namespaces.py).
- Work goes out by unit: a module's tests together (its module fixtures start once), with two units
  of their own. tests/dags (one Airflow metadata database, one `airflow standalone`, one streamed
  pipeline for the session) goes first, to one worker, which goes on with other units after it.
- tests/faults (the tests marked `fault`, and only those: they stop Kafka and PostgreSQL, and time
  what they do) goes last, to one worker, and none of its tests starts before every other worker has
  finished: each worker holds a shared lock on one file until its session ends; the fault worker
  trades its own for the exclusive one.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

import pytest
from xdist.scheduler import LoadScopeScheduling

FIRST, LAST = "tests/dags", "tests/faults"  # the units scheduled first and last (node ids start so)
EXCLUSIVE_WAIT_S = 3600.0  # how long the fault worker waits for the others (the suite's timeout is longer)


class SuiteScheduling(LoadScopeScheduling):
    """LoadScopeScheduling (a worker gets a unit's tests together, and more when it has two or fewer left),
    with these units: FIRST, then the modules, then LAST (so the worker that takes it gets nothing more,
    and the others are shut down as they run out of work)."""

    def _split_scope(self, nodeid: str) -> str:
        for group in (FIRST, LAST):
            if nodeid.startswith(group + "/"):
                return group
        return nodeid.split("::", 1)[0]

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is None and self._check_nodes_have_same_collection():
            units: dict[str, dict[str, bool]] = {}
            for nodeid in next(iter(self.registered_collections.values())):
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for scope in sorted(units, key=lambda scope: (scope != FIRST) + (scope == LAST)):  # stable
                self.workqueue[scope] = units[scope]
        # The initial distribution puts every unit in the work queue again: a unit already there keeps its
        # place, so the order above stays; then it hands out the units as LoadScopeScheduling does.
        super().schedule()


class Parallel:
    """The suite's plugin when pytest-xdist is loaded (registered by conftest.py)."""

    def __init__(self, config: pytest.Config) -> None:
        self.lock: IO[str] | None = None
        self.exclusive = False
        if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker: its base temp dir is <the run's>/popen-gwN
            self.lock = open(Path(config.option.basetemp).parent / "exclusive.lock", "a")
            fcntl.flock(self.lock, fcntl.LOCK_SH)  # held until this worker's process ends

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """The scheduler knows a test's node id only: `fault` tests must be those in tests/faults."""
        misplaced = [item.nodeid for item in items
                     if bool(item.get_closest_marker("fault")) != item.nodeid.startswith(LAST + "/")]
        if misplaced:
            raise pytest.UsageError(f"marked `fault` outside {LAST}/, or in it without the mark (tests/parallel.py "
                                    f"runs that directory last, alone): {', '.join(misplaced)}")

    @pytest.hookimpl(trylast=True)  # after the session's fixtures are torn down
    def pytest_sessionfinish(self) -> None:
        """This worker's tests are done: it no longer holds the fault tests back (its process lives on
        until every worker has finished)."""
        if self.lock is not None and not self.exclusive:
            self.lock.close()
            self.lock = None

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: object) -> SuiteScheduling:
        return SuiteScheduling(config, log)  # type: ignore[arg-type]

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # outside pytest-timeout's clock: the wait is not the test's
    def pytest_runtest_protocol(self, item: pytest.Item) -> object:
        if self.lock is not None and not self.exclusive and item.get_closest_marker("fault"):
            self._take_exclusive(item)
        return (yield)

    def _take_exclusive(self, item: pytest.Item) -> None:
        """Wait until no other worker of this run is left (each holds the lock shared to its end)."""
        assert self.lock is not None
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        deadline = time.monotonic() + EXCLUSIVE_WAIT_S
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{item.nodeid}: the other workers still run after {EXCLUSIVE_WAIT_S:.0f} s")
                time.sleep(0.2)  # polling a lock, with a deadline
        self.exclusive = True
