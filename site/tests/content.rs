use std::path::Path;

use portfolio::Content;

fn shipped_path() -> std::path::PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("content/portfolio.toml")
}

fn shipped() -> Content {
    Content::load(&shipped_path()).unwrap_or_else(|e| panic!("shipped content is invalid:\n{e}"))
}

fn shipped_text() -> String {
    std::fs::read_to_string(shipped_path()).expect("read")
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
    let bad = shipped_text()
        .replace("id = \"cka\"", "id = \"CKA/../x\"")
        .replace("email = \"alex.rivera@example.com\"", "email = \"nope\"");
    let err = Content::parse("portfolio.toml", &bad).expect_err("invalid");
    assert_eq!(err.len(), 2, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("`profile.email`: `nope` is not an email"),
        "{text}"
    );
    assert!(text.contains("`certificates[3].id`"), "{text}");
}

#[test]
fn an_id_starting_with_a_dash_is_told_so() {
    let bad = shipped_text().replace("id = \"cka\"", "id = \"-cka\"");
    let err = Content::parse("portfolio.toml", &bad).expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.contains(
            "`certificates[3].id`: `-cka` must be 1-64 lowercase letters, digits or dashes, not \
             starting or ending with a dash"
        ),
        "{text}"
    );
}

#[test]
fn links_and_dates_are_checked() {
    let bad = shipped_text()
        .replace("https://github.com/example\"", "javascript:alert(1)\"")
        .replace("start = \"2022-03\"", "start = \"March 2022\"")
        .replace("end = \"2022-02\"", "end = \"2018-02\"")
        .replace("date = \"2022-08\"", "date = \"2022-13\"");
    let err = Content::parse("portfolio.toml", &bad).expect_err("invalid");
    let text = err.to_string();
    for key in [
        "`contact[1].url`: `javascript:alert(1)` must be an https://",
        "`experience[0].start`",
        "`experience[1].end`: `2018-02` is before the start `2019-01`",
        "`certificates[3].date`",
    ] {
        assert!(text.contains(key), "missing {key} in:\n{text}");
    }
    assert_eq!(err.len(), 4, "{text}");
    assert!(
        err.iter().all(|d| d.line > 0),
        "every error has a line:\n{text}"
    );
}

/// A text the pages show that is empty, blank or made only of characters that show nothing
/// (a zero-width space) would give an empty heading, paragraph or list item: each is refused
/// at its key and line.
#[test]
fn every_text_the_pages_show_must_show_something() {
    let bad = shipped_text()
        .replace("title = \"Cloud & Platform Engineer\"", "title = \"  \"")
        .replace("category = \"Languages\"", "category = \"\\u200B\"")
        .replace("\"Python\", \"Go\", ", "\"Python\", \"\", ")
        .replace("role = \"DevOps Engineer\"", "role = \"\"")
        .replace(
            "summary = \"Backend developer on a B2B invoicing product.\"",
            "summary = \"\\t\"",
        )
        .replace("name = \"CloudForgeX\"", "name = \"\"");
    let err = Content::parse("portfolio.toml", &bad).expect_err("invalid");
    let text = err.to_string();
    for key in [
        "`profile.title`",
        "`skills[2].category`",
        "`skills[2].items[3]`",
        "`experience[1].role`",
        "`experience[2].summary`",
        "`projects[0].name`",
    ] {
        assert!(
            text.contains(&format!("{key}: must not be empty (the pages show it)")),
            "missing {key} in:\n{text}"
        );
    }
    assert_eq!(err.len(), 6, "{text}");
    assert!(
        err.iter().all(|d| d.line > 0),
        "every error has a line:\n{text}"
    );
}

/// A link label or a suggestion made only of characters that show nothing is as empty as a
/// blank one: the link would have no text, the suggestion no question.
#[test]
fn link_labels_and_suggestions_must_show_something_too() {
    let bad = shipped_text()
        .replace("label = \"Source code\"", "label = \"\\u200B\"")
        .replace(
            "question = \"What does Alex work on?\"",
            "question = \"\\u2060\"",
        );
    let bad = replace_line_after(
        &bad,
        "question = \"How can I contact Alex?\"",
        "answer = \" \"",
    );
    let err = Content::parse("portfolio.toml", &bad).expect_err("invalid");
    let text = err.to_string();
    assert!(
        text.contains("`projects[0].links[0].label`: must not be empty"),
        "{text}"
    );
    // Each at its own key and line, not both at the suggestion's table.
    let line_of = |start: &str| {
        bad.lines()
            .position(|l| l.starts_with(start))
            .map(|i| i + 1)
    };
    for (key, line) in [
        ("suggestions[0].question", line_of("question = \"\\u2060\"")),
        ("suggestions[3].answer", line_of("answer = \" \"")),
    ] {
        let error = err.iter().find(|d| d.key == key);
        assert_eq!(error.map(|d| Some(d.line)), Some(line), "{key} in:\n{text}");
        assert!(
            text.contains(&format!("`{key}`: must not be empty")),
            "{text}"
        );
    }
    assert_eq!(err.len(), 3, "{text}");
}

/// `text` with the line after the one equal to `line` replaced by `with`.
fn replace_line_after(text: &str, line: &str, with: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == line)
        .expect("the line is there")
        + 1;
    lines[at] = with;
    lines.join("\n")
}
