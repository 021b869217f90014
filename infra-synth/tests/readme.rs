//! The README's stack diagram is the generator's output, not a drawing that drifts.

mod common;

#[test]
fn the_readme_diagram_is_the_current_graph() {
    let output = common::infra_synth()
        .args([
            "graph",
            "--stack",
            "prod",
            "--level",
            "services",
            "--stacks-dir",
        ])
        .arg(common::repo_stacks())
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let graph = String::from_utf8(output.stdout).expect("utf-8");
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).expect("README");
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
