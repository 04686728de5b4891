#!/usr/bin/env python3
"""python_fork.py — trips the `process.fork` rule from Python: os.fork(), then, as a second
operation, subprocess.run(["true"]).

  os.fork()               op `fork`       (child os._exit(0)s at once; the parent waits)
  subprocess.run(["true"]) op `subprocess` (CPython's _posixsubprocess uses vfork(2) when it can
                                            — a spawn, no copy of the address space — and falls
                                            back to fork(2) if vfork fails)

Expected:
  microkernel         RESULT fork errno=EPERM, RESULT subprocess ok
  microkernel-strict  RESULT fork errno=EPERM, RESULT subprocess errno=EPERM (vfork and the
                      fork fallback both denied)
  apple-jit           RESULT fork ok, RESULT subprocess ok
  audit               RESULT fork ok, RESULT subprocess ok (both logged)
  no strictrun        RESULT fork ok, RESULT subprocess ok

Run it with the real interpreter, not a pyenv shim (a bash script that forks before Python
starts): "$(python3 -c 'import sys; print(sys.executable)')" python_fork.py
Exits 0 whenever it ran to the end.
"""
import errno
import os
import subprocess
import sys


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def errno_result(op, err):
    name = errno.errorcode.get(err.errno, str(err.errno)) if err.errno else "UNKNOWN"
    out(f"RESULT {op} errno={name}")


def try_fork():
    try:
        pid = os.fork()
    except OSError as err:
        errno_result("fork", err)
        return
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    out("RESULT fork ok")


def try_subprocess():
    try:
        done = subprocess.run(["true"])
    except OSError as err:
        errno_result("subprocess", err)
        return
    out(f"RESULT subprocess ok status={done.returncode}")


def main():
    out("EXPECT fork microkernel=errno=EPERM microkernel-strict=errno=EPERM apple-jit=ok audit=ok")
    out("EXPECT subprocess microkernel=ok microkernel-strict=errno=EPERM apple-jit=ok audit=ok")
    try_fork()
    try_subprocess()
    return 0


if __name__ == "__main__":
    sys.exit(main())
