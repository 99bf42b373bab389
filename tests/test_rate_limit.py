"""Per-token rate limits held in the database: one bucket per token shared by every worker process and kept across restarts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from database_support import database_url  # noqa: F401 - fixture
from features.database import RateBucket, create_database_engine, upgrade
from serving.rate_limit import TokenBuckets

ROOT = Path(__file__).resolve().parents[1]
#: A fixed wall-clock moment (Unix seconds, 2027-01-15): buckets see no refill unless a test moves it.
T0 = 1_800_000_000.0


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def url(database_url: str) -> str:  # noqa: F811
    upgrade(database_url)
    return database_url


@pytest.fixture
def engines(url: str) -> Iterator[list[Engine]]:
    """Two engines on one database, each with its own connections: two service workers."""
    made = [create_database_engine(url), create_database_engine(url)]
    yield made
    for engine in made:
        engine.dispose()


def allowed(buckets: TokenBuckets, key: str, times: int) -> int:
    return sum(buckets.take(key) == 0.0 for _ in range(times))


def test_two_workers_sharing_the_database_allow_exactly_the_burst_between_them(engines: list[Engine]) -> None:
    clock = Clock()
    first, second = (TokenBuckets(rate=2.0, burst=5, database=engine, clock=clock) for engine in engines)
    decisions = [(first if i % 2 == 0 else second).take("tok1") for i in range(8)]
    assert decisions == [0.0] * 5 + [0.5] * 3
    assert first.take("tok2") == second.take("tok2") == 0.0  # other tokens have their own buckets


def test_a_restarted_worker_sees_the_bucket_its_predecessor_used(url: str) -> None:
    clock = Clock()
    before = create_database_engine(url)
    assert allowed(TokenBuckets(rate=0.5, burst=4, database=before, clock=clock), "tok1", 3) == 3
    before.dispose()
    clock.now += 1.0  # the restart took a second: half a request refilled
    after = create_database_engine(url)
    restarted = TokenBuckets(rate=0.5, burst=4, database=after, clock=clock)
    assert restarted.take("tok1") == 0.0
    assert restarted.take("tok1") == pytest.approx(1.0)  # 0.5 left, another 0.5 needs one second
    after.dispose()


def test_a_bucket_refills_at_its_rate_and_never_beyond_its_burst(engines: list[Engine]) -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, database=engines[0], clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]
    clock.now += 1.0  # two requests' worth
    assert [buckets.take("a") == 0.0 for _ in range(3)] == [True, True, False]
    clock.now += 100.0
    assert [buckets.take("a") == 0.0 for _ in range(4)] == [True, True, True, False]


def test_waiting_exactly_the_refill_time_is_enough_at_todays_epoch(engines: list[Engine]) -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=20.0, burst=1, database=engines[0], clock=clock)
    assert [buckets.take("a") for _ in range(2)] == [0.0, pytest.approx(0.05)]
    for step in range(1, 101):  # T0 + 0.05 k is not exact in floating point near 1.8e9 s; whole microseconds are
        clock.now = T0 + 0.05 * step
        assert buckets.take("a") == 0.0


def test_a_clock_stepping_back_refills_nothing_and_never_refills_the_same_time_twice(engines: list[Engine]) -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=2, database=engines[0], clock=clock)
    assert allowed(buckets, "a", 2) == 2
    clock.now = T0 - 60.0  # another host's clock, a minute behind
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now = T0 + 0.5  # half a second after the bucket was emptied: one request, not a minute's worth
    assert [buckets.take("a") == 0.0 for _ in range(2)] == [True, False]


def test_the_bucket_row_holds_the_token_id_and_its_level_never_the_token(engines: list[Engine]) -> None:
    buckets = TokenBuckets(rate=1.0, burst=3, database=engines[0], clock=Clock())
    buckets.take("a1b2c3d4")
    with engines[0].connect() as connection:
        rows = connection.execute(select(RateBucket.__table__)).all()
    assert [tuple(row) for row in rows] == [("a1b2c3d4", 2.0, 1_800_000_000_000_000, True)]


def test_a_rate_of_zero_means_no_limit_and_never_touches_the_database(tmp_path: Path) -> None:
    unmigrated = create_database_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")  # no rate_buckets table at all
    assert [TokenBuckets(rate=0.0, burst=1, database=unmigrated).take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    unmigrated.dispose()


def test_the_retry_after_header_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    assert [TokenBuckets.retry_after(wait) for wait in (0.01, 1.0, 1.2, 99.99)] == ["1", "1", "2", "100"]


def test_threads_of_two_workers_hammering_one_token_never_exceed_the_burst(engines: list[Engine]) -> None:
    clock = Clock()
    workers = [TokenBuckets(rate=1.0, burst=30, database=engine, clock=clock) for engine in engines]
    counts: list[int] = []
    lock = threading.Lock()

    def hammer(buckets: TokenBuckets) -> None:
        count = allowed(buckets, "tok1", 25)
        with lock:
            counts.append(count)

    threads = [threading.Thread(target=hammer, args=(workers[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(counts), sum(counts)) == (6, 30)


_WORKER = """
import sys
from features.database import create_database_engine
from serving.rate_limit import TokenBuckets
engine = create_database_engine(sys.argv[1])
buckets = TokenBuckets(rate=1.0, burst=int(sys.argv[2]), database=engine, clock=lambda: float(sys.argv[3]))
buckets.take("warm-up")
print("ready", flush=True)
sys.stdin.readline()  # both processes start spending at once
print(sum(buckets.take("tok1") == 0.0 for _ in range(int(sys.argv[4]))), flush=True)
"""


def test_two_worker_processes_hammering_one_token_never_exceed_the_burst(url: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", _WORKER, url, "150", str(T0), "200"]
    workers = [subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    assert [worker.stdout.readline() for worker in workers] == ["ready\n", "ready\n"]
    counts = []
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        out, errors = worker.communicate(timeout=300)
        assert worker.returncode == 0, errors
        counts.append(int(out))
    assert sum(counts) == 150
