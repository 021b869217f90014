//! The crate's layers import only downwards: commands → deploy → synth → emit / cost / app →
//! constructs → tf, with config at the bottom knowing nothing above it. Read from the source
//! text, so a wrong import fails here before review. (And one rule for every source: the
//! checkout is found when a test runs, not where it was built.)

use std::path::Path;

/// Every name that follows `prefix` in a source file, e.g. each `crate::<module>` it uses.
fn names_after(file: &Path, prefix: &str) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("source");
    text.match_indices(prefix)
        .map(|(at, _)| {
            text[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn sources(dir: &str) -> Vec<std::path::PathBuf> {
    let dir =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("src")
            .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    files
}

/// `layer`'s files name none of `above`.
fn assert_imports_nothing_of(layer: &str, above: &[&str]) {
    let mut wrong = Vec::new();
    for file in sources(layer) {
        for module in names_after(&file, "crate::") {
            if above.contains(&module.as_str()) {
                wrong.push(format!("{} uses crate::{module}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports pointing up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn config_knows_nothing_above_it() {
    assert_imports_nothing_of(
        "config",
        &[
            "tf",
            "constructs",
            "app",
            "emit",
            "synth",
            "graph",
            "cost",
            "deploy",
            "commands",
        ],
    );
}

#[test]
fn the_document_layer_knows_no_construct() {
    assert_imports_nothing_of(
        "tf",
        &[
            "constructs",
            "app",
            "emit",
            "synth",
            "graph",
            "cost",
            "deploy",
            "commands",
            "config",
        ],
    );
}

#[test]
fn constructs_know_no_app_emitter_or_command() {
    assert_imports_nothing_of(
        "constructs",
        &[
            "app", "emit", "synth", "graph", "cost", "deploy", "commands",
        ],
    );
    // Constructs take props, never the stack file: only shared vocabulary comes from config.
    for file in sources("constructs") {
        let text = std::fs::read_to_string(&file).expect("source");
        for (at, _) in text.match_indices("crate::config::") {
            let name: String = text[at + "crate::config::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert_eq!(
                name,
                "Architecture",
                "{} reads config::{name}",
                file.display()
            );
        }
    }
}

#[test]
fn the_app_only_maps_config_onto_constructs() {
    assert_imports_nothing_of(
        "app",
        &["emit", "synth", "graph", "cost", "deploy", "commands"],
    );
}

#[test]
fn emitters_and_deploy_know_no_command() {
    assert_imports_nothing_of("emit", &["synth", "deploy", "commands", "app"]);
    // The cost model reads the finished model like an emitter: never the app or what is above.
    assert_imports_nothing_of("cost", &["synth", "deploy", "commands", "app"]);
    assert_imports_nothing_of("deploy", &["commands"]);
}

/// Nothing reads the checkout through the path it was built in (`env!` of the manifest dir):
/// CI shares its target dir between checkouts, and a test binary built in one was found reading
/// another's files (or none, once that checkout was gone). The path cargo sets when a test runs
/// follows the checkout.
#[test]
fn sources_find_the_checkout_when_they_run() {
    let needle = concat!("env!(\"CARGO_", "MANIFEST_DIR\")");
    let root = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let listed = std::process::Command::new("git")
        .args(["ls-files", "*.rs"])
        .current_dir(&root)
        .output();
    let Some(listed) = listed.ok().filter(|o| o.status.success()) else {
        eprintln!("SKIP: sources_find_the_checkout_when_they_run: git is not available");
        return;
    };
    let offenders: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|file| {
            std::fs::read_to_string(root.join(file)).is_ok_and(|text| text.contains(needle))
        })
        .map(str::to_string)
        .collect();
    assert!(
        offenders.is_empty(),
        "read std::env::var_os(\"CARGO_MANIFEST_DIR\") instead in {offenders:?}"
    );
}
