#!/usr/bin/python3
# Copyright: hive contributors. Licensed under the Apache License 2.0.
"""Prints a digest of the files of Ansible roles, found the way roles_path finds them.

Arguments: base64 of JSON {"roles": [names], "paths": [folders, first wins], "extra": [folders
whose files count too, e.g. the inventory's group_vars]}. Prints JSON
{"digest": sha256 hex, "found": {role: folder}, "missing": [roles]}. Only relative paths and
file contents count (not times), so a role copied or checked out again has the same digest.
"""
import base64
import hashlib
import json
import os
import sys

SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".tox"}
SKIP_SUFFIXES = (".pyc", ".retry", "~", ".swp")


def role_dir(name, paths):
    for base in paths:
        candidate = os.path.join(base, name)
        if os.path.isdir(candidate):
            return candidate
    return None


def digest_dir(root, h):
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for f in sorted(files):
            if f.endswith(SKIP_SUFFIXES):
                continue
            path = os.path.join(current, f)
            rel = os.path.relpath(path, root)
            h.update(b"F\0" + rel.encode("utf-8") + b"\0")
            if os.path.islink(path):
                h.update(b"L" + os.readlink(path).encode("utf-8"))
            else:
                with open(path, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())


def main():
    args = json.loads(base64.b64decode(sys.argv[1]).decode("utf-8"))
    h = hashlib.sha256()
    found = {}
    missing = []
    for name in args.get("roles") or []:
        h.update(b"R\0" + name.encode("utf-8") + b"\0")
        folder = role_dir(name, args.get("paths") or [])
        if folder is None:
            # a collection role (ns.coll.role) or a typo: Ansible reports the latter itself
            missing.append(name)
            continue
        found[name] = folder
        digest_dir(folder, h)
    for folder in args.get("extra") or []:
        if os.path.isdir(folder):
            h.update(b"D\0" + os.path.basename(folder).encode("utf-8") + b"\0")
            digest_dir(folder, h)
    json.dump({"digest": h.hexdigest(), "found": found, "missing": missing}, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
