//! The README's generated parts (stack diagram, recovery table) are the tools' output, not
//! text that drifts.

mod common;

/// What `infra-synth <args> --stack prod` prints, over the repository's stacks.
fn prod_output(args: &[&str]) -> String {
    let output = common::infra_synth()
        .args(args)
        .args(["--stack", "prod", "--stacks-dir"])
        .arg(common::repo_stacks())
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn readme() -> String {
    std::fs::read_to_string(common::repo_root().join("README.md")).expect("README")
}

#[test]
fn the_readme_diagram_is_the_current_graph() {
    let graph = prod_output(&["graph", "--level", "services"]);
    let readme = readme();
    let block = readme
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a mermaid block in the README");
    assert_eq!(
        block, graph,
        "README.md's diagram is stale: paste `infra-synth graph --stack prod --level services`"
    );
}

/// The README's RTO/RPO table is `dr objectives` for prod, not a table that drifts from config.
#[test]
fn the_readme_recovery_table_is_the_current_objectives() {
    const MARKER: &str = "<!-- infra-synth dr objectives --stack prod -->\n";
    let table = prod_output(&["dr", "objectives"]);
    let readme = readme();
    let block = readme
        .split(MARKER)
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the recovery table in the README");
    assert_eq!(
        format!("{block}\n"),
        table,
        "README.md's recovery table is stale: paste `infra-synth dr objectives --stack prod`"
    );
}
