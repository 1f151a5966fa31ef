"""A fake Slurm CLI for tests: `python fake_slurm.py scontrol|squeue ARGS...`.

The jobs live in the JSON file named by $FAKE_SLURM_STATE (a list of {"job_id", "array_job_id",
"name", "state", "reason", "throttle"|null}); every call's argv is appended to $FAKE_SLURM_CALLS
(JSON lines). It accepts only the argument shapes the actuator should use, prints what the real
tools print for them (squeue --format, scontrol show job --oneliner), moves the state the way
slurmctld would, and errors like the real tools on unknown jobs and wrong states.
$FAKE_SLURM_DOWN=1 makes every call fail as when slurmctld is unreachable; $FAKE_SLURM_SLEEP
delays every call (for timeouts). `install(dir)` writes `scontrol` and `squeue` wrappers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def install(bin_dir: Path) -> None:
    """Write executable `scontrol` and `squeue` wrappers into bin_dir (to put first on PATH)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("scontrol", "squeue"):
        path = bin_dir / tool
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE}" {tool} "$@"\n', "utf-8")
        path.chmod(0o755)


def _fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    sys.exit(1)


def _matching(jobs: list[dict[str, Any]], jid: str) -> list[dict[str, Any]]:
    found = [j for j in jobs if jid in (j["job_id"], j["array_job_id"])]
    if not found:
        _fail("scontrol: error: Invalid job id specified")
    return found


def squeue(jobs: list[dict[str, Any]], args: list[str]) -> None:
    names = [a.split("=", 1)[1] for a in args if a.startswith("--name=")]
    if args[:1] != ["--noheader"] or "--format=%F|%T|%r" not in args or len(names) != 1:
        _fail(f"fake squeue: unexpected arguments {args}")
    for j in jobs:
        if j["name"] == names[0] and j["state"] not in ("COMPLETED", "CANCELLED"):
            print(f"{j['array_job_id']}|{j['state']}|{j['reason']}")


def scontrol(jobs: list[dict[str, Any]], args: list[str]) -> None:
    verb = args[0] if args else ""
    if verb in ("suspend", "resume", "requeuehold", "release") and len(args) == 2:
        for j in _matching(jobs, args[1]):
            state = j["state"]
            if verb == "suspend":
                if state != "RUNNING":
                    _fail("scontrol: error: Job is no longer running")
                j["state"] = "SUSPENDED"
            elif verb == "resume":
                if state != "SUSPENDED":
                    _fail("scontrol: error: Job is not suspended")
                j["state"] = "RUNNING"
            elif verb == "requeuehold":
                if state not in ("RUNNING", "SUSPENDED"):
                    _fail("scontrol: error: Job is not running")
                j["state"], j["reason"] = "PENDING", "JobHeldUser"
            else:
                if not j["reason"].startswith("JobHeld"):
                    _fail("scontrol: error: Job is not held")
                j["reason"] = "Priority"
        return
    if verb == "update" and len(args) == 3 and args[1].startswith("JobId="):
        key, _, value = args[2].partition("=")
        if key != "ArrayTaskThrottle" or not value.isdigit():
            _fail(f"fake scontrol: unexpected update {args[2]}")
        for j in _matching(jobs, args[1].split("=", 1)[1]):
            if j.get("throttle") is None:
                _fail("scontrol: error: Job is not a job array")
            j["throttle"] = int(value)
        return
    if args[:2] == ["show", "job"] and len(args) == 4 and args[3] == "--oneliner":
        j = _matching(jobs, args[2])[0]
        array = (f" ArrayJobId={j['array_job_id']} ArrayTaskId=0-15 "
                 f"ArrayTaskThrottle={j['throttle']}" if j.get("throttle") is not None else "")
        print(f"JobId={j['job_id']}{array} JobName={j['name']} UserId=train(1201) "
              f"JobState={j['state']} Reason={j['reason']} Partition=gpu NumNodes=2 "
              "TRES=cpu=128,gres/gpu=16")
        return
    _fail(f"fake scontrol: unexpected arguments {args}")


def main(argv: list[str]) -> None:
    tool, args = argv[0], argv[1:]
    with open(os.environ["FAKE_SLURM_CALLS"], "a", encoding="utf-8") as log:
        log.write(json.dumps([tool, *args]) + "\n")
    time.sleep(float(os.environ.get("FAKE_SLURM_SLEEP", "0")))
    if os.environ.get("FAKE_SLURM_DOWN") == "1":
        _fail(f"{tool}: error: slurm_load_jobs error: Unable to contact slurm controller "
              "(connect failure)")
    state = Path(os.environ["FAKE_SLURM_STATE"])
    jobs = json.loads(state.read_text("utf-8"))
    (squeue if tool == "squeue" else scontrol)(jobs, args)
    state.write_text(json.dumps(jobs), "utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
