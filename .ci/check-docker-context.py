#!/usr/bin/env python3
"""Cuts the image's build context the way `.dockerignore` tells Docker to, and has cargo load the
workspace from it, as the image build's `cargo build` does first. There is no Docker engine here,
so hadolint alone would pass a Dockerfile whose build cannot start: a context without one crate
(cargo loads every member) or without a file a manifest names (a `[[test]]` under `tests/`).

    check-docker-context.py              # exit 1 when cargo cannot load the workspace from it
    check-docker-context.py --self-test  # the matcher keeps and cuts what Docker would
"""
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile


def pattern_regex(pattern):
    """One `.dockerignore` pattern (Go's filepath.Match, plus `**` for any run of folders)."""
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def parse(text):
    """The rules in order, each `(re-includes, regex)`; comments and blank lines dropped."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        rules.append((include, pattern_regex(line[1:] if include else line)))
    return rules


def ignored(path, rules):
    """Whether Docker leaves `path` out: the last rule matching it or a folder above it decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for include, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            verdict = not include
    return verdict


def self_test():
    rules = parse("# comment\n*\n!Cargo.toml\n!site/\nsite/tests/\n**/target/\n")
    expected = {"Cargo.toml": False, "site/src/lib.rs": False, "site/tests/render.rs": True,
                "README.md": True, "site/target/debug/x": True, "a/b/target/c": True,
                "stacks/prod.toml": True}
    wrong = {path: not cut for path, cut in expected.items() if ignored(path, rules) != cut}
    if wrong:
        print(f"self-test FAILED: kept (False) or cut (True) wrongly: {wrong}")
        return 1
    print(f"self-test: the matcher keeps and cuts {len(expected)} paths as Docker does")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    rules = parse(pathlib.Path(".dockerignore").read_text())
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    files = [f for f in files if f and pathlib.Path(f).is_file()]
    kept = [f for f in files if not ignored(f, rules)]
    with tempfile.TemporaryDirectory() as context:
        for path in kept:
            target = pathlib.Path(context, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        # fetch reads every manifest and its targets as a build does, and compiles nothing.
        fetched = subprocess.run(["cargo", "fetch", "--locked", "--target", "x86_64-unknown-linux-gnu"],
                                 cwd=context, capture_output=True, text=True)
    if fetched.returncode != 0:
        print(f"error: .dockerignore: cargo cannot load the workspace from the build context "
              f"({len(kept)} of {len(files)} files):\n{fetched.stderr.strip()}")
        return 1
    print(f"docker context: {len(kept)} of {len(files)} files; cargo loads the workspace from it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
