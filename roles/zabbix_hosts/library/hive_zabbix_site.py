#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Registers a hive site in Zabbix through its JSON-RPC API (Zabbix 6.0).
from __future__ import annotations

DOCUMENTATION = r"""
module: hive_zabbix_site
short_description: Templates, host groups and hosts of a hive site in Zabbix
description:
  - Imports the site's templates (only when their content changed, remembered in the global
    macro C({$HIVE.TEMPLATES.SHA256})), creates host groups, creates or updates one host per
    server with an agent interface, groups and linked templates, and deletes the hosts listed in
    I(remove_hosts).
  - Talks to the Zabbix 6.0 JSON-RPC API over HTTP(S); needs nothing but Python's standard library.
  - A host of I(hosts) that exists several times (left by an earlier run whose create timed out
    on the client but went through on the server) keeps its oldest copy; the others are deleted.
author: hive
attributes:
  check_mode:
    support: full
    description: Reads only; C(actions) lists what would change. Missing templates are not an error then.
  diff_mode:
    support: full
    description: >-
      Before and after of the templates' checksum, the host groups and every host of I(hosts) and
      I(remove_hosts) (groups, linked templates, agent interface).
options:
  url:
    description: URL of api_jsonrpc.php.
    type: str
    required: true
  login_user:
    description: API user.
    type: str
    required: true
  login_password:
    description: Its password.
    type: str
    required: true
  templates:
    description: Zabbix export (YAML) of the templates to import; empty for none.
    type: str
    default: ''
  groups:
    description: Host groups that must exist (the groups named in I(hosts) are created too).
    type: list
    elements: str
    default: []
  hosts:
    description: The hosts that must exist, each with one agent interface.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Host name (the server's inventory name).
        type: str
        required: true
      ip:
        description: Address of its agent interface.
        type: str
        required: true
      port:
        description: Port of its agent interface.
        type: int
        default: 10050
      groups:
        description: Its host groups, exactly (other groups are removed from it).
        type: list
        elements: str
        default: []
      templates:
        description: Its linked templates, exactly; each must exist in Zabbix (or in I(templates)).
        type: list
        elements: str
        default: []
  remove_hosts:
    description: Hosts that must not exist (e.g. the package's "Zabbix server").
    type: list
    elements: str
    default: []
  timeout:
    description: >-
      Seconds one API call may take (the task retries a run that timed out; a host.create that
      timed out is looked for before anything is created again).
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Register two servers
  hive_zabbix_site:
    url: http://zabbix.example.com/api_jsonrpc.php
    login_user: Admin
    login_password: "{{ zabbix_admin_password }}"
    templates: "{{ lookup('ansible.builtin.file', 'hive_templates.yaml') }}"
    groups: [hive]
    hosts:
      - {name: p-hive0.demo, ip: 10.1.0.4, groups: [hive], templates: [Linux by Zabbix agent]}
      - {name: p-hive1.demo, ip: 10.1.0.5, port: 10050, groups: [hive], templates: [Linux by Zabbix agent]}
    remove_hosts: [Zabbix server]
  register: zabbix_site

- name: What would change
  hive_zabbix_site:
    url: http://zabbix.example.com/api_jsonrpc.php
    login_user: Admin
    login_password: "{{ zabbix_admin_password }}"
    hosts: [{name: p-hive0.demo, ip: 10.1.0.4}]
  check_mode: true
  diff: true
"""

RETURN = r"""
actions:
  description: What was changed (or, in check mode, would be), one line each.
  type: list
  elements: str
  returned: always
  sample:
    - templates imported
    - host group hive created
    - host p-hive0.demo created
    - "host p-hive1.demo: groups, templates updated"
    - host Zabbix server deleted
"""

import hashlib
import json
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

SHA_MACRO = "{$HIVE.TEMPLATES.SHA256}"


class Api:
    def __init__(self, url: str, timeout: int):
        self.url = url
        self.timeout = timeout
        self.auth = None
        self.seq = 0

    def call(self, method: str, params):
        self.seq += 1
        body = {"jsonrpc": "2.0", "method": method, "params": params, "id": self.seq}
        if self.auth and method not in ("user.login", "apiinfo.version"):
            body["auth"] = self.auth
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json-rpc"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            reply = json.loads(resp.read().decode())
        if "error" in reply:
            err = reply["error"]
            raise RuntimeError(f"{method}: {err.get('message')} {err.get('data', '')}".strip())
        return reply["result"]


def create_host(api, name, params, wait_seconds=300):
    """host.create, safe against a timeout: a busy server may still commit the host after the
    client gave up, and creating it again then makes a second host of the same name. So after a
    timeout the host is looked for until it shows up (then it counts as created)."""
    try:
        api.call("host.create", params)
        return
    except (TimeoutError, urllib.error.URLError, OSError) as err:
        deadline = time.time() + wait_seconds
        while time.time() < deadline:
            time.sleep(5)
            try:
                if api.call("host.get", {"output": ["hostid"], "filter": {"host": [name]}}):
                    return
            except (TimeoutError, urllib.error.URLError, OSError):
                continue
        raise RuntimeError(f"host.create {name}: {err}, and the host did not appear within {wait_seconds}s") from err


def oldest_by_name(api, hosts, check, actions):
    """The hosts by name, keeping the oldest of each name and deleting the others. Two hosts of
    one name are left by an earlier run whose create timed out on the client but went through
    on the server."""
    by_name, extra = {}, []
    for h in sorted(hosts, key=lambda h: int(h["hostid"])):
        if h["host"] in by_name:
            extra.append(h)
        else:
            by_name[h["host"]] = h
    for name in sorted({h["host"] for h in extra}):
        count = sum(1 for h in extra if h["host"] == name)
        actions.append(f"host {name}: {count} duplicate(s) removed")
    if extra and not check:
        api.call("host.delete", [h["hostid"] for h in extra])
    return by_name


def host_state(have):
    """A host as host.get returned it, in the shape of the diff: groups, templates, agent ip:port."""
    agent = [i for i in have["interfaces"] if str(i["type"]) == "1" and str(i["main"]) == "1"]
    return {
        "groups": sorted(g["name"] for g in have["groups"]),
        "templates": sorted(t["host"] for t in have["parentTemplates"]),
        "agent": (f"{agent[0]['ip']}:{agent[0]['port']}" + ("" if str(agent[0]["useip"]) == "1" else " (by DNS name)")) if agent else None,
    }


def import_rules():
    both = {"createMissing": True, "updateExisting": True}
    full = dict(both, deleteMissing=True)
    return {
        "groups": {"createMissing": True},
        "templates": both,
        "templateLinkage": {"createMissing": True},
        "items": full,
        "discoveryRules": full,
        "triggers": full,
        "graphs": full,
        "valueMaps": full,
        "templateDashboards": full,
        "httptests": full,
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            login_user=dict(type="str", required=True),
            login_password=dict(type="str", required=True, no_log=True),
            templates=dict(type="str", default=""),
            groups=dict(type="list", elements="str", default=[]),
            hosts=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                ip=dict(type="str", required=True),
                port=dict(type="int", default=10050),
                groups=dict(type="list", elements="str", default=[]),
                templates=dict(type="list", elements="str", default=[]),
            )),
            remove_hosts=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    p = module.params
    check = module.check_mode
    actions = []
    # what Zabbix holds before and after the run, for --diff (templates by checksum, hosts by name)
    before, after = {}, {}
    api = Api(p["url"], p["timeout"])
    try:
        api.auth = api.call("user.login", {"username": p["login_user"], "password": p["login_password"]})

        # templates: import only when the content differs from the last import
        if p["templates"]:
            sha = hashlib.sha256(p["templates"].encode()).hexdigest()
            macro = api.call("usermacro.get", {"globalmacro": True, "filter": {"macro": SHA_MACRO}})
            before["templates_sha256"] = macro[0]["value"] if macro else None
            after["templates_sha256"] = sha
            if not macro or macro[0]["value"] != sha:
                actions.append("templates imported")
                if not check:
                    api.call("configuration.import", {"format": "yaml", "source": p["templates"], "rules": import_rules()})
                    if macro:
                        api.call("usermacro.updateglobal", {"globalmacroid": macro[0]["globalmacroid"], "value": sha})
                    else:
                        api.call("usermacro.createglobal", {"macro": SHA_MACRO, "value": sha,
                                                            "description": "checksum of the hive templates last imported"})

        # host groups
        wanted_groups = set(p["groups"]) | {g for h in p["hosts"] for g in h.get("groups", [])}
        existing = {g["name"]: g["groupid"] for g in api.call("hostgroup.get", {"output": ["groupid", "name"]})}
        before["host_groups"] = sorted(wanted_groups & set(existing))
        after["host_groups"] = sorted(wanted_groups)
        for name in sorted(wanted_groups - set(existing)):
            actions.append(f"host group {name} created")
            if not check:
                existing[name] = api.call("hostgroup.create", {"name": name})["groupids"][0]

        # templates by name
        wanted_templates = sorted({t for h in p["hosts"] for t in h.get("templates", [])})
        found = api.call("template.get", {"output": ["templateid", "host"], "filter": {"host": wanted_templates}}) if wanted_templates else []
        template_ids = {t["host"]: t["templateid"] for t in found}
        missing = [t for t in wanted_templates if t not in template_ids]
        if missing and not check:
            module.fail_json(msg=f"templates not found in Zabbix: {', '.join(missing)}", actions=actions)

        # hosts
        names = [h["name"] for h in p["hosts"]]
        current = {}
        if names:
            current = oldest_by_name(api, api.call("host.get", {
                "output": ["hostid", "host"], "filter": {"host": names},
                "selectInterfaces": ["interfaceid", "ip", "port", "type", "main", "useip"],
                "selectGroups": ["groupid", "name"], "selectParentTemplates": ["templateid", "host"],
            }), check, actions)
        before["hosts"], after["hosts"] = {}, {}
        for want in p["hosts"]:
            name, ip, port = want["name"], want["ip"], str(want.get("port", 10050))
            groups = sorted(want.get("groups", []))
            templates = sorted(want.get("templates", []))
            after["hosts"][name] = {"groups": groups, "templates": templates, "agent": f"{ip}:{port}"}
            if name in current:
                before["hosts"][name] = host_state(current[name])
            group_ref = [{"groupid": existing.get(g, "0")} for g in groups]
            template_ref = [{"templateid": template_ids.get(t, "0")} for t in templates]
            have = current.get(name)
            if not have:
                actions.append(f"host {name} created")
                if not check:
                    create_host(api, name, {
                        "host": name, "groups": group_ref, "templates": template_ref,
                        "interfaces": [{"type": 1, "main": 1, "useip": 1, "ip": ip, "dns": "", "port": port}],
                    })
                continue
            update = {}
            if sorted(g["name"] for g in have["groups"]) != groups:
                update["groups"] = group_ref
            if sorted(t["host"] for t in have["parentTemplates"]) != templates:
                update["templates"] = template_ref
            if update:
                actions.append(f"host {name}: {', '.join(update)} updated")
                if not check:
                    api.call("host.update", dict(update, hostid=have["hostid"]))
            agent = [i for i in have["interfaces"] if str(i["type"]) == "1" and str(i["main"]) == "1"]
            if not agent:
                actions.append(f"host {name}: agent interface added")
                if not check:
                    api.call("hostinterface.create", {"hostid": have["hostid"], "type": 1, "main": 1, "useip": 1,
                                                      "ip": ip, "dns": "", "port": port})
            elif agent[0]["ip"] != ip or str(agent[0]["port"]) != port or str(agent[0]["useip"]) != "1":
                actions.append(f"host {name}: agent interface updated")
                if not check:
                    api.call("hostinterface.update", {"interfaceid": agent[0]["interfaceid"], "ip": ip,
                                                      "port": port, "useip": 1})

        # hosts that must go
        if p["remove_hosts"]:
            gone = api.call("host.get", {"output": ["hostid", "host"], "filter": {"host": p["remove_hosts"]}})
            for h in gone:
                actions.append(f"host {h['host']} deleted")
                before["hosts"][h["host"]] = "exists"
            if gone and not check:
                api.call("host.delete", [h["hostid"] for h in gone])
        try:
            api.call("user.logout", [])
        except RuntimeError:
            pass
    except (RuntimeError, urllib.error.URLError, OSError, ValueError) as e:
        module.fail_json(msg=f"Zabbix API at {p['url']}: {e}", actions=actions)
    extra = {"diff": {"before": before, "after": after}} if module._diff else {}
    module.exit_json(changed=bool(actions), actions=actions, **extra)


if __name__ == "__main__":
    main()
