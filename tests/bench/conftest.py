"""The benchmarks' own corner of the test services: a BenchStack on `<test database>_bench`."""
from __future__ import annotations

from typing import Iterator

import pytest
from support import TEST_DATABASE

from bench.stack import BenchStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchStack]:
    stack = BenchStack.create(tmp_path_factory.mktemp("bench"), database=f"{TEST_DATABASE}_bench")
    yield stack
    stack.close()
