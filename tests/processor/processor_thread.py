"""The processor run in this process, on a thread of its own, for tests that look inside it."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from services.config import Settings
from services.processor.runner import Processor


@contextmanager
def processor_thread(settings: Settings, name: str = "processor",
                     join_timeout: float = 30) -> Iterator[tuple[Processor, threading.Thread]]:
    """A running `Processor(settings)` and its thread; on leaving, stop it and wait up to `join_timeout` s."""
    processor = Processor(settings)
    runner = threading.Thread(target=processor.run, name=name)
    runner.start()
    try:
        yield processor, runner
    finally:
        processor.stop()
        runner.join(timeout=join_timeout)
