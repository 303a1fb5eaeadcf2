#!/usr/bin/python3
"""Compares an Ansible module's DOCUMENTATION with the argument_spec its main() passes to AnsibleModule.

Usage: module_docs.py MODULE.py... ; prints one JSON object per module: {"module", "problems": [...],
"documented": [...option paths...]}. ansible-test's validate-modules does this for collections; it
does not run on roles' library/ folders, hence this small stand-in. It checks, option by option
(suboptions too): the same names, type, elements, required, default and choices; plus that the
module's supports_check_mode matches attributes.check_mode and that EXAMPLES and RETURN parse.
"""
import importlib.util
import json
import sys

import yaml


class Captured(Exception):
    def __init__(self, kwargs):
        super().__init__("AnsibleModule called")
        self.kwargs = kwargs


def capture(*args, **kwargs):
    raise Captured(kwargs)


def argument_spec_of(path):
    """The keyword arguments main() gives AnsibleModule (main() stops there)."""
    spec = importlib.util.spec_from_file_location("module_under_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.AnsibleModule = capture  # the name the module imported
    try:
        module.main()
    except Captured as done:
        return module, done.kwargs
    raise AssertionError("%s: main() did not create an AnsibleModule" % path)


def compare(documented, spec, where, problems, paths):
    for name in sorted(set(documented) | set(spec)):
        at = "%s%s" % (where, name)
        if name not in spec:
            problems.append("%s: documented but not in argument_spec" % at)
            continue
        if name not in documented:
            problems.append("%s: in argument_spec but not documented" % at)
            continue
        paths.append(at)
        doc, arg = documented[name] or {}, spec[name] or {}
        if not doc.get("description"):
            problems.append("%s: no description" % at)
        for key, unset in (("type", "str"), ("elements", None), ("required", False), ("default", None), ("choices", None)):
            if doc.get(key, unset) != arg.get(key, unset):
                problems.append("%s: %s is %r in DOCUMENTATION, %r in argument_spec" % (at, key, doc.get(key, unset), arg.get(key, unset)))
        if doc.get("required") and "default" in doc:
            problems.append("%s: required and with a default" % at)
        compare(doc.get("suboptions") or {}, arg.get("options") or {}, at + ".", problems, paths)


def check(path):
    problems, paths = [], []
    module, kwargs = argument_spec_of(path)
    docs = yaml.safe_load(module.DOCUMENTATION)
    for key in ("module", "short_description", "description", "author", "options"):
        if key not in docs:
            problems.append("DOCUMENTATION has no %s" % key)
    compare(docs.get("options") or {}, kwargs.get("argument_spec") or {}, "", problems, paths)
    check_mode = ((docs.get("attributes") or {}).get("check_mode") or {}).get("support")
    if (check_mode in ("full", "partial")) != bool(kwargs.get("supports_check_mode")):
        problems.append("attributes.check_mode.support is %r, supports_check_mode %r" % (check_mode, kwargs.get("supports_check_mode")))
    for block in ("EXAMPLES", "RETURN"):
        text = getattr(module, block, None)
        if not text:
            problems.append("no %s" % block)
        else:
            yaml.safe_load(text)
    return {"module": docs.get("module"), "problems": problems, "documented": paths}


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(check(arg)))
