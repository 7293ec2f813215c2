# SPDX-License-Identifier: MIT
"""A real PostgreSQL server for the PostgreSQL sink tests.

PgServer runs Debian's PostgreSQL 15 (initdb, pg_ctl from
/usr/lib/postgresql/15/bin) in a temporary directory, on a free port of
127.0.0.1 with its unix socket in that directory, with trust authentication.
PostgreSQL refuses to run as root, so when the tests run as root (CI) the
programs run as the `postgres` user through runuser and the directory is
made accessible to it. stop() and start() stop and restart the same cluster
(the tests stop it in the middle of a storm). psql() runs one statement.
"""
import os
import pwd
import shutil
import subprocess
import tempfile

from broker_util import free_port

PGBIN = "/usr/lib/postgresql/15/bin"


def available():
    if not os.path.exists(os.path.join(PGBIN, "initdb")):
        return False
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return False
        return shutil.which("runuser") is not None
    return True


class PgServer:
    def __init__(self, db="audit"):
        self.dir = tempfile.mkdtemp(prefix="mqr-pg-")
        os.chmod(self.dir, 0o777)
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self.db = db
        os.mkdir(self.data, 0o700)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.data, pw.pw_uid, pw.pw_gid)
        self._run([os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
        self.start()
        self.psql("CREATE DATABASE %s" % db, db="postgres")

    def _run(self, argv, check=True, timeout=120):
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.dir)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed:\n%s%s" % (argv, r.stdout, r.stderr))
        return r

    def start(self):
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off" % (self.port, self.dir))
        self._run([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l", self.logfile, "-w",
                   "-t", "60", "-o", opts, "start"])

    def stop(self, mode="fast"):
        self._run([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "60",
                   "stop"], check=False)

    def psql(self, sql, db=None):
        r = subprocess.run([os.path.join(PGBIN, "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", "postgres", "-d", db or self.db, "-At", "-v", "ON_ERROR_STOP=1",
                            "-c", sql], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("psql %r:\n%s" % (sql, r.stderr))
        return r.stdout.strip()

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
