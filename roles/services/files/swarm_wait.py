#!/usr/bin/python3
# Copyright: hive contributors. Licensed under the Apache License 2.0.
"""Waits until services have converged, been rolled back, failed, or are gone.

Argument: base64 of JSON {"services": [{"name", "expect": "present"|"absent"}], "since": <epoch
seconds before the deploy>, "timeout": <seconds>, "settle": <seconds>}. Prints JSON {"results": {name: {"status":
"converged"|"rolled_back"|"failed"|"timeout"|"removed", "message"}}} and always exits 0: the
playbook turns the results into a failure that names the services.

A service has converged when its rolling update (if this deploy started one) completed and as
many tasks as it wants have been running for `settle` seconds (a container that exits right
after it starts is not a running service). An update swarm rolled back, or paused, is a failure; so is a new
service whose tasks keep failing. docker service create/update --detach=false report the same
states, but exit 0 after a rollback (docker/cli#373), which is why hive waits itself.
"""
import base64
import calendar
import json
import sys
import time

import docker

FINAL_FAILED = {
    "rollback_completed": "the update failed and swarm rolled it back: the previous version is serving",
    "rollback_paused": "the update failed and its rollback paused",
    "paused": "the update failed and swarm paused it",
}
# failed tasks of a new service (or a stale-status update) before giving up early
MAX_FAILED_TASKS = 3
# seconds a manager may take to start a rolling update after the spec changed
UPDATE_START_GRACE = 3.0


def parse_time(value):
    """Docker's RFC 3339 UTC time (nanoseconds) to epoch seconds."""
    if not value:
        return 0.0
    head, _, frac = value.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float("0." + frac) if frac else 0.0)


def task_error(tasks):
    """The most recent error of a failed task, for the message."""
    failed = [
        t for t in tasks
        if t.get("Status", {}).get("State") in ("failed", "rejected")
        or (t.get("Status", {}).get("Err") and t.get("DesiredState") == "shutdown")
    ]
    if not failed:
        return None
    failed.sort(key=lambda t: t.get("Status", {}).get("Timestamp", ""))
    status = failed[-1].get("Status", {})
    return status.get("Err") or status.get("Message")


def check(svc, tasks, expect, since, elapsed, settle):
    if svc is None:
        if expect == "absent":
            return "removed", None
        return "failed", "the service is not on the swarm"
    if expect == "absent":
        # inspect still answers while swarm removes it
        return None, None
    spec = svc["Spec"]
    image = spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image")
    live = [t for t in tasks if t.get("DesiredState") == "running"]
    running = [t for t in live if t.get("Status", {}).get("State") == "running"]
    if "Global" in spec.get("Mode", {}):
        desired = len(live)
    else:
        desired = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
    update = svc.get("UpdateStatus") or {}
    fresh = parse_time(update.get("StartedAt")) >= since - 1 if update else False
    state = update.get("State") if fresh else None
    if state in FINAL_FAILED:
        err = task_error(tasks)
        return ("rolled_back" if state.startswith("rollback") else "failed"), FINAL_FAILED[state] + (
            " (task error: %s)" % err if err else ""
        )
    if state in ("updating", "rollback_started"):
        return None, None
    if not update or not fresh:
        # a new service, or a change swarm applies without a rolling update (labels)
        if elapsed < UPDATE_START_GRACE and update:
            return None, None
        recent_failures = [
            t for t in tasks
            if t.get("Status", {}).get("State") in ("failed", "rejected", "complete")
            and parse_time(t.get("Status", {}).get("Timestamp")) >= since - 1
        ]
        if len(recent_failures) >= MAX_FAILED_TASKS and len(running) < desired:
            return "failed", "%d tasks failed, %d of %d running (task error: %s)" % (
                len(recent_failures), len(running), desired, task_error(recent_failures))
    current = [t for t in running if t.get("Spec", {}).get("ContainerSpec", {}).get("Image") == image]
    settled = [t for t in current if time.time() - parse_time(t.get("Status", {}).get("Timestamp")) >= settle]
    if len(settled) >= desired and len(live) == len(running):
        return "converged", "%d/%d tasks running" % (len(current), desired)
    return None, "%d/%d tasks running" % (len(current), desired)


def main():
    args = json.loads(base64.b64decode(sys.argv[1]).decode("utf-8"))
    client = docker.APIClient(base_url="unix://var/run/docker.sock", version="auto")
    since = float(args.get("since") or time.time())
    timeout = float(args.get("timeout") or 300)
    settle = float(args.get("settle", 5))
    pending = {s["name"]: s.get("expect", "present") for s in args["services"]}
    results = {}
    progress = {}
    start = time.time()
    while pending:
        elapsed = time.time() - start
        # one pass over the API per round, however many services are waited for
        services = {svc["Spec"]["Name"]: svc for svc in client.services()}
        by_service = {}
        for task in client.tasks():
            by_service.setdefault(task.get("ServiceID"), []).append(task)
        for name, expect in list(pending.items()):
            svc = services.get(name)
            tasks = by_service.get(svc["ID"], []) if svc else []
            status, message = check(svc, tasks, expect, since, elapsed, settle)
            if status:
                results[name] = {"status": status, "message": message}
                del pending[name]
            else:
                progress[name] = message
        if not pending:
            break
        if time.time() - start > timeout:
            for name in pending:
                err = None
                try:
                    err = task_error(client.tasks(filters={"service": name}))
                except docker.errors.APIError:
                    pass
                results[name] = {
                    "status": "timeout",
                    "message": "not converged after %ds (%s)%s" % (
                        timeout, progress.get(name) or "no task running", "; task error: %s" % err if err else ""),
                }
            break
        time.sleep(0.5)
    json.dump({"results": results, "seconds": round(time.time() - start, 1)}, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
