"""Benchmark the served API under load: explanation and list latency/throughput at 1, 8, 32 clients (wrk on loopback).

Runs ``risingrisk serve`` (bentoml serve) as a subprocess on a home holding a publication and its
champion model, and drives it with ``wrk`` (Debian package ``wrk``) from a second process. With
``--home`` it serves that home as is (e.g. the 1,000,000-person publication made by
``risingrisk score``); otherwise it builds a home with a synthetic publication of ``--people``
people in the documented publication format (all 85 model features, 19 neighbourhoods, about
8 timeline rows a person), written by ``serving.publish.publish`` and scored by a small LightGBM
model registered in the home's MLflow registry. Runs above 200,000 people belong under
``flock /work/heavy.lock``.

Usage::
    flock /work/heavy.lock python benchmarks/bench_service.py --people 1000000 --seconds 20 --long-seconds 300
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import quote

import bentoml
import httpx
import mlflow
import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.contract import SETTINGS
from features.definitions import predictor_specs
from features.home import Home
from machine_info import describe
from models.risk_model import RiskModel
from serving.auth import TokenStore
from serving.capacity import CapacityConfig
from serving.publish import publish
from serving.publish import current_publication
from serving.score import ScoreConfig, score_population
from training.registry import MODEL_NAME, log_and_register
from training.tracking import configure_tracking

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results" / "service.json"
WORK = Path(__file__).parent / "work"
NEIGHBOURHOODS = [
    "A1 Network", "Huntingdon", "St Neots", "St Ives", "BMC Paston", "Central", "Thistlemoor & Thorpe",
    "South Peterborough", "Peterborough Partnerships", "Bretton Park & Hampton", "Peterborough & East", "Wisbech",
    "Fenland", "South Fenland", "Granta", "Cantab", "Ely South", "Ely North", "Meridian",
]
AS_OF = date(2026, 11, 1)

WRK_SCRIPT = r"""
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
local threads = {}
function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end
function init(args)
  n5xx = 0; n4xx = 0; n2xx = 0
  counter = offset
end
function request()
  counter = counter + 1
  local path = paths[(counter %% #paths) + 1]
  return wrk.format("GET", path, {["Authorization"] = "Bearer %(token)s"})
end
function response(status, headers, body)
  if status >= 500 then n5xx = n5xx + 1 elseif status >= 400 then n4xx = n4xx + 1 else n2xx = n2xx + 1 end
end
function done(summary, latency, requests)
  local s5, s4, s2 = 0, 0, 0
  for _, t in ipairs(threads) do s5 = s5 + t:get("n5xx"); s4 = s4 + t:get("n4xx"); s2 = s2 + t:get("n2xx") end
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_ms": %%.3f, "p90_ms": %%.3f, "p99_ms": %%.3f, "max_ms": %%.3f, ' ..
    '"mean_ms": %%.3f, "status_2xx": %%d, "status_4xx": %%d, "status_5xx": %%d, "socket_errors": %%d, ' ..
    '"connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, "timeouts": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000, s2, s4, s5,
    summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


def _machine() -> dict[str, object]:
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return describe(
        bentoml=bentoml.__version__,
        load_tool=(wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "wrk",
        load_average_at_start=list(os.getloadavg()),
    )


def _synthetic_features(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Predictor columns of the default feature config with plausible marginal distributions."""
    columns: dict[str, np.ndarray] = {}
    for name, spec in predictor_specs(FeatureConfig()).items():
        if spec.kind == "count":
            columns[name] = rng.poisson(0.35, n).astype("float64")
        elif spec.kind == "flag":
            columns[name] = (rng.random(n) < 0.08).astype("float64")
        elif spec.kind in ("months_since", "days_since"):
            columns[name] = np.where(rng.random(n) < 0.15, rng.integers(0, 300, n), np.nan)
        elif spec.kind == "trend":
            columns[name] = rng.integers(-3, 4, n).astype("float64")
        elif name == "age":
            columns[name] = rng.integers(0, 100, n).astype("float64")
        elif name == "imd_decile":
            columns[name] = rng.integers(1, 11, n).astype("float64")
        else:
            columns[name] = rng.gamma(1.5, 200.0, n)
    return pd.DataFrame(columns)


def build_synthetic_home(root: Path, people: int, seed: int = 7) -> dict[str, object]:
    """A home with a registered champion and a publication of ``people`` synthetic people (documented format)."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    home = Home(root).ensure()
    X = _synthetic_features(60_000, rng)
    signal_ = 0.6 * X.filter(like="ed_").sum(axis=1) + 0.8 * X.filter(regex=r"^sn_[a-z_]+$").sum(axis=1) - 3.5
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-signal_))).astype(int)
    model = RiskModel(n_estimators=300, learning_rate=0.05, num_leaves=31, early_stopping_rounds=30, n_jobs=2)
    model.fit(X.iloc[:40_000], y[:40_000], X_valid=X.iloc[40_000:50_000], y_valid=y[40_000:50_000])
    model.calibrate(X.iloc[50_000:], y[50_000:], method="platt")
    configure_tracking(home)
    config = FeatureConfig()
    with mlflow.start_run():
        version = log_and_register(
            model, name=MODEL_NAME, example=X.head(5),
            metadata={"feature_names": list(X.columns), "outcome": config.outcome, "feature_config": config.to_dict(),
                      "training_window": {"train": ["2024-05-01"], "calibrate": ["2025-05-01"]}},
            aliases=("champion",),
        )
    features = _synthetic_features(people, rng)
    ids = np.char.add("P", np.char.zfill(np.arange(1, people + 1).astype(str), 7))
    excluded = np.where(rng.random(people) < 0.02, "end_of_life", None)
    table = pd.concat([
        pd.DataFrame({
            "person_id": pd.array(ids, dtype="str"),
            "as_of": pd.Timestamp(AS_OF),
            "neighbourhood": pd.array(np.asarray(NEIGHBOURHOODS)[rng.integers(0, len(NEIGHBOURHOODS), people)], dtype="str"),
            "in_cohort": excluded == None,  # noqa: E711 - elementwise on an object array
            "excluded_reason": pd.array(excluded, dtype="str"),
        }),
        features,
    ], axis=1)
    del features
    result = score_population(table, model, config=ScoreConfig(capacity=CapacityConfig(per_thousand=6.0)))
    del table
    per_person = rng.poisson(8, people)
    person = np.repeat(np.arange(people), per_person)
    key = person.astype(np.int64) * 240 + rng.integers(0, 24, person.size) * 10 + rng.integers(0, 10, person.size)
    key, count = np.unique(key, return_counts=True)

    months = pd.date_range("2024-11-01", periods=24, freq="MS").date
    timeline = pd.DataFrame({
        "person_id": pd.array(ids[key // 240], dtype="str"),
        "month": np.asarray(months)[(key % 240) // 10],
        "setting": pd.array(np.asarray(SETTINGS)[key % 10], dtype="str"),
        "count": count.astype("int64"),
    })
    publication = publish(
        home, population=result.population, lists=result.lists, features=result.features, timeline=timeline,
        metadata={"model_name": MODEL_NAME, "model_version": version, "as_of": AS_OF.isoformat(),
                  "extract_date": "2026-10-31", "rows_in": result.rows_in, "rows_scored": result.rows_scored,
                  "rows_excluded": result.rows_excluded, "list_sizes": result.list_sizes,
                  "explanation_space": "probability", "synthetic": True},
    )
    return {"publication_id": publication.id, "timeline_rows": len(timeline), "listed": len(result.lists),
            "build_seconds": round(time.perf_counter() - started, 1)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants (the bentoml arbiter and its worker)."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            total += int(next(line.split()[1] for line in Path(f"/proc/{p}/status").read_text().splitlines() if line.startswith("VmRSS")))
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
        pids += [int(c) for c in children]
    return round(total / 1024, 1)


def _wrk(base: str, paths_file: Path, token: str, *, clients: int, seconds: int, script_dir: Path) -> dict[str, object]:
    script = script_dir / "bench.lua"
    script.write_text(WRK_SCRIPT % {"paths": str(paths_file), "token": token})
    threads = min(clients, 2)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script), base],
        capture_output=True, text=True, check=True,
    ).stdout
    match = re.search(r"WRKJSON (\{.*\})", out)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    result = json.loads(match.group(1))
    result["throughput_rps"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    result["clients"] = clients
    result["seconds"] = seconds
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="serve this home (publication + champion) instead of a synthetic one")
    parser.add_argument("--people", type=int, default=200_000, help="people in the synthetic publication")
    parser.add_argument("--seconds", type=int, default=20, help="seconds per (endpoint, clients) run")
    parser.add_argument("--long-seconds", type=int, default=300, help="seconds of the 32-client soak run (0 = skip)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--settle-seconds", type=int, default=45, help="wait after /readyz before measuring")
    parser.add_argument("--workers", type=int, default=2, help="service worker processes (risingrisk serve --workers)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()


    report: dict[str, object] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "service_workers": args.workers,
    }
    if args.home is not None:
        home = Home(args.home.absolute())
        report["publication_source"] = f"existing home {home.root}"
    else:
        root = WORK / f"service-home-{args.people}"
        home = Home(root)
        if current_publication(home) is None:
            print(f"building a synthetic publication of {args.people:,} people in {root} ...", flush=True)
            report["synthetic_build"] = build_synthetic_home(root, args.people)
        report["publication_source"] = "synthetic publication in the documented format (benchmarks/bench_service.py)"
    publication = current_publication(home)
    if publication is None:
        raise SystemExit(f"no publication in {home.root}; run risingrisk score first")
    if publication.metadata.get("synthetic"):
        report["publication_source"] = "synthetic publication in the documented format (benchmarks/bench_service.py)"
    population = pd.read_parquet(publication.path / "population.parquet", columns=["person_id", "score"])
    scored = population.loc[population["score"].notna(), "person_id"].to_numpy()
    listed = pd.read_parquet(publication.path / "lists.parquet", columns=["person_id"])["person_id"].to_numpy()
    report["publication"] = {"id": publication.id, "people": len(population), "scored": len(scored),
                             "list_sizes_total": int(sum(publication.metadata.get("list_sizes", {}).values()))}
    del population
    token = TokenStore(home.tokens).create(phm=True, label="benchmark")[1]

    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        tmpdir = Path(tmp)
        rng = np.random.default_rng(1)
        people_file = tmpdir / "people.txt"
        people_file.write_text("\n".join(f"/v1/people/{p}/explanation" for p in rng.choice(scored, size=min(20_000, len(scored)), replace=False)) + "\n")
        listed_file = tmpdir / "listed.txt"
        listed_file.write_text("\n".join(f"/v1/people/{p}/explanation" for p in rng.permutation(listed)) + "\n")
        lists_file = tmpdir / "lists.txt"
        names = sorted(publication.metadata.get("list_sizes", {}))

        lists_file.write_text("\n".join(f"/v1/neighbourhoods/{quote(n)}/list" for n in names) + "\n")
        port = _free_port()
        log = open(tmpdir / "serve.log", "wb")
        started = time.perf_counter()
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("risingrisk")), "serve", "--port", str(port), "--home", str(home.root), "--workers", str(args.workers)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                if server.poll() is not None:
                    raise SystemExit((tmpdir / "serve.log").read_text()[-3000:])
                try:
                    ready = httpx.get(base + "/readyz", timeout=5)
                    if ready.status_code == 200:
                        break
                    if ready.status_code == 503:
                        raise SystemExit(f"service not ready: {ready.text}")
                except httpx.TransportError:
                    time.sleep(1)
            report["startup_seconds"] = round(time.perf_counter() - started, 1)
            print(f"ready in {report['startup_seconds']} s; settling {args.settle_seconds} s (listed people are explained in the background)", flush=True)
            time.sleep(args.settle_seconds)
            report["server_rss_mib"] = _rss_mib(server.pid)
            report["settle_seconds"] = args.settle_seconds
            runs = []
            workloads = (
                ("explanation_random_scored_person", people_file),
                ("explanation_listed_person", listed_file),
                ("list", lists_file),
            )
            for endpoint, paths in workloads:
                _wrk(base, paths, token, clients=8, seconds=3, script_dir=tmpdir)  # warm-up
                for clients in args.clients:
                    result = {"endpoint": endpoint, **_wrk(base, paths, token, clients=clients, seconds=args.seconds, script_dir=tmpdir)}
                    print(json.dumps(result), flush=True)
                    runs.append(result)
            report["runs"] = runs
            if args.long_seconds:
                soak = {"endpoint": "explanation_random_scored_person", **_wrk(base, people_file, token, clients=32, seconds=args.long_seconds, script_dir=tmpdir)}
                print(json.dumps(soak), flush=True)
                report["soak_32_clients"] = soak
            report["server_rss_mib_after"] = _rss_mib(server.pid)
            log.flush()
            served_log = (tmpdir / "serve.log").read_text(errors="replace")
            # a worker (re)start prints this once; more than --workers means a worker died and was restarted
            report["worker_starts"] = served_log.count("Service risingrisk initialized")
            kept = WORK / f"serve-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(served_log)
            report["server_log"] = str(kept)
            report["load_average_at_end"] = list(os.getloadavg())
            report["server_alive_after"] = server.poll() is None
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
            log.close()
    for workload in ("explanation_random_scored_person", "explanation_listed_person"):
        target = next((r for r in report["runs"] if r["endpoint"] == workload and r["clients"] == 8), None)
        report[f"target_p99_under_100ms_at_8_clients_{workload}"] = bool(
            target and target["p99_ms"] < 100 and target["status_5xx"] == 0 and target["socket_errors"] == 0
        )
    if "soak_32_clients" in report:
        soak = report["soak_32_clients"]
        report["target_soak_zero_5xx"] = soak["status_5xx"] == 0 and soak["socket_errors"] == 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
