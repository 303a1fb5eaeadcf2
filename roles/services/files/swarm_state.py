#!/usr/bin/python3
# Copyright: hive contributors. Licensed under the Apache License 2.0.
"""Prints the live state of the swarm's services as one JSON object (read only).

{"now": <epoch seconds on this manager>, "services": {name: {labels, image, mode, replicas,
 desired, running, update_state}}}

One pass over the API for every service, so a deploy can skip the services whose spec label
says they are up to date without calling docker_swarm_service for each of them.
"""
import json
import sys
import time

import docker


def main():
    client = docker.APIClient(base_url="unix://var/run/docker.sock", version="auto")
    try:
        services = client.services()
    except docker.errors.APIError as err:
        # typically "This node is not a swarm manager": the swarm is not formed yet
        sys.stderr.write("cannot list the swarm's services here (%s): has setup-hosts run?\n" % err.explanation)
        sys.exit(1)
    running = {}
    desired_tasks = {}
    for task in client.tasks(filters={"desired-state": "running"}):
        sid = task.get("ServiceID")
        desired_tasks[sid] = desired_tasks.get(sid, 0) + 1
        if task.get("Status", {}).get("State") == "running":
            running[sid] = running.get(sid, 0) + 1
    out = {}
    for svc in services:
        spec = svc.get("Spec", {})
        container = spec.get("TaskTemplate", {}).get("ContainerSpec", {})
        mode = "global" if "Global" in spec.get("Mode", {}) else "replicated"
        replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas")
        out[spec.get("Name")] = {
            "labels": spec.get("Labels") or {},
            # hive pins the digest it resolved when it deployed: compare by the reference
            "image": container.get("Image", "").split("@", 1)[0],
            "mode": mode,
            "replicas": replicas,
            "desired": replicas if mode == "replicated" else desired_tasks.get(svc["ID"], 0),
            "running": running.get(svc["ID"], 0),
            "update_state": (svc.get("UpdateStatus") or {}).get("State"),
        }
    json.dump({"now": time.time(), "services": out}, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
