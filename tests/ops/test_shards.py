"""Sharded runs end to end: shards in real worker processes (a local pool, a Dask LocalCluster,
Ray, a Dask scheduler with two worker processes on PostgreSQL), each on a read-only store, and
a merged report and export equal to the single-process run's.

A lost worker is a real one: the shard's own process is killed (SIGKILL) once it has closed a
day (:class:`~ops.shards.WorkerKill`), so the loss comes at a known point of the run, not at a
moment of the wall clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from support.cli import run_cli
from support.engine import example_dict
from support.stores import dump, postgres_schema_url

from actors.system import MarketSessionSystem
from domain.config import SessionConfig
from domain.errors import ShardError
from domain.report import RunReport
from ops.bench.workload import Workload, build_workload
from ops.export import SessionBarExporter
from ops.shards import ShardsProgress, WorkerKill, executors, run_sharded

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "session_configs" / "example_session.json"


def single(config: SessionConfig, url: str, *, export: bool = False) -> tuple[RunReport, SessionBarExporter]:
    exporter = SessionBarExporter()
    with MarketSessionSystem(config, url, speed=0) as engine:
        if export:
            engine.subscribe(exporter, exporter.events, name="export")
        return engine.run(timeout=120), exporter


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, SessionConfig, RunReport, SessionBarExporter]:
    """The example on the demo store (``marketsession demo``): its single-process report and bars."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    done = run_cli("demo", "--no-progress", db=url)
    assert done.code == 0, done.err
    config = SessionConfig.from_file(EXAMPLE)
    return url, config, *single(config, url, export=True)


@pytest.fixture(scope="module")
def demo(
    demo_run: tuple[str, SessionConfig, RunReport, SessionBarExporter],
) -> tuple[str, SessionConfig, RunReport]:
    return demo_run[:3]


@pytest.fixture(scope="module")
def forty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workload, SessionConfig, RunReport]:
    """40 demo symbols × 4 days with trailing daily bars and indicators, and the single run."""
    workload = build_workload(tmp_path_factory.mktemp("forty"), 40, 4, history_1d=12)
    config = workload.config(
        historical={
            "data": [{"trailing_days": 10, "intervals": ["1d"], "apply_to": ["S003", "S027"]}],
            "indicators": {"avg_volume": {"type": "trailing_average", "period": "10d", "field": "volume"}},
        }
    )
    return workload, config, single(config, workload.url)[0]


def exported(directory: Path) -> dict[str, object]:
    return {
        name: pq.read_table(directory / f"{name}.parquet") for name in ("session_bars", "quality", "gaps")
    }


# ------------------------------------------------------------------ equal to a single run


@pytest.mark.parametrize("by", ["symbol", "date"])
def test_the_example_in_shards_reports_and_exports_what_one_process_does(
    demo_run: tuple[str, SessionConfig, RunReport, SessionBarExporter], by: str, tmp_path: Path
) -> None:
    url, config, report, exporter = demo_run
    before = dump(Path(url.removeprefix("sqlite:///")))
    run = run_sharded(config, url, shards=2, by=by, speed=0, export=True)  # type: ignore[arg-type]
    assert run.report.comparable() == report.comparable()
    assert [len(o.shard.symbols if by == "symbol" else o.shard.days) for o in run.outcomes] == (
        [1, 1] if by == "symbol" else [2, 1]
    )
    assert run.exporter is not None and run.exporter.bar_count == exporter.bar_count
    run.exporter.write(tmp_path / "sharded", run.report)
    exporter.write(tmp_path / "single", report)
    sharded, alone = exported(tmp_path / "sharded"), exported(tmp_path / "single")
    assert all(sharded[name].equals(alone[name]) for name in alone)  # type: ignore[attr-defined]
    assert dump(Path(url.removeprefix("sqlite:///"))) == before  # no shard wrote the store


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_forty_symbols_in_four_shards(
    forty: tuple[Workload, SessionConfig, RunReport], executor: str
) -> None:
    workload, config, report = forty
    seen: list[ShardsProgress] = []
    run = run_sharded(config, workload.url, shards=4, executor=executor, speed=0, on_progress=seen.append)
    assert run.report.comparable() == report.comparable()
    assert report.bars_streamed > 40 * 4 * 380 and report.days[0].warnings == ()
    assert [len(o.shard.symbols) for o in run.outcomes] == [10, 10, 10, 10]
    assert all(int(o.worker.split(":")[1]) != os.getpid() for o in run.outcomes)  # in workers
    last = seen[-1]
    assert (last.done, last.shards, last.running, last.retries) == (4, 4, 0, 0)
    assert (last.days_done, last.bars_streamed) == (16, report.bars_streamed)
    assert run.report.timings["shards"][0]["shard"] == "shard 1/4 (S000..S009)"


def test_on_ray(demo: tuple[str, SessionConfig, RunReport]) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    url, config, report = demo
    run = run_sharded(config, url, shards=2, executor="ray", speed=0)
    assert run.report.comparable() == report.comparable()


# ------------------------------------------------------------------ lost workers


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_worker_killed_mid_shard_is_recovered(
    demo: tuple[str, SessionConfig, RunReport], executor: str
) -> None:
    url, config, report = demo
    seen: list[ShardsProgress] = []
    run = run_sharded(
        config, url, shards=2, executor=executor, speed=0, kill=WorkerKill(shard=0), on_progress=seen.append
    )
    assert run.report.comparable() == report.comparable()
    assert [o.attempts for o in run.outcomes] == [2, 1]  # only the killed shard ran again, whole
    assert seen[-1].retries == 1


def test_a_shard_that_keeps_failing_fails_the_run_naming_it(
    demo: tuple[str, SessionConfig, RunReport],
) -> None:
    url, config, _ = demo
    with pytest.raises(ShardError, match=r"shard 2/2 \(AAPL\) failed 2 time\(s\); last: "):
        run_sharded(config, url, shards=2, speed=0, max_attempts=2, kill=WorkerKill(shard=1, attempts=9))


def test_a_store_that_is_not_there_fails_before_any_worker_starts(tmp_path: Path) -> None:
    config = SessionConfig.from_file(EXAMPLE)
    with pytest.raises(Exception, match="does not exist"):
        run_sharded(config, f"sqlite:///{tmp_path / 'none.db'}", shards=2)
    assert not (tmp_path / "none.db").exists()


# ------------------------------------------------------------------ the command line


def test_run_with_shards_writes_the_report_a_single_run_writes(
    demo: tuple[str, SessionConfig, RunReport], tmp_path: Path
) -> None:
    url, _, report = demo
    sharded = run_cli(
        "run", str(EXAMPLE), "--speed", "0", "--shards", "2", "--shard-by", "date",
        "--report", str(tmp_path / "two.json"), "--export", str(tmp_path / "export"), db=url,
    )  # fmt: skip
    assert sharded.code == 0, sharded.err
    assert "2 shard(s) by date on local" in sharded.out
    assert "1,970 bars streamed" in sharded.out
    written = json.loads((tmp_path / "two.json").read_text())
    assert written["timings"]["executor"] == "local"
    assert {k: v for k, v in written.items() if k not in ("timings", "restarts")} == json.loads(
        json.dumps(report.comparable())
    )
    assert (tmp_path / "export" / "session_bars.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("--executor", "spark"), 2, "unknown executor 'spark'"),
        (("--shards", "0"), 2, "'--shards'"),
        (("--shards", "2", "--one-cpu"), 2, "--one-cpu pins one process"),
        (("--executor", "dask://127.0.0.1:9"), 1, "cannot reach the Dask scheduler dask://127.0.0.1:9"),
    ],
)
def test_bad_shard_options_get_one_line(
    demo: tuple[str, SessionConfig, RunReport],
    args: tuple[str, ...],
    code: int,
    says: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(executors, "CONNECT_SECONDS", 0.5)  # nothing listens there: no need to wait 5 s
    done = run_cli("run", str(EXAMPLE), "--no-progress", *args, db=demo[0])
    assert done.code == code
    assert says in done.err and len(done.err.strip().splitlines()) == 1, done.err


# ------------------------------------------------------------------ the compose topology, no containers


@pytest.mark.postgres
def test_a_dask_scheduler_and_two_workers_on_postgresql(tmp_path: Path) -> None:
    """What the compose stack runs, as processes: a scheduler, two single-threaded workers, the
    shared store on PostgreSQL."""
    distributed = pytest.importorskip("distributed")
    with postgres_schema_url() as url:
        for args in (
            ("calendar", "seed", "--start-year", "2025", "--end-year", "2025"),
            ("data", "demo", "--symbols", "RIVN,AAPL", "--start", "2025-07-02", "--end", "2025-07-07"),
        ):
            done = run_cli(*args, db=url)
            assert done.code == 0, done.err
        data = example_dict()  # the example's days and streams, without its trailing history
        data["session_data_config"]["historical"] = {"enable_quality": True, "data": [], "indicators": {}}
        config = SessionConfig.from_dict(data)
        report = single(config, url)[0]
        address_file = tmp_path / "scheduler.json"
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(address_file),
             "--port", "0", "--no-dashboard", "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        workers: list[subprocess.Popen[bytes]] = []
        try:
            with distributed.Client(scheduler_file=str(address_file), timeout=60) as client:
                workers = [
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "distributed.cli.dask_worker",
                            "--scheduler-file",
                            str(address_file),
                            "--nthreads",
                            "1",
                            "--no-nanny",  # the worker is this process (its pid is the shard's)
                            "--no-dashboard",
                            "--host",
                            "127.0.0.1",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        cwd=REPO,
                    )
                    for _ in range(2)
                ]
                client.wait_for_workers(2, timeout=60)
                address = client.scheduler.address.removeprefix("tcp://")
            run = run_sharded(config, url, shards=2, executor=f"dask://{address}", speed=0)
            assert run.report.comparable() == report.comparable()
            assert {int(o.worker.split(":")[1]) for o in run.outcomes} <= {w.pid for w in workers}
        finally:
            for process in (*workers, scheduler):  # nothing of theirs is kept: no clean stop needed
                process.kill()
                process.wait(timeout=30)
