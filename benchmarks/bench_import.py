"""Benchmark `risingrisk import fhir` on a generated bulk-export NDJSON set; record resources per second and peak memory.

Run: ``PYTHONPATH=. python benchmarks/bench_import.py --size-gb 1`` (generates the set in a temporary
folder unless ``--data`` names an existing one; writes ``benchmarks/results/import.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from machine_info import describe

__all__ = ["main"]

RESULTS = Path(__file__).parent / "results" / "import.json"
_SETTINGS = (("EMER", None), ("IMP", "emd"), ("IMP", None), ("AMB", None), ("HH", None))
_SNOMED = ("44054006", "195967001", "38341003", "73211009", "32911000", "160903007")


def _machine() -> dict[str, object]:
    import orjson
    import pyarrow

    return describe(pyarrow=pyarrow.__version__, orjson=orjson.__version__, load_average=os.getloadavg())


def generate(folder: Path, size_gb: float, seed: int = 1) -> dict[str, int]:
    """Write Patient, Encounter, Condition, Observation and Claim NDJSON until the folder holds ``size_gb`` GB."""
    import random

    import orjson

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    handles = {name: (folder / f"{name}.ndjson").open("wb") for name in ("Patient", "Encounter", "Condition", "Observation", "Claim")}
    target, written, counts, person = size_gb * 1e9, 0, dict.fromkeys(handles, 0), 0
    start = date(2018, 1, 1)
    while written < target:
        person += 1
        pid = f"pat-{person:09d}"
        resources = [("Patient", {"resourceType": "Patient", "id": pid, "gender": rng.choice(("male", "female")),
                                  "birthDate": (start - timedelta(days=rng.randrange(365 * 90))).isoformat(),
                                  "meta": {"lastUpdated": "2024-01-01T00:00:00Z"}})]
        for number in range(rng.randrange(5, 40)):
            klass, source = rng.choice(_SETTINGS)
            eid = f"{pid}-e{number}"
            when = datetime(2018, 1, 1) + timedelta(minutes=rng.randrange(60 * 24 * 365 * 6))
            encounter = {"resourceType": "Encounter", "id": eid, "status": "finished", "class": {"code": klass},
                         "subject": {"reference": f"Patient/{pid}"}, "period": {"start": when.isoformat() + "Z"},
                         "meta": {"lastUpdated": (when + timedelta(days=2)).isoformat() + "Z"}}
            if source:
                encounter["hospitalization"] = {"admitSource": {"coding": [{"code": source}]}}
            resources.append(("Encounter", encounter))
            resources.append(("Claim", {"resourceType": "Claim", "id": f"{eid}-c", "item": [{"encounter": [{"reference": f"Encounter/{eid}"}]}],
                                        "total": {"value": round(rng.uniform(30, 3000), 2), "currency": "GBP"}}))
            resources.append(("Observation", {"resourceType": "Observation", "id": f"{eid}-o", "status": "final",
                                              "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when.isoformat() + "Z",
                                              "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                                              "valueQuantity": {"value": rng.uniform(150, 190), "unit": "cm"}}))
        for number in range(rng.randrange(0, 6)):
            resources.append(("Condition", {"resourceType": "Condition", "id": f"{pid}-k{number}", "subject": {"reference": f"Patient/{pid}"},
                                            "code": {"coding": [{"system": "http://snomed.info/sct", "code": rng.choice(_SNOMED)}]},
                                            "onsetDateTime": (start + timedelta(days=rng.randrange(2000))).isoformat(),
                                            "recordedDate": "2024-01-02T00:00:00Z"}))
        for name, body in resources:
            line = orjson.dumps(body) + b"\n"
            handles[name].write(line)
            written += len(line)
            counts[name] += 1
    for handle in handles.values():
        handle.close()
    return counts


def _run_once(data: Path) -> dict[str, object]:
    """Import ``data`` into a temporary folder; return the time, peak memory and counts."""
    from features.importers.fhir import import_fhir

    with tempfile.TemporaryDirectory(prefix="bench_import_") as out:
        start = time.perf_counter()
        report = import_fhir(data, Path(out) / "contract")
        seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": round(seconds, 1),
        "resources_read": report.read,
        "resources_mapped": report.mapped,
        "resources_per_second": round(report.read / seconds),
        "peak_rss_gib": round(peak_kib / 2**20, 3),
        "rows_written": report.rows_written,
    }


def main(argv: list[str] | None = None) -> None:
    """Generate (or reuse) the NDJSON set, import it once in a fresh process, write the summary JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gb", type=float, default=1.0, help="size of the generated NDJSON set in GB (10^9 bytes)")
    parser.add_argument("--data", type=Path, default=None, help="an existing NDJSON folder to import instead of generating one")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to write")
    parser.add_argument("--once", action="store_true", help="internal: one import of --data, JSON on stdout")
    args = parser.parse_args(argv)
    if args.once:
        print(json.dumps(_run_once(args.data)))
        return
    with tempfile.TemporaryDirectory(prefix="bench_import_data_") as scratch:
        data = args.data or Path(scratch) / "ndjson"
        generated = generate(data, args.size_gb) if args.data is None else None
        size = sum(path.stat().st_size for path in data.rglob("*") if path.is_file())
        load_before = os.getloadavg()
        done = subprocess.run(
            [sys.executable, __file__, "--data", str(data), "--once"], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])},
        )
        run = json.loads(done.stdout.strip().splitlines()[-1])
    summary = {
        "benchmark": "risingrisk import fhir (features.importers.fhir.import_fhir), generated bulk-export NDJSON, one fresh process",
        "data": str(args.data) if args.data else f"generated, seed 1, --size-gb {args.size_gb}",
        "input_bytes": size,
        "generated_resources": generated,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "load_average_before": load_before,
        **run,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
