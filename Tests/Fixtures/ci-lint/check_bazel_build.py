"""Checks a Bazel BUILD file as far as Python's parser can: Starlark's syntax is Python's, so
ast.parse reads it. The sh_test must be loaded, shard itself (shard_count >= 2), and name files
that exist relative to ROOT, its script executable, its SUITE among its data.

usage: check_bazel_build.py BUILD ROOT    (exit 0 and "ok N" when sound, 1 and the reason if not)
"""
import ast
import os
import sys


def fail(message):
    print(f"{sys.argv[1]}: {message}")
    sys.exit(1)


def main():
    path, root = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        try:
            tree = ast.parse(f.read(), path)
        except SyntaxError as error:
            fail(f"not Starlark: {error}")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    loads = [c for c in calls if c.func.id == "load"]
    if not any("sh_test" in [ast.literal_eval(a) for a in c.args[1:]] for c in loads):
        fail("sh_test is not loaded (load(\"@rules_shell//shell:sh_test.bzl\", \"sh_test\"))")
    tests = [c for c in calls if c.func.id == "sh_test"]
    if len(tests) != 1:
        fail(f"expected one sh_test, found {len(tests)}")
    keywords = {k.arg: k.value for k in tests[0].keywords}
    for key in ("name", "srcs", "shard_count", "env"):
        if key not in keywords:
            fail(f"sh_test has no {key}")
    shards = ast.literal_eval(keywords["shard_count"])
    if not isinstance(shards, int) or shards < 2:
        fail(f"shard_count must be a whole number of at least 2, found {shards!r}")
    srcs = ast.literal_eval(keywords["srcs"])
    data = ast.literal_eval(keywords["data"]) if "data" in keywords else []
    for label in srcs + data:
        if label.startswith((":", "//", "@")):
            fail(f"{label}: only files of this package are checked")
        if not os.path.exists(os.path.join(root, label)):
            fail(f"{label} does not exist under {root}")
    for label in srcs:
        if not os.access(os.path.join(root, label), os.X_OK):
            fail(f"{label} is not executable")
    env = ast.literal_eval(keywords["env"])
    if env.get("SUITE") not in data:
        fail(f"env SUITE {env.get('SUITE')!r} is not among the data {data}")
    print("ok", shards)


main()
