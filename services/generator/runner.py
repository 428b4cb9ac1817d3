"""The generator's run machinery: a Plan, one Worker thread per symbol partition, the Runner.

``Plan`` is everything a run needs, already resolved from flags and settings (the CLI in
``services/generator/__main__.py`` builds it).  ``Runner`` splits the plan's symbols over
``MarketSimulator.partitioned`` simulators and starts one ``Worker`` per simulator: worker w owns
symbols[w::workers], so each symbol's records stay in order.  A worker

* paces itself to its share of the rate (``Plan.rate`` is candles/s over all symbols),
* never produces a candle more than ``Plan.max_ahead`` seconds ahead of the wall clock,
* buffers records and sends a batch once it holds ``Plan.batch`` records or its oldest record
  waited ``Plan.flush_interval`` seconds, through its own ``Pusher`` (retries, backoff and the
  ingest answer contract live in ``services/ingest_client.py``).

A finite run (``Plan.count``) ends when every worker produced its quota and flushed.  Otherwise
``Runner.request_stop`` (the CLI calls it on SIGTERM/SIGINT) stops production, lets the workers
flush for at most ``shutdown_timeout`` seconds, then makes pending retries give up; a second call
gives up at once.  ``Runner.run`` logs and prints a JSON summary and returns the exit status.
``Runner.sample``, ``Runner.extra_metrics`` and ``Runner.ready`` feed the HTTP app
(``services/generator/app.py``).
"""
from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.core.simulation import MarketSimulator, RecordMix, is_candle
from services.ingest_client import MAX_LOGGED_REASONS, Pusher, PushResult, PushStats
from services.logs import event

# Same logger as the CLI: the run's log lines keep the name they always had.
log = logging.getLogger(__name__)


# -- workers -----------------------------------------------------------------------------------


@dataclass
class Plan:
    """Everything a run needs, resolved from flags and settings."""

    symbols: tuple[str, ...]
    seed: int
    start: float
    interval: float
    rate: float | None  # candles/s over all symbols; None = as fast as possible
    workers: int
    batch: int
    count: int | None
    mix: RecordMix
    flush_interval: float = 0.2
    max_ahead: float = 150.0  # never send candles further than this into the future
    # A compressed recent history first: `history` candles per symbol, `history_interval` apart and
    # ending before `start`, sent as fast as ingest takes them; then the run goes on from `start`
    # (or from the wall clock when the history is done, unless `start_fixed`), on the same price path.
    history: int = 0
    history_interval: float = 10.0
    start_fixed: bool = True

    @property
    def first_timestamp(self) -> float:
        return self.start - self.history * self.history_interval if self.history else self.start

    @property
    def first_interval(self) -> float:
        return self.history_interval if self.history else self.interval

    def quota(self, symbol: str) -> int | None:
        """Candles of `symbol` in a finite run (first `count` of the global round robin)."""
        if self.count is None:
            return None
        n = len(self.symbols)
        return self.count // n + (1 if self.symbols.index(symbol) < self.count % n else 0)


class Worker(threading.Thread):
    """Produces the streams of its simulator's symbols, paced, batched, pushed in order."""

    def __init__(
        self,
        index: int,
        sim: MarketSimulator,
        plan: Plan,
        pusher: Pusher,
        stop: threading.Event,
        on_settled: Callable[[list[dict], PushResult], None] | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name=f"generator-worker-{index}", daemon=True)
        self.index = index
        self.sim = sim
        self.plan = plan
        self.pusher = pusher
        self.stop = stop
        self.on_settled = on_settled
        self.on_finished = on_finished
        self.candles = 0  # produced so far
        self.error: BaseException | None = None
        self._buf: list[dict] = []
        self._buf_since = 0.0
        self._throttle_logged = False
        share = len(sim.symbols) / len(plan.symbols)
        self.rate = plan.rate * share if plan.rate is not None else None

    def run(self) -> None:
        try:
            self._produce()
        except BaseException as exc:  # noqa: BLE001 - reported by the runner
            self.error = exc
            event(log, "worker crashed", logging.ERROR, worker=self.index, error=repr(exc))
        finally:
            try:
                self._flush_all()
            except BaseException as exc:  # noqa: BLE001
                self.error = self.error or exc
            self.pusher.close()
            if self.on_finished is not None:
                self.on_finished()

    def _produce(self) -> None:
        sim, plan = self.sim, self.plan
        if plan.history and not self._produce_history():
            return
        quotas = {s: plan.quota(s) for s in sim.symbols}  # live candles; the history comes on top
        done_before = {s: sim.ticks_done(s) for s in sim.symbols}
        t0, live = time.monotonic(), 0
        while not self.stop.is_set():
            progressed = False
            for symbol in sim.symbols:
                quota = quotas[symbol]
                if quota is not None and sim.ticks_done(symbol) - done_before[symbol] >= quota:
                    continue
                if self.rate is not None:
                    if not self._wait_until(t0 + live / self.rate):
                        return
                if not self._wait_for_wall_clock(sim.timestamp(symbol)):
                    return
                self._emit(sim.tick(symbol))
                live += 1
                progressed = True
                if self.stop.is_set():
                    return
            if not progressed:
                return

    def _produce_history(self) -> bool:
        """The plan's history as fast as ingest takes it, then retime every symbol to go on live."""
        sim, plan = self.sim, self.plan
        for _ in range(plan.history):
            for symbol in sim.symbols:
                self._emit(sim.tick(symbol))
                if self.stop.is_set():
                    return False
        start = plan.start if plan.start_fixed else max(plan.start, round(time.time(), 3))
        for symbol in sim.symbols:
            sim.retime(symbol, start, plan.interval)
        event(log, "history sent; going on live", worker=self.index, candles=plan.history * len(sim.symbols),
              live_from=start)
        return True

    def _emit(self, records: list[dict]) -> None:
        """Buffer one candle's records; send full batches, and a partial one that waited too long."""
        plan = self.plan
        self.candles += 1
        if not self._buf:
            self._buf_since = time.monotonic()
        self._buf.extend(records)
        while len(self._buf) >= plan.batch:
            self._send(plan.batch)
        if self._buf and time.monotonic() - self._buf_since >= plan.flush_interval:
            self._send(len(self._buf))

    def _wait_until(self, due: float) -> bool:
        """Wait until monotonic `due`, flushing aged buffers meanwhile; False if stopped."""
        while True:
            now = time.monotonic()
            if self._buf and now - self._buf_since >= self.plan.flush_interval:
                self._send(len(self._buf))
                continue
            if now >= due:
                return not self.stop.is_set()
            wake = due
            if self._buf:
                wake = min(wake, self._buf_since + self.plan.flush_interval)
            if self.stop.wait(max(0.0, wake - now)):
                return False

    def _wait_for_wall_clock(self, timestamp: float) -> bool:
        """Never produce a candle more than max_ahead seconds in the future (ingest rejects
        timestamps > max_future_skew_seconds ahead): wait instead."""
        ahead = timestamp - time.time() - self.plan.max_ahead
        if ahead <= 0:
            return True
        if not self._throttle_logged:
            self._throttle_logged = True
            event(log, "candle timestamps ahead of the wall clock; throttling", logging.WARNING,
                  worker=self.index, timestamp=timestamp, max_ahead=self.plan.max_ahead)
        return self._wait_until(time.monotonic() + ahead)

    def _send(self, n: int) -> None:
        chunk, self._buf = self._buf[:n], self._buf[n:]
        if self._buf:
            self._buf_since = time.monotonic()
        result = self.pusher.push(chunk)
        if self.on_settled is not None:
            self.on_settled(chunk, result)

    def _flush_all(self) -> None:
        while self._buf:
            self._send(min(len(self._buf), self.plan.batch))


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Runner:
    """Starts the workers of a plan, reports progress, stops them, and sums up the run."""

    plan: Plan
    ingest_url: str
    # Bearer token for ingest; kept out of repr() so that it never ends up in a log line.
    token: str | None = field(default=None, repr=False)
    max_retries: int | None = None
    timeout: float = 10.0
    shutdown_timeout: float = 10.0
    log_interval: float = 5.0
    progress: bool = False
    stats: PushStats = field(default_factory=PushStats)
    stop: threading.Event = field(default_factory=threading.Event)
    give_up: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        p = self.plan
        self.sims = MarketSimulator.partitioned(p.symbols, p.workers, p.seed, p.first_timestamp, p.first_interval,
                                                p.mix)
        self.workers: list[Worker] = []
        self.ready = False
        self.interrupted = False
        self._sample_lock = threading.Lock()
        self._bar_lock = threading.Lock()
        self._finished_lock = threading.Lock()
        self._finished = 0
        self._sample_rng = random.Random(p.seed)
        self._bar: Any = None
        self._started_at = time.monotonic()

    # hooks for the HTTP app
    def sample(self) -> dict:
        with self._sample_lock:
            sim = self._sample_rng.choice(self.sims)
            return sim.sample(timestamp=time.time())

    def candles(self) -> int:
        return sum(w.candles for w in self.workers)

    def extra_metrics(self) -> list[tuple[str, str, str, float, dict[str, str]]]:
        return [
            ("tickflow_generator_candles", "counter", "Candles generated.", self.candles(), {}),
            ("tickflow_generator_records_in_flight", "gauge", "Records sent but not yet settled.",
             self.stats.in_flight, {}),
            ("tickflow_generator_workers", "gauge", "Worker threads.", len(self.sims), {}),
            ("tickflow_generator_ready", "gauge", "1 once the workers run.", int(self.ready), {}),
        ]

    def request_stop(self) -> None:
        """First call: stop producing, flush, bounded wait.  Second call: give up at once."""
        if self.stop.is_set():
            self.give_up.set()
        self.interrupted = True
        self.stop.set()
        self.wake.set()

    def _worker_finished(self) -> None:
        with self._finished_lock:
            self._finished += 1
            if self._finished == len(self.workers):
                self.wake.set()

    def _on_settled(self, chunk: list[dict], result: PushResult) -> None:
        if self._bar is not None:
            with self._bar_lock:
                self._bar.update(sum(1 for r in chunk if is_candle(r)))

    def run(self) -> int:
        """Run until done (finite) or stopped; returns the exit status."""
        p = self.plan
        if self.progress and p.count:
            from tqdm import tqdm

            self._bar = tqdm(total=p.count + p.history * len(p.symbols), unit="candle", file=sys.stderr,
                             dynamic_ncols=True)
        event(
            log, "generator starting", symbols=",".join(p.symbols), workers=len(self.sims),
            rate=p.rate if p.rate is not None else "max", seed=p.seed, start=p.start,
            interval=p.interval, batch=p.batch, count=p.count, ingest_url=self.ingest_url,
            auth=bool(self.token),
        )
        self._started_at = time.monotonic()
        for i, sim in enumerate(self.sims):
            pusher = Pusher(
                self.ingest_url, token=self.token, stats=self.stats, max_retries=self.max_retries,
                timeout=self.timeout, give_up=self.give_up, name=f"worker-{i}",
            )
            self.workers.append(Worker(i, sim, p, pusher, self.stop, on_settled=self._on_settled,
                                       on_finished=self._worker_finished))
        for w in self.workers:
            w.start()
        self.ready = True
        reporter_done = threading.Event()
        reporter = threading.Thread(target=self._report_loop, args=(reporter_done,), daemon=True,
                                    name="generator-report")
        reporter.start()

        while not self.wake.wait(1.0):
            pass
        if self.stop.is_set():
            event(log, "stopping: flushing buffered records", in_flight=self.stats.in_flight,
                  timeout=self.shutdown_timeout)
            timer = threading.Timer(self.shutdown_timeout, self.give_up.set)
            timer.daemon = True
            timer.start()
            deadline = time.monotonic() + self.shutdown_timeout + self.timeout + 2.0
            for w in self.workers:
                w.join(max(0.0, deadline - time.monotonic()))
            timer.cancel()
        else:
            for w in self.workers:  # all of them signalled that they finished
                w.join()
        reporter_done.set()
        reporter.join(2.0)
        if self._bar is not None:
            self._bar.close()
        return self._finish()

    def _report_loop(self, done: threading.Event) -> None:
        last_t, last_candles = time.monotonic(), 0
        while not done.wait(self.log_interval):
            now, candles = time.monotonic(), self.candles()
            rate = (candles - last_candles) / max(now - last_t, 1e-9)
            last_t, last_candles = now, candles
            event(log, "generator progress", candles=candles, candles_per_s=round(rate, 1),
                  **self.stats.snapshot(), in_flight=self.stats.in_flight)

    def summary(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self._started_at
        snap = self.stats.snapshot()
        return {
            "candles": self.candles(),
            **snap,
            "elapsed_s": round(elapsed, 3),
            "records_per_s": round(snap["sent"] / elapsed, 1) if elapsed > 0 else None,
            "interrupted": self.interrupted,
            "stuck_workers": sum(1 for w in self.workers if w.is_alive()),
        }

    def _finish(self) -> int:
        summary = self.summary()
        crashed = [w.index for w in self.workers if w.error is not None]
        failed = summary["rejected"] > 0 or summary["undelivered"] > 0 or bool(crashed)
        level = logging.WARNING if failed else logging.INFO
        event(log, "generator summary", level, **summary, crashed_workers=crashed,
              rejection_samples=self.stats.rejection_samples[:MAX_LOGGED_REASONS])
        print(orjson.dumps({"summary": summary}).decode(), flush=True)
        if self.interrupted:
            return 0
        if crashed:
            return 1
        if self.plan.count is not None and failed:
            return 1
        return 0
