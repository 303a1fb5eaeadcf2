# Copyright: hive contributors. Licensed under the Apache License 2.0.
"""Stdout callback writing one JSON event per line for the hive CLI."""
from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime, timezone

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: hive_events
    type: stdout
    short_description: one JSON line per Ansible event, read by the hive CLI
    description:
      - Writes play, task (handlers included), per-host result, loop item,
        retry, include, warning and stats events as JSON objects, one a
        line, each line starting with C(@@HIVE@@ ).
      - Writes to the file descriptor named by the environment variable
        C(HIVE_EVENTS_FD) when it is set and open, otherwise to stdout.
      - Never writes the result of a no_log task, and drops every key that
        names a password or another secret from what it writes.
    requirements: []
"""

MARKER = "@@HIVE@@ "
MAX_MSG = 2000
MAX_ITEM = 200
HIDDEN = "(output hidden: no_log)"
HIDDEN_ITEM = "(hidden: no_log)"


def _secret_key_rule():
    """The secret-name rule of hive's TypeScript side (one file for both)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "hive_secret_keys.json")
    try:
        with open(path, encoding="utf-8") as handle:
            pattern = json.load(handle)["pattern"]
        return re.compile(pattern, re.IGNORECASE)
    except (OSError, ValueError, KeyError, re.error):
        # without the rule every key counts as secret: hiding too much is
        # the safe side
        return re.compile("")


# keys whose values are never written
SECRET_KEY = _secret_key_rule()


def _now():
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _is_secret_key(key):
    return SECRET_KEY.search(str(key)) is not None


def _scrub(value):
    """Copy of value without secret-named keys, at any depth."""
    if isinstance(value, dict):
        return {
            str(k): _scrub(v)
            for k, v in value.items()
            if not _is_secret_key(k)
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _text(value, limit):
    if value is None:
        return None
    if not isinstance(value, str):
        value = json.dumps(_scrub(value), default=str, ensure_ascii=False)
    value = value.strip()
    if len(value) > limit:
        value = value[:limit] + "..."
    return value


def _censored(result):
    res = result._result
    task_no_log = getattr(result._task, "no_log", False)
    # an unrendered template counts as true: hiding too much is the safe side
    return (
        bool(task_no_log)
        or bool(res.get("_ansible_no_log"))
        or ("censored" in res)
    )


class CallbackModule(CallbackBase):
    """Writes hive events; see DOCUMENTATION."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "hive_events"

    def __init__(self, display=None):
        super().__init__(display)
        self._out = self._open_output()
        self._play = None

    @staticmethod
    def _open_output():
        fd = os.environ.get("HIVE_EVENTS_FD")
        if fd and fd.isdigit():
            try:
                return os.fdopen(int(fd), "w", encoding="utf-8", closefd=False)
            except OSError:
                pass
        return sys.stdout

    def _emit(self, event, **fields):
        record = {"event": event}
        record.update({k: v for k, v in fields.items() if v is not None})
        record["time"] = _now()
        line = json.dumps(record, default=str, ensure_ascii=False)
        self._out.write(MARKER + line + "\n")
        self._out.flush()

    # plays and tasks

    def v2_playbook_on_start(self, playbook):
        name = getattr(playbook, "_file_name", None)
        self._emit("playbook_start", playbook=name)

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name().strip()
        self._emit("play_start", play=self._play)

    def _task_start(self, task, kind=None):
        self._emit(
            "task_start",
            task=task.get_name().strip(),
            play=self._play,
            action=task.action,
            kind=kind,
        )

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task, "handler")

    def v2_playbook_on_cleanup_task_start(self, task):
        self._task_start(task, "cleanup")

    def v2_playbook_on_include(self, included_file):
        self._emit(
            "include",
            file=included_file._filename,
            hosts=[h.get_name() for h in included_file._hosts],
        )

    def v2_playbook_on_no_hosts_matched(self):
        self._emit("warning", msg="no hosts matched the play's pattern")

    def v2_playbook_on_no_hosts_remaining(self):
        self._emit("warning", msg="no hosts left: all have failed")

    # per-host results

    def v2_runner_on_start(self, host, task):
        self._emit(
            "host_start", host=host.get_name(), task=task.get_name().strip()
        )

    def _message(self, result):
        if _censored(result):
            return HIDDEN
        res = result._result
        parts = []
        msg = _text(res.get("msg"), MAX_MSG)
        if msg:
            parts.append(msg)
        for key in ("stderr", "module_stderr"):
            extra = _text(res.get(key), MAX_MSG)
            if extra and extra not in parts:
                parts.append(extra)
        if not parts and isinstance(res.get("exception"), str):
            lines = res["exception"].strip().splitlines()
            parts.append(lines[-1] if lines else "exception")
        return _text("\n".join(parts), MAX_MSG) if parts else None

    def _debug_message(self, result):
        if _censored(result):
            return HIDDEN
        res = result._result
        if "msg" in res:
            return _text(res["msg"], MAX_MSG)
        shown = {k: v for k, v in res.items() if not k.startswith("_")}
        shown.pop("changed", None)
        shown.pop("failed", None)
        return _text(shown, MAX_MSG) if shown else None

    def _item(self, result):
        # an item result stays recognisable as one when its label is hidden
        if _censored(result):
            return HIDDEN_ITEM
        res = result._result
        return _text(res.get("_ansible_item_label", res.get("item")), MAX_ITEM)

    def _warnings(self, result):
        res = result._result
        for key in ("warnings", "deprecations"):
            for entry in res.pop(key, None) or []:
                if isinstance(entry, dict):
                    entry = entry.get("msg")
                self._emit(
                    "warning",
                    msg=_text(entry, MAX_MSG),
                    host=result._host.get_name(),
                )

    def _host_result(self, result, status, item=False, **extra):
        if result._task.action in ("debug", "ansible.builtin.debug"):
            msg = self._debug_message(result)
        elif status in ("failed", "unreachable"):
            msg = self._message(result)
        else:
            msg = None
        delegated = result._result.get("_ansible_delegated_vars") or {}
        self._emit(
            "host_result",
            host=result._host.get_name(),
            task=result._task.get_name().strip(),
            status=status,
            msg=msg,
            item=self._item(result) if item else None,
            delegated_to=delegated.get("ansible_host"),
            **extra,
        )
        self._warnings(result)

    @staticmethod
    def _ok_status(result):
        return "changed" if result._result.get("changed") else "ok"

    def v2_runner_on_ok(self, result):
        self._host_result(result, self._ok_status(result))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        ignored = True if ignore_errors else None
        self._host_result(result, "failed", ignored=ignored)

    def v2_runner_on_skipped(self, result):
        self._host_result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._host_result(result, "unreachable")

    def v2_runner_item_on_ok(self, result):
        self._host_result(result, self._ok_status(result), item=True)

    def v2_runner_item_on_failed(self, result):
        self._host_result(result, "failed", item=True)

    def v2_runner_item_on_skipped(self, result):
        self._host_result(result, "skipped", item=True)

    def v2_runner_retry(self, result):
        res = result._result
        self._emit(
            "retry",
            host=result._host.get_name(),
            task=result._task.get_name().strip(),
            attempt=res.get("attempts"),
            retries=res.get("retries"),
            msg=self._message(result),
        )

    def v2_runner_on_async_poll(self, result):
        self._emit(
            "async_poll",
            host=result._host.get_name(),
            task=result._task.get_name().strip(),
        )

    # end of the run

    def v2_playbook_on_stats(self, stats):
        summary = {}
        for host in sorted(stats.processed.keys()):
            counts = stats.summarize(host)
            summary[host] = {
                "ok": counts.get("ok", 0),
                "changed": counts.get("changed", 0),
                "failed": counts.get("failures", 0),
                "unreachable": counts.get("unreachable", 0),
                "skipped": counts.get("skipped", 0),
                "rescued": counts.get("rescued", 0),
                "ignored": counts.get("ignored", 0),
            }
        self._emit("stats", stats=summary)
