#!/usr/bin/python3
# Copyright: hive contributors. Licensed under the Apache License 2.0.
"""Ansible module: creates or updates many swarm services in one pass over the Engine API.

hive deployed each service with its own docker_swarm_service call before: one module start and
one SSH round trip per service, which made a deploy of 20 services several times slower than a
`docker stack deploy`. This module takes every changed service at once, reads the swarm once,
and posts one create or update per service.
"""

DOCUMENTATION = r"""
module: hive_swarm_services
short_description: Create or update swarm services from hive's service parameters
description:
  - Each service's I(params) use the parameter names of community.docker.docker_swarm_service
    (built by roles/services/templates/specs.json.j2); they are turned into an Engine API
    ServiceSpec, compared field by field with the live service, and the service is created, or
    updated when a field differs. Kernel parameters (I(sysctls)) are part of the spec.
  - Before a create or update, a tag is pinned to the digest the registry has for it now
    (image@sha256:...), as C(docker service create) does; an image no registry answers for
    keeps its reference.
  - In check mode nothing is posted and every result lists the fields that would change, with
    their values before and after (environment values are replaced by a short digest).
  - A service the Engine refuses does not stop the others; its result has action C(error).
  - Runs on a swarm manager, over the local socket C(unix://var/run/docker.sock); needs the
    Python docker library (Debian package python3-docker).
author: hive
attributes:
  check_mode:
    support: full
    description: Nothing is posted; the results say what would be created or updated.
  diff_mode:
    support: full
    description: >-
      The fields that change, per service, as in the check mode results (environment values as
      digests); a new service has no C(before).
options:
  services:
    description: The services to create or update; every other service is left alone.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the swarm service.
        type: str
        required: true
      params:
        description:
          - The service's parameters, named as community.docker.docker_swarm_service names them.
          - Read are C(image) (required), C(hostname), C(args), C(command), C(env), C(user),
            C(working_dir), C(hosts), C(dns), C(cap_add), C(cap_drop), C(stop_grace_period),
            C(healthcheck), C(mounts), C(limits), C(restart_config), C(placement), C(logging),
            C(networks), C(labels), C(mode), C(replicas), C(endpoint_mode), C(publish),
            C(update_config) and C(rollback_config); durations are Go durations (C(1m30s)) or
            nanoseconds, memory sizes C(512M) style or bytes.
          - A network in C(networks) must exist before a service that uses it is created.
          - A C(volume) mount may name its volume C(driver) (hive uses C(hive) for DRBD volumes).
        type: dict
        required: true
      sysctls:
        description: Kernel parameters of the service's containers (ContainerSpec.Sysctls).
        type: dict
        default: {}
notes:
  - The services role calls it once with every service whose hive.spec label changed, with
    C(no_log), since the parameters carry the services' environment.
"""

EXAMPLES = r"""
- name: Create or update two services in one pass
  hive_swarm_services:
    services:
      - name: web
        params:
          image: registry.example.com:5000/image_web:b2b2b2b2b2b2
          replicas: 2
          env: {LEVEL: "3"}
          networks: [hive_default_network]
          publish:
            - {target_port: 8080, published_port: 80, protocol: tcp, mode: ingress}
          update_config: {parallelism: 1, delay: 5s, order: start-first}
      - name: cache
        params:
          image: redis:7
          mode: global
          limits: {cpus: 0.5, memory: 256M}
        sysctls:
          net.core.somaxconn: "1024"
  register: deployed
  no_log: true

- name: What would change (check mode, as hive plan runs it)
  hive_swarm_services:
    services: "{{ specs }}"
  check_mode: true
  register: planned
"""

RETURN = r"""
services:
  description: One result per service of I(services), by name.
  returned: success
  type: dict
  contains:
    action:
      description: C(create), C(update), C(unchanged), or C(error) (refused; the others go on).
      type: str
      returned: always
      sample: update
    changed:
      description: Whether the service was (or in check mode would be) created or updated.
      type: bool
      returned: always
    changes:
      description: The fields that differ from the live service (docker_swarm_service names).
      type: list
      elements: str
      returned: when action is update
      sample: [image, replicas]
    before:
      description: The live values of the changed fields.
      type: dict
      returned: in check mode, when action is update
      sample: {image: "registry.example.com:5000/image_web:a1a1a1a1a1a1", replicas: 1}
    after:
      description: The values the update would set.
      type: dict
      returned: in check mode, when action is update
      sample: {image: "registry.example.com:5000/image_web:b2b2b2b2b2b2", replicas: 2}
    msg:
      description: Why the service was refused (by the module or by the Engine).
      type: str
      returned: when action is error
      sample: "ValueError: '5 parsecs' is not a duration (examples: 5s, 1m30s, 300ms)"
  sample:
    web: {action: update, changed: true, changes: [replicas]}
    cache: {action: unchanged, changed: false}
"""

import concurrent.futures
import hashlib
import json
import re
import threading

from ansible.module_utils.basic import AnsibleModule

try:
    import docker
except ImportError:  # reported by main()
    docker = None

DURATION_UNITS = {"ns": 1, "us": 10 ** 3, "µs": 10 ** 3, "ms": 10 ** 6, "s": 10 ** 9, "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}
SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def nanoseconds(value):
    """A Go-style duration ("1m30s", "500ms") or a number of nanoseconds, as an int."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return int(value)
    total = 0
    parts = re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", str(value))
    if not parts or "".join(n + u for n, u in parts) != str(value):
        raise ValueError("%r is not a duration (examples: 5s, 1m30s, 300ms)" % value)
    for number, unit in parts:
        total += float(number) * DURATION_UNITS[unit]
    return int(total)


def size_bytes(value):
    """512M, 1g, 1024 (bytes) as an int, 1024-based like docker's own parser."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([bkmgtBKMGT]?)(?:i?[bB])?\s*", str(value))
    if not match:
        raise ValueError("%r is not a memory size (examples: 512M, 1G)" % value)
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def duration_config(cfg, names):
    """update_config / rollback_config / restart_config: snake_case keys to the Engine's."""
    out = {}
    for key, value in (cfg or {}).items():
        if value is None:
            continue
        engine = names.get(key)
        if engine is None:
            raise ValueError("unknown key %s" % key)
        out[engine] = nanoseconds(value) if key in ("delay", "monitor", "window") else value
    return out


UPDATE_KEYS = {"parallelism": "Parallelism", "delay": "Delay", "failure_action": "FailureAction",
               "monitor": "Monitor", "max_failure_ratio": "MaxFailureRatio", "order": "Order"}
RESTART_KEYS = {"condition": "Condition", "delay": "Delay", "max_attempts": "MaxAttempts", "window": "Window"}


def healthcheck(hc):
    if not hc:
        return None
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out = {}
    test = hc.get("test")
    if test is not None:
        out["Test"] = ["CMD-SHELL", test] if isinstance(test, str) else [str(t) for t in test]
    for key, engine in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod")):
        if hc.get(key) is not None:
            out[engine] = nanoseconds(hc[key])
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def engine_spec(name, params, sysctls, network_ids):
    """hive's service parameters (docker_swarm_service names) → an Engine API ServiceSpec."""
    p = params
    container = {"Image": p["image"], "Hostname": p.get("hostname") or name}
    if p.get("args") is not None:
        container["Args"] = [str(a) for a in p["args"]]
    if p.get("command") is not None:
        container["Command"] = [str(a) for a in p["command"]]
    if p.get("env"):
        container["Env"] = ["%s=%s" % (k, v) for k, v in sorted(p["env"].items())]
    if p.get("user"):
        container["User"] = str(p["user"])
    if p.get("working_dir"):
        container["Dir"] = str(p["working_dir"])
    if p.get("hosts"):
        container["Hosts"] = ["%s %s" % (ip, host) for host, ip in sorted(p["hosts"].items())]
    if p.get("dns"):
        container["DNSConfig"] = {"Nameservers": list(p["dns"])}
    if p.get("cap_add"):
        container["CapabilityAdd"] = list(p["cap_add"])
    if p.get("cap_drop"):
        container["CapabilityDrop"] = list(p["cap_drop"])
    if p.get("stop_grace_period") is not None:
        container["StopGracePeriod"] = nanoseconds(p["stop_grace_period"])
    if p.get("healthcheck"):
        container["Healthcheck"] = healthcheck(p["healthcheck"])
    if sysctls:
        container["Sysctls"] = {k: str(v) for k, v in sysctls.items()}
    mounts = []
    for m in p.get("mounts") or []:
        mount = {"Target": m["target"], "Type": m.get("type") or "bind", "ReadOnly": bool(m.get("readonly"))}
        if mount["Type"] != "tmpfs":
            mount["Source"] = m["source"]
        if mount["Type"] == "volume" and m.get("driver"):
            mount["VolumeOptions"] = {"DriverConfig": {"Name": m["driver"]}}
        mounts.append(mount)
    if mounts:
        container["Mounts"] = mounts

    task = {"ContainerSpec": container}
    limits = p.get("limits") or {}
    if limits:
        engine_limits = {}
        if limits.get("cpus") is not None:
            engine_limits["NanoCPUs"] = int(float(limits["cpus"]) * 10 ** 9)
        if limits.get("memory") is not None:
            engine_limits["MemoryBytes"] = size_bytes(limits["memory"])
        task["Resources"] = {"Limits": engine_limits}
    if p.get("restart_config"):
        task["RestartPolicy"] = duration_config(p["restart_config"], RESTART_KEYS)
    placement = p.get("placement") or {}
    if placement:
        engine_placement = {}
        if placement.get("constraints"):
            engine_placement["Constraints"] = list(placement["constraints"])
        if placement.get("preferences"):
            engine_placement["Preferences"] = [
                {"Spread": {"SpreadDescriptor": pref["spread"]}} for pref in placement["preferences"]]
        if placement.get("replicas_max_per_node") is not None:
            engine_placement["MaxReplicas"] = int(placement["replicas_max_per_node"])
        task["Placement"] = engine_placement
    logging = p.get("logging") or {}
    if logging.get("driver"):
        task["LogDriver"] = {"Name": logging["driver"], "Options": {k: str(v) for k, v in (logging.get("options") or {}).items()}}
    networks = []
    for net in p.get("networks") or []:
        net_name = net if isinstance(net, str) else net["name"]
        networks.append({"Target": network_ids.get(net_name, net_name)})
    if networks:
        task["Networks"] = networks

    spec = {"Name": name, "Labels": {k: str(v) for k, v in (p.get("labels") or {}).items()}, "TaskTemplate": task}
    if p.get("mode") == "global":
        spec["Mode"] = {"Global": {}}
    else:
        spec["Mode"] = {"Replicated": {"Replicas": int(p.get("replicas", 1))}}
    endpoint = {"Mode": p.get("endpoint_mode") or "vip"}
    ports = []
    for port in p.get("publish") or []:
        entry = {"Protocol": port.get("protocol") or "tcp", "TargetPort": int(port["target_port"]),
                 "PublishMode": port.get("mode") or "ingress"}
        if port.get("published_port") is not None:
            entry["PublishedPort"] = int(port["published_port"])
        ports.append(entry)
    if ports:
        endpoint["Ports"] = ports
    spec["EndpointSpec"] = endpoint
    if p.get("update_config"):
        spec["UpdateConfig"] = duration_config(p["update_config"], UPDATE_KEYS)
    if p.get("rollback_config"):
        spec["RollbackConfig"] = duration_config(p["rollback_config"], UPDATE_KEYS)
    return spec


def get(spec, *path):
    for key in path:
        if not isinstance(spec, dict):
            return None
        spec = spec.get(key)
    return spec


def canonical(value):
    """Drops what swarm treats as unset (None, 0, False, empty), so a live spec with the Engine's
    defaults filled in compares equal to the spec hive sends."""
    if isinstance(value, dict):
        out = {k: canonical(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, 0, False, "", [], {})}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def sorted_list(value):
    return sorted(value or [], key=lambda v: json.dumps(v, sort_keys=True))


def strip_digest(image):
    return image.split("@", 1)[0] if image else image


# field (docker_swarm_service's name, as hive plan shows it) → how to read it from a spec
FIELDS = {
    "image": lambda s: strip_digest(get(s, "TaskTemplate", "ContainerSpec", "Image")),
    "hostname": lambda s: get(s, "TaskTemplate", "ContainerSpec", "Hostname"),
    "args": lambda s: get(s, "TaskTemplate", "ContainerSpec", "Args"),
    "command": lambda s: get(s, "TaskTemplate", "ContainerSpec", "Command"),
    "env": lambda s: sorted(get(s, "TaskTemplate", "ContainerSpec", "Env") or []),
    "user": lambda s: get(s, "TaskTemplate", "ContainerSpec", "User"),
    "working_dir": lambda s: get(s, "TaskTemplate", "ContainerSpec", "Dir"),
    "hosts": lambda s: sorted(get(s, "TaskTemplate", "ContainerSpec", "Hosts") or []),
    "dns": lambda s: get(s, "TaskTemplate", "ContainerSpec", "DNSConfig", "Nameservers"),
    "cap_add": lambda s: sorted(get(s, "TaskTemplate", "ContainerSpec", "CapabilityAdd") or []),
    "cap_drop": lambda s: sorted(get(s, "TaskTemplate", "ContainerSpec", "CapabilityDrop") or []),
    "stop_grace_period": lambda s: get(s, "TaskTemplate", "ContainerSpec", "StopGracePeriod"),
    "healthcheck": lambda s: get(s, "TaskTemplate", "ContainerSpec", "Healthcheck"),
    "sysctls": lambda s: get(s, "TaskTemplate", "ContainerSpec", "Sysctls"),
    "mounts": lambda s: sorted_list([
        dict({k: m.get(k) for k in ("Type", "Source", "Target", "ReadOnly")},
             Driver=get(m, "VolumeOptions", "DriverConfig", "Name"))
        for m in get(s, "TaskTemplate", "ContainerSpec", "Mounts") or []]),
    "limits": lambda s: get(s, "TaskTemplate", "Resources", "Limits"),
    "restart_config": lambda s: get(s, "TaskTemplate", "RestartPolicy"),
    "placement": lambda s: {k: get(s, "TaskTemplate", "Placement", k) for k in ("Constraints", "Preferences", "MaxReplicas")},
    "logging": lambda s: get(s, "TaskTemplate", "LogDriver"),
    "networks": lambda s: sorted(n.get("Target") for n in (get(s, "TaskTemplate", "Networks") or s.get("Networks") or [])),
    "labels": lambda s: s.get("Labels"),
    "mode": lambda s: "global" if "Global" in (s.get("Mode") or {}) else "replicated",
    "replicas": lambda s: get(s, "Mode", "Replicated", "Replicas"),
    "endpoint_mode": lambda s: get(s, "EndpointSpec", "Mode") or "vip",
    "publish": lambda s: sorted_list(get(s, "EndpointSpec", "Ports")),
    "update_config": lambda s: s.get("UpdateConfig"),
    "rollback_config": lambda s: s.get("RollbackConfig"),
}


def masked_env(env):
    """K=V → K=<digest of V>: hive plan names changed variables without showing values."""
    out = []
    for kv in env or []:
        key, _, value = kv.partition("=")
        out.append("%s=%s" % (key, hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]))
    return out


# Engine fields that hold nanoseconds: shown as durations in a plan
DURATION_FIELDS = {"Interval", "Timeout", "StartPeriod", "StartInterval", "Delay", "Monitor", "Window", "StopGracePeriod"}


def duration_text(ns):
    """Nanoseconds as a short duration (1m30s, 500ms), the way the inventory writes them."""
    if ns % 10 ** 9:
        return "%dms" % (ns // 10 ** 6) if ns % 10 ** 6 == 0 else "%dns" % ns
    seconds = ns // 10 ** 9
    text = ""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size:
            text += "%d%s" % (seconds // size, unit)
            seconds %= size
    return text + ("%ds" % seconds if seconds or not text else "")


def readable(field, value):
    """A compared value as a plan shows it: durations as text, env values as digests."""
    if field == "stop_grace_period" and isinstance(value, int):
        return duration_text(value)
    if field == "env":
        return masked_env(value)
    if isinstance(value, dict):
        return {k: duration_text(v) if k in DURATION_FIELDS and isinstance(v, int) else readable(None, v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [readable(None, v) for v in value]
    return value


def fields_of(spec):
    """Every field a spec sets, as a plan shows it: the after of a service to create."""
    out = {}
    for field, read in FIELDS.items():
        value = canonical(read(spec))
        if value not in (None, 0, False, "", [], {}):
            out[field] = readable(field, value)
    return out


def differences(desired, live):
    """Fields whose canonical values differ, with before (live) and after (desired)."""
    changes, before, after = [], {}, {}
    for field, read in FIELDS.items():
        want = canonical(read(desired))
        have = canonical(read(live))
        if want != have:
            changes.append(field)
            before[field] = readable(field, have)
            after[field] = readable(field, want)
    return changes, before, after


def pinned(client, image, cache):
    """image@sha256:... as the registry has it now (what `docker service create` does too).

    With a digest, a node that already has the image starts the task without asking the
    registry; with a bare tag every task start pulls. An image no registry answers for (an
    image loaded by hand) keeps its reference."""
    if "@" in image:
        return image
    if image not in cache:
        try:
            digest = client.inspect_distribution(image)["Descriptor"]["digest"]
            cache[image] = "%s@%s" % (image, digest)
        except (docker.errors.APIError, KeyError):
            cache[image] = image
    return cache[image]


# Creates and updates are posted this many at a time: each waits for a raft commit on the
# manager, so a few in flight cut the time of a 20-service deploy without flooding it.
PARALLEL_POSTS = 6


def plan(client, services, check_mode):
    """Per service: (result, what to post, diff) where what to post is None or ("create"|"update", spec,
    current) and diff is None or (before, after), the changed fields as a plan shows them."""
    live = {svc["Spec"]["Name"]: svc for svc in client.services()}
    network_ids = {net["Name"]: net["Id"] for net in client.networks()}
    planned = {}
    for service in services:
        name = service["name"]
        try:
            spec = engine_spec(name, service["params"], service.get("sysctls") or {}, network_ids)
            current = live.get(name)
            if current is None:
                missing = [n for n in service["params"].get("networks") or [] if isinstance(n, str) and n not in network_ids]
                if missing:
                    raise ValueError("network %s does not exist: run hive build-networks" % ", ".join(missing))
                planned[name] = ({"action": "create", "changed": True}, ("create", spec, None), (None, fields_of(spec)))
                continue
            changes, before, after = differences(spec, current["Spec"])
            if not changes:
                planned[name] = ({"action": "unchanged", "changed": False}, None, None)
                continue
            result = {"action": "update", "changed": True, "changes": changes}
            if check_mode:
                result.update({"before": before, "after": after})
            planned[name] = (result, ("update", spec, current), (before, after))
        except (ValueError, KeyError, TypeError) as err:
            planned[name] = ({"action": "error", "changed": False, "msg": "%s: %s" % (type(err).__name__, err)}, None, None)
    return planned


def post(client, name, action, spec, current):
    if action == "create":
        client.create_service(
            spec["TaskTemplate"], name=name, labels=spec["Labels"], mode=spec["Mode"],
            update_config=spec.get("UpdateConfig"), rollback_config=spec.get("RollbackConfig"),
            endpoint_spec=spec["EndpointSpec"])
    else:
        client.update_service(
            current["ID"], current["Version"]["Index"], task_template=spec["TaskTemplate"], name=name,
            labels=spec["Labels"], mode=spec["Mode"], update_config=spec.get("UpdateConfig"),
            rollback_config=spec.get("RollbackConfig"), endpoint_spec=spec["EndpointSpec"])


def diff_of(planned, results):
    """Ansible's diff of a run: the changed fields of the services that changed (or would)."""
    before, after = {}, {}
    for name, (_, _, change) in planned.items():
        if change is None or not results[name]["changed"]:
            continue
        if change[0] is not None:
            before[name] = change[0]
        after[name] = change[1]
    return {"before": before, "after": after}


def apply(client, services, check_mode, new_client):
    """(results by service name, diff) of creating and updating the services."""
    planned = plan(client, services, check_mode)
    results = {name: result for name, (result, _, _) in planned.items()}
    work = [(name, todo) for name, (_, todo, _) in planned.items() if todo is not None]
    if check_mode or not work:
        return results, diff_of(planned, results)
    digests = {}
    for _, (_, spec, _) in work:
        container = spec["TaskTemplate"]["ContainerSpec"]
        container["Image"] = pinned(client, container["Image"], digests)
    local = threading.local()

    def run(item):
        name, (action, spec, current) = item
        if not hasattr(local, "client"):
            local.client = new_client()
        try:
            post(local.client, name, action, spec, current)
        except docker.errors.APIError as err:
            return name, str(err.explanation or err)
        return name, None

    with concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL_POSTS) as pool:
        for name, error in pool.map(run, work):
            if error:
                results[name] = {"action": "error", "changed": False, "msg": error}
    return results, diff_of(planned, results)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                params=dict(type="dict", required=True),
                sysctls=dict(type="dict", default={}),
            )),
        ),
        supports_check_mode=True)
    if docker is None:
        module.fail_json(msg="the Python docker library is missing on this host (Debian package python3-docker)")

    def new_client():
        return docker.APIClient(base_url="unix://var/run/docker.sock", version="auto")

    try:
        results, diff = apply(new_client(), module.params["services"], module.check_mode, new_client)
    except docker.errors.DockerException as err:
        module.fail_json(msg="cannot reach the swarm through the local docker engine: %s" % err)
    extra = {"diff": diff} if module._diff else {}
    module.exit_json(changed=any(r["changed"] for r in results.values()), services=results, **extra)


if __name__ == "__main__":
    main()
