//! The README's generated parts (stack diagram, recovery table, cost tables) are the tools'
//! output, not text that drifts.

mod common;

/// What `infra-synth <args> --stack prod` prints, over the repository's stacks.
fn prod_output(args: &[&str]) -> String {
    stack_output("prod", args)
}

fn stack_output(stack: &str, args: &[&str]) -> String {
    let output = common::infra_synth()
        .args(args)
        .args(["--stack", stack, "--stacks-dir"])
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

/// The block under `<!-- infra-synth <command> -->` in the README equals what the command prints.
fn assert_block_is_output(stack: &str, args: &[&str]) {
    let words = args.iter().take_while(|a| !a.starts_with("--")).count();
    let flags: String = args[words..].iter().map(|a| format!(" {a}")).collect();
    let command = format!(
        "infra-synth {} --stack {stack}{flags}",
        args[..words].join(" ")
    );
    let marker = format!("<!-- {command} -->\n");
    let output = stack_output(stack, args);
    let readme = readme();
    let block = readme
        .split(&marker)
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no block under {marker} in the README"));
    assert_eq!(
        format!("{block}\n"),
        output,
        "README.md's block is stale: paste `{command}`"
    );
}

/// The README's RTO/RPO table is `dr objectives` for prod, not a table that drifts from config.
#[test]
fn the_readme_recovery_table_is_the_current_objectives() {
    assert_block_is_output("prod", &["dr", "objectives"]);
}

/// The README's estimates and the container comparison are what `cost` computes today.
#[test]
fn the_readme_cost_tables_are_the_current_estimates() {
    assert_block_is_output("prod", &["cost", "--format", "markdown"]);
    assert_block_is_output("dev", &["cost", "--format", "markdown"]);
    assert_block_is_output(
        "prod",
        &["cost", "--format", "markdown", "--compare", "kubernetes"],
    );
}
