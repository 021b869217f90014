#!/usr/bin/env python3
"""Parses every GitHub workflow and enforces the delivery rules actionlint does not know about.

Rules (issue 6): AWS access only through OIDC (`role-to-assume`, `id-token: write` on that job,
never long-lived keys); every action pinned to a version; least `permissions:` declared at the top;
a `concurrency` group; Terraform pinned to the version the project tests with.

    check-workflows.py [DIR]      # default .github/workflows (+ ../actions); exit 1 on any violation
    check-workflows.py --self-test  # proves each rule fires on a bad workflow
"""
import pathlib
import re
import sys

import yaml

TERRAFORM_VERSION = "1.11.4"
PINNED = re.compile(r"^([\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})|\./[\w./-]+)$")
KEY_NAMES = re.compile(r"aws[-_]access[-_]key[-_]id|aws[-_]secret[-_]access[-_]key", re.I)


def grants_write(permissions, scope):
    """`permissions:` is either a map of scopes or one of `read-all` / `write-all`."""
    if isinstance(permissions, dict):
        return permissions.get(scope) == "write"
    return permissions == "write-all"


def violations(name, text):
    """Every rule broken by one workflow, as `name: message` strings."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        return [f"{name}: not valid YAML: {err}"]
    if not isinstance(doc, dict) or "jobs" not in doc:
        return [f"{name}: not a workflow (no `jobs`)"]
    found = []
    # YAML 1.1 reads a bare `on` key as boolean true.
    if "on" not in doc and True not in doc:
        found.append(f"{name}: no `on:` triggers")
    top_permissions = doc.get("permissions")
    if not isinstance(top_permissions, dict):
        found.append(f"{name}: top-level `permissions:` must be an explicit map (least privilege)")
    elif "write" in top_permissions.values():
        found.append(f"{name}: top-level permissions grant write; grant it on the job that needs it")
    if "concurrency" not in doc:
        found.append(f"{name}: no `concurrency` group")
    if KEY_NAMES.search(text):
        found.append(f"{name}: mentions long-lived AWS keys; use OIDC `role-to-assume`")
    env = doc.get("env") or {}
    for job_id, job in (doc.get("jobs") or {}).items():
        permissions = job.get("permissions", top_permissions) or {}
        for index, step in enumerate(job.get("steps") or []):
            where = f"{name}: jobs.{job_id}.steps[{index}]"
            found += step_violations(where, step, env)
            uses = step.get("uses") or ""
            if uses.startswith("aws-actions/configure-aws-credentials@"):
                if "role-to-assume" not in (step.get("with") or {}):
                    found.append(f"{where}: AWS credentials without `role-to-assume` (OIDC)")
                if not grants_write(permissions, "id-token"):
                    found.append(f"{where}: OIDC needs `id-token: write` on job `{job_id}`")
    return found


def step_violations(where, step, env):
    """Rules for one step of a workflow job or of a composite action."""
    uses = step.get("uses")
    if uses is None:
        return []
    found = []
    if not PINNED.match(uses):
        found.append(f"{where}: `{uses}` is not pinned to a version tag or commit")
    if uses.startswith("hashicorp/setup-terraform@"):
        version = str((step.get("with") or {}).get("terraform_version", ""))
        if version == "${{ env.TF_VERSION }}":
            version = str(env.get("TF_VERSION", ""))
        if version != TERRAFORM_VERSION:
            found.append(f"{where}: terraform_version must be {TERRAFORM_VERSION}, got `{version}`")
    return found


def action_violations(name, text):
    """A local composite action (.github/actions/*/action.yml): its steps follow the same rules."""
    doc = yaml.safe_load(text)
    steps = ((doc or {}).get("runs") or {}).get("steps") or []
    found = []
    for index, step in enumerate(steps):
        found += step_violations(f"{name}: runs.steps[{index}]", step, {})
        if KEY_NAMES.search(str(step)):
            found.append(f"{name}: runs.steps[{index}]: mentions long-lived AWS keys")
    return found


BAD_WORKFLOW = """
on: push
permissions: read-all
jobs:
  deploy:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@main
      - uses: hashicorp/setup-terraform@v3
        with: {terraform_version: "1.5.0"}
      - uses: aws-actions/configure-aws-credentials@v6
        with:
          aws-access-key-id: ${{ secrets.KEY }}
"""


def self_test():
    found = "\n".join(violations("bad.yml", BAD_WORKFLOW))
    expected = ["explicit map", "concurrency", "long-lived", "not pinned", "terraform_version",
                "role-to-assume", "id-token"]
    missing = [rule for rule in expected if rule not in found]
    if missing:
        print(f"self-test FAILED: rules that did not fire: {missing}\n{found}")
        return 1
    print(f"self-test: all {len(expected)} rules fire on a bad workflow")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    directory = pathlib.Path(argv[1] if len(argv) > 1 else ".github/workflows")
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    if not files:
        print(f"no workflows in {directory}")
        return 1
    found = []
    for path in files:
        found += violations(str(path), path.read_text())
    actions = sorted(directory.parent.glob("actions/*/action.yml"))
    for path in actions:
        found += action_violations(str(path), path.read_text())
    for line in found:
        print(f"error: {line}")
    print(f"{len(files)} workflows and {len(actions)} local actions checked, {len(found)} violations")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
