use std::path::Path;

use portfolio::Content;

fn shipped() -> Content {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("content/portfolio.toml");
    Content::load(&path).unwrap_or_else(|e| panic!("shipped content is invalid:\n{e}"))
}

#[test]
fn shipped_content_is_valid_and_complete() {
    let c = shipped();
    assert!(c.example, "sample content must be marked as example");
    assert!(!c.skills.is_empty() && !c.experience.is_empty() && !c.projects.is_empty());
    assert!(!c.certificates.is_empty() && !c.contact.is_empty() && !c.suggestions.is_empty());
}

#[test]
fn errors_name_line_and_key() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("content/portfolio.toml"),
    )
    .expect("read");
    let bad = text
        .replace("id = \"cka\"", "id = \"CKA/../x\"")
        .replace("email = \"alex.rivera@example.com\"", "email = \"nope\"");
    let err = Content::parse("portfolio.toml", &bad).expect_err("invalid");
    assert_eq!(err.len(), 2, "{err}");
    let text = err.to_string();
    assert!(text.contains("`profile.email`: `nope` is not an email"), "{text}");
    assert!(text.contains("`certificates[3].id`"), "{text}");
}
