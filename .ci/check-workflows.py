#!/usr/bin/env python3
"""Parses every GitHub workflow and enforces the delivery rules actionlint does not know about.

Rules (issue 6): AWS access only through OIDC (`role-to-assume`, `id-token: write` on that job,
never long-lived keys); every action pinned to a version; least `permissions:` declared at the top;
a `concurrency` group; Terraform pinned to the version the project tests with.
Rules (issue 14): `infra-synth apply` only applies a reviewed bundle (`--plan`) from a job behind
an `environment:`; ci.yml runs on pull requests and main and runs every step of `.ci/test`;
terraform.yml applies prod only after dev and only with a rehearsal required.
Rule (the workspace): a workflow that filters on paths and builds the workspace (it names
Cargo.lock) names every workspace crate. (Whether the image's build context holds the workspace
is .ci/check-docker-context.py's.)

    check-workflows.py [DIR]      # default .github/workflows (+ ../actions); exit 1 on any violation
    check-workflows.py --self-test  # proves each rule fires on a bad workflow
"""
import pathlib
import re
import subprocess
import sys
import tomllib

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
            found += apply_violations(where, step, job)
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


APPLY = re.compile(r"infra-synth\S*\s+apply\b([^\n]*)")


def apply_violations(where, step, job):
    """An apply applies the bundle a reviewer approved, from a job behind an environment."""
    found = []
    for match in APPLY.finditer(str(step.get("run") or "")):
        if "--plan" not in match.group(1):
            found.append(f"{where}: `infra-synth apply` without `--plan BUNDLE` applies an unreviewed plan")
        if "environment" not in job:
            found.append(f"{where}: `infra-synth apply` in a job without `environment:` (no reviewers)")
    return found


def triggers(doc):
    return doc.get("on", doc.get(True)) or {}


def ci_violations(name, text, steps):
    """ci.yml: on every pull request and on main, every step of .ci/test run by some job."""
    doc = yaml.safe_load(text) or {}
    on = triggers(doc)
    found = []
    if not isinstance(on, dict) or "pull_request" not in on or "main" not in str(on.get("push")):
        found.append(f"{name}: must run on pull_request and on push to main")
    runs = [str(step.get("run") or "") for job in (doc.get("jobs") or {}).values()
            for step in job.get("steps") or []]
    named = {word for run in runs for line in run.splitlines() if ".ci/test" in line
             for word in line.split()}
    for step in steps:
        if step not in named:
            found.append(f"{name}: the .ci/test step `{step}` runs in no job")
    return found


def delivery_violations(name, text):
    """terraform.yml: prod is applied after dev (`needs`) and only with a rehearsal required."""
    jobs = (yaml.safe_load(text) or {}).get("jobs") or {}
    by_stack = {str((job.get("with") or {}).get("stack")): (job_id, job) for job_id, job in jobs.items()}
    if "dev" not in by_stack or "prod" not in by_stack:
        return [f"{name}: needs one job applying `dev` and one applying `prod`"]
    dev_id, _ = by_stack["dev"]
    prod_id, prod = by_stack["prod"]
    needs = prod.get("needs") or []
    found = []
    if dev_id not in ([needs] if isinstance(needs, str) else needs):
        found.append(f"{name}: jobs.{prod_id} must `needs: {dev_id}` (a failed dev stops prod)")
    if (prod.get("with") or {}).get("require-rehearsal") is not True:
        found.append(f"{name}: jobs.{prod_id} must set `require-rehearsal: true`")
    return found


def workspace_members(cargo_toml):
    """The crate folders of the workspace, from the root Cargo.toml's `[workspace] members`."""
    return tomllib.loads(cargo_toml)["workspace"]["members"]


def path_filter_violations(name, text, members):
    """A trigger that filters on paths and names Cargo.lock builds the workspace: a change to any
    crate must start it."""
    found = []
    on = triggers(yaml.safe_load(text) or {})
    for event, spec in (on.items() if isinstance(on, dict) else []):
        paths = (spec or {}).get("paths") if isinstance(spec, dict) else None
        if not paths or "Cargo.lock" not in paths:
            continue
        for member in members:
            if f"{member}/**" not in paths:
                found.append(f"{name}: on.{event}.paths builds the workspace but misses `{member}/**`")
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


BAD_FILTERS = """
on:
  pull_request:
    paths: ["app/**", "Cargo.lock"]
jobs: {}
"""


BAD_DELIVERY = """
on: {pull_request: {}}
jobs:
  apply:
    runs-on: ubuntu-24.04
    steps:
      - run: ./target/release/infra-synth apply --stack prod
  dev: {uses: ./.github/workflows/stack.yml, with: {stack: dev}}
  prod: {uses: ./.github/workflows/stack.yml, with: {stack: prod}}
"""


def self_test():
    found = "\n".join(violations("bad.yml", BAD_WORKFLOW) + violations("bad.yml", BAD_DELIVERY)
                      + ci_violations("ci.yml", BAD_DELIVERY, ["fmt"])
                      + delivery_violations("terraform.yml", BAD_DELIVERY)
                      + path_filter_violations("docker.yml", BAD_FILTERS, ["app", "lib"]))
    expected = ["explicit map", "concurrency", "long-lived", "not pinned", "terraform_version",
                "role-to-assume", "id-token", "without `--plan", "without `environment:`",
                "push to main", "`fmt` runs in no job", "needs: dev", "require-rehearsal",
                "misses `lib/**`"]
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
    root = directory.parent.parent
    members = workspace_members((root / "Cargo.toml").read_text())
    for path in files:
        found += violations(str(path), path.read_text())
        found += path_filter_violations(str(path), path.read_text(), members)
        if path.name == "ci.yml":
            steps = subprocess.run(["bash", ".ci/test", "--list"], capture_output=True, text=True,
                                   check=True).stdout.split()
            found += ci_violations(str(path), path.read_text(), steps)
        if path.name == "terraform.yml":
            found += delivery_violations(str(path), path.read_text())
    if not any(path.name == "ci.yml" for path in files):
        found.append(f"{directory}: no ci.yml running the whole suite")
    actions = sorted(directory.parent.glob("actions/*/action.yml"))
    for path in actions:
        found += action_violations(str(path), path.read_text())
    for line in found:
        print(f"error: {line}")
    print(f"{len(files)} workflows and {len(actions)} local actions checked, {len(found)} violations")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
