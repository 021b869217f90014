//! Every stack's output passes real `terraform validate` against the real AWS provider schema.

mod common;

#[test]
fn every_stack_passes_terraform_validate() {
    let Some(terraform) = common::Validator::find("every_stack_passes_terraform_validate") else {
        return;
    };
    let out = tempfile::tempdir().expect("tempdir");
    for name in ["dev", "prod", "local"] {
        let dir = common::synth(&common::repo_stacks(), name)
            .write(out.path())
            .expect("write");
        terraform.validate(name, &dir);
    }
}
