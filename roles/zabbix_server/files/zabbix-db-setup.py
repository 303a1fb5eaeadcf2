#!/usr/bin/python3
"""Prepare the Zabbix database: role with password, database, schema, Admin password.

Reads {"database", "user", "db_password", "admin_password"} as JSON on standard input and prints
{"changed": bool, "steps": [...]} or {"error": "..."} (never a secret). Every step checks first,
so a second run changes nothing. Runs as root; SQL runs as the postgres superuser.
"""
import gzip
import json
import os
import subprocess
import sys

SQL_DIR = "/usr/share/zabbix-server-pgsql"


def psql(sql, db="postgres", variables=None, stdin=None):
    cmd = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", db]
    for k, v in (variables or {}).items():
        cmd += ["-v", f"{k}={v}"]
    if sql is not None:
        # -c does not expand :'var'; feed the statement on stdin instead
        stdin = sql.encode()
    r = subprocess.run(cmd, input=stdin, capture_output=True, cwd="/")
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.decode(errors='replace').strip()[:400]}")
    return r.stdout.decode().strip()


def can_login(user, password, db):
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
    r = subprocess.run(["psql", "-X", "-tA", "-h", "127.0.0.1", "-U", user, "-d", db, "-c", "select 1"],
                       env=env, capture_output=True, cwd="/")
    return r.returncode == 0


def main():
    req = json.load(sys.stdin)
    db, user = req["database"], req["user"]
    for name in (db, user):
        if not name.replace("_", "").isalnum():
            raise RuntimeError(f"bad database or user name {name!r}")
    steps = []
    if psql("select 1 from pg_roles where rolname = :'u'", variables={"u": user}) != "1":
        psql(f'create role "{user}" login', variables={})
        steps.append("role created")
    if psql("select 1 from pg_database where datname = :'d'", variables={"d": db}) != "1":
        psql(f'create database "{db}" owner "{user}" encoding \'UTF8\' template template0')
        steps.append("database created")
    if not can_login(user, req["db_password"], db):
        psql(f'alter role "{user}" password :\'p\'', variables={"p": req["db_password"]})
        if not can_login(user, req["db_password"], db):
            raise RuntimeError(f"the database user {user} cannot log in over TCP after setting its password")
        steps.append("role password set")
    if psql("select to_regclass('public.users') is not null", db=db) != "t":
        for part in ("schema.sql.gz", "images.sql.gz", "data.sql.gz"):
            with gzip.open(os.path.join(SQL_DIR, part)) as f:
                sql = f.read()
            # as the owner, so the server (user zabbix) owns every table
            wrapped = b"set role \"" + user.encode() + b"\";\nbegin;\n" + sql + b"\ncommit;\n"
            psql(None, db=db, stdin=wrapped)
        steps.append("schema imported")
    import bcrypt  # python3-bcrypt

    current = psql("select passwd from users where username = 'Admin'", db=db)
    password = req["admin_password"].encode()
    if not current or not bcrypt.checkpw(password, current.replace("$2y$", "$2b$", 1).encode()):
        hashed = bcrypt.hashpw(password, bcrypt.gensalt(rounds=10)).decode().replace("$2b$", "$2y$", 1)
        psql("update users set passwd = :'h' where username = 'Admin'", db=db, variables={"h": hashed})
        steps.append("Admin password set")
    print(json.dumps({"changed": bool(steps), "steps": steps}))


try:
    main()
except Exception as e:  # reported by the role without the input
    print(json.dumps({"changed": False, "error": str(e)}))
    sys.exit(1)
