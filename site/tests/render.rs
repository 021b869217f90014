//! The renderer against the shipped content: files, hashes, CSP rules, determinism, escaping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portfolio::render::{build, BuildError, BuildOptions, CSP_FILE, REPORT_FILE};
use portfolio::report::BuildReport;
use portfolio::{Content, CONTENT_SECURITY_POLICY};

fn shipped() -> Content {
    let path =
        Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("content/portfolio.toml");
    Content::load(&path).unwrap_or_else(|e| panic!("shipped content is invalid:\n{e}"))
}

fn local() -> BuildOptions {
    BuildOptions::new("http://127.0.0.1:8080/").expect("valid base URL")
}

/// Every file under `dir`, relative path → bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// ` onclick=`, ` onload=` … anywhere in the markup.
fn has_event_handler_attribute(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

fn page(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("page exists")
}

#[test]
fn writes_every_page_and_hashed_asset_the_html_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = build(&shipped(), &local(), dir.path()).expect("builds");
    let paths: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    for expected in [
        "404.html",
        "index.html",
        "resume.html",
        "robots.txt",
        "sitemap.xml",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "report is sorted");

    let index = page(dir.path(), "index.html");
    for file in report
        .files
        .iter()
        .filter(|f| f.path.starts_with("assets/"))
    {
        assert!(file.immutable, "{} is hashed", file.path);
        let name = file.path.rsplit('/').next().expect("name");
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(parts.len(), 3, "{name} is stem.hash.ext");
        assert!(
            parts[1].len() == 10 && parts[1].bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
        assert!(
            index.contains(&format!("\"/{}\"", file.path)),
            "index links {}",
            file.path
        );
        assert_eq!(file.cache_control(), "public, max-age=31536000, immutable");
        let on_disk = std::fs::metadata(dir.path().join(&file.path))
            .expect("written")
            .len();
        assert_eq!(on_disk, file.bytes);
    }
    let html = report
        .files
        .iter()
        .find(|f| f.path == "index.html")
        .expect("index");
    assert!(!html.immutable && html.content_type == "text/html; charset=utf-8");
    assert_eq!(
        page(dir.path(), CSP_FILE).trim_end(),
        CONTENT_SECURITY_POLICY,
        "one CSP string"
    );
    let written: BuildReport =
        serde_json::from_str(&page(dir.path(), REPORT_FILE)).expect("report JSON");
    assert_eq!(written, report);
}

#[test]
fn pages_obey_the_content_security_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(&shipped(), &local(), dir.path()).expect("builds");
    for name in ["index.html", "resume.html", "404.html"] {
        let html = page(dir.path(), name);
        assert!(!html.contains(" style="), "{name} has a style attribute");
        assert!(
            !html.contains("<style"),
            "{name} has an inline style element"
        );
        assert!(
            !has_event_handler_attribute(&html),
            "{name} has an inline handler"
        );
        for tag in html.split("<script").skip(1) {
            let open = tag.split('>').next().expect("tag");
            assert!(
                open.contains("src=\"/assets/") || open.contains("type=\"application/ld+json\""),
                "{name}: inline script `<script{open}>`"
            );
        }
        for attr in ["src=\"http", "href=\"//", "src=\"//"] {
            assert!(
                !html.contains(attr),
                "{name} loads from another origin ({attr})"
            );
        }
        let sections = ["<h1", "<main", "lang=\"en\"", "name=\"description\""];
        assert!(
            sections.iter().all(|s| html.contains(s)),
            "{name} lacks landmarks/meta"
        );
    }
}

#[test]
fn index_has_every_section_structured_data_and_the_widget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = shipped();
    build(&content, &local(), dir.path()).expect("builds");
    let index = page(dir.path(), "index.html");
    for id in [
        "about",
        "skills",
        "projects",
        "certificates",
        "experience",
        "contact",
    ] {
        assert!(index.contains(&format!("id=\"{id}\"")), "section {id}");
    }
    for cert in &content.certificates {
        assert!(index.contains(&format!("data-certificate=\"{}\"", cert.id)));
    }
    for suggestion in &content.suggestions {
        assert!(index.contains(&suggestion.question.replace('\'', "&#x27;")));
    }
    assert!(
        index.contains("id=\"project-cloudforgex\""),
        "EVE links to project anchors"
    );
    assert!(index.contains("role=\"log\" aria-live=\"polite\""));
    assert!(index.contains("<meta property=\"og:url\" content=\"http://127.0.0.1:8080/\">"));
    let ld = index
        .split("<script type=\"application/ld+json\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("JSON-LD block");
    let person: serde_json::Value = serde_json::from_str(ld).expect("JSON-LD parses");
    assert_eq!(person["@type"], "Person");
    assert_eq!(person["name"], content.profile.name);
    assert_eq!(
        person["hasCredential"].as_array().map(Vec::len),
        Some(content.certificates.len())
    );
    assert!(
        page(dir.path(), "sitemap.xml").contains("<loc>http://127.0.0.1:8080/resume.html</loc>")
    );
    assert!(page(dir.path(), "robots.txt").contains("Sitemap: http://127.0.0.1:8080/sitemap.xml"));
    assert!(page(dir.path(), "404.html").contains("<meta name=\"robots\" content=\"noindex\">"));
    assert!(
        page(dir.path(), "index.html").contains("Example content"),
        "example banner"
    );
}

#[test]
fn the_widget_is_given_eve_routes_limits_and_events_from_the_contract() {
    use eve_contract::routes::{
        stream_events, CERTIFICATE_LINK, CHAT, CHAT_STREAM, MAX_CHAT_TIME, MAX_MESSAGE_CHARS,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    build(&shipped(), &local(), dir.path()).expect("builds");
    let index = page(dir.path(), "index.html");
    let certificate_prefix = CERTIFICATE_LINK.path.replace("{id}", "");
    for expected in [
        format!("data-chat-url=\"{}\"", CHAT.path),
        format!("data-stream-url=\"{}\"", CHAT_STREAM.path),
        format!("data-certificate-url=\"{certificate_prefix}\""),
        format!("maxlength=\"{MAX_MESSAGE_CHARS}\""),
        format!("data-replace-event=\"{}\"", stream_events::REPLACE),
        format!("data-done-event=\"{}\"", stream_events::DONE),
        format!("data-error-event=\"{}\"", stream_events::ERROR),
    ] {
        assert!(index.contains(&expected), "{expected} not in the page");
    }
    // A reply EVE sends at its own limit must still find the widget waiting.
    let wait_ms: u128 = index
        .split_once("data-reply-wait-ms=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .and_then(|(ms, _)| ms.parse().ok())
        .expect("the page gives the widget its wait");
    assert!(
        wait_ms > MAX_CHAT_TIME.as_millis(),
        "the widget gives up after {wait_ms} ms, before EVE's {MAX_CHAT_TIME:?}"
    );
    // The script keeps no copy of its own to drift from the page's.
    let script = std::fs::read_dir(dir.path().join("assets"))
        .expect("assets")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|e| e == "js"))
        .expect("the widget's script");
    let script = std::fs::read_to_string(script).expect("read");
    for copy in [
        CHAT.path.to_string(),
        format!("'{}'", stream_events::REPLACE),
        format!("'{}'", stream_events::DONE),
        format!("'{}'", stream_events::ERROR),
        MAX_CHAT_TIME.as_millis().to_string(),
    ] {
        assert!(!script.contains(&copy), "the script names {copy} itself");
    }
}

#[test]
fn output_is_byte_for_byte_deterministic() {
    let (a, b) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    build(&shipped(), &local(), a.path()).expect("builds");
    build(&shipped(), &local(), b.path()).expect("builds");
    assert_eq!(snapshot(a.path()), snapshot(b.path()));
}

#[test]
fn rebuild_removes_only_files_the_previous_build_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    build(&shipped(), &local(), dir.path()).expect("builds");
    // Pretend an earlier build produced an asset with another hash.
    let report_path = dir.path().join(REPORT_FILE);
    let mut old: BuildReport =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("read")).expect("json");
    let mut stale = old.files[0].clone();
    stale.path = "assets/site.0000000000.css".into();
    old.files.push(stale);
    std::fs::write(&report_path, serde_json::to_vec(&old).expect("json")).expect("write");
    std::fs::write(dir.path().join("assets/site.0000000000.css"), "old").expect("write");
    std::fs::write(dir.path().join("keep.txt"), "not ours").expect("write");

    build(&shipped(), &local(), dir.path()).expect("rebuilds");
    assert!(
        !dir.path().join("assets/site.0000000000.css").exists(),
        "stale asset removed"
    );
    assert!(dir.path().join("keep.txt").exists(), "foreign file kept");
}

#[test]
fn content_is_escaped_everywhere() {
    let mut content = shipped();
    content.profile.name = "Eve <script>alert(1)</script> \"O'Neil\"".into();
    let dir = tempfile::tempdir().expect("tempdir");
    build(&content, &local(), dir.path()).expect("builds");
    for name in ["index.html", "resume.html", "404.html"] {
        let html = page(dir.path(), name);
        assert!(
            !html.contains("<script>alert"),
            "{name} renders content as HTML"
        );
        assert!(
            html.contains("Eve &lt;script&gt;alert(1)&lt;/script&gt;"),
            "{name}"
        );
    }
}

#[test]
fn rejects_bad_base_urls_and_missing_media() {
    for bad in [
        "",
        "example.com",
        "ftp://example.com",
        "https://",
        "https://a b",
        "javascript:alert(1)",
        "https://x\"y",
        // The pages link to `/assets/…` and `/resume.html` from the root, so a site built for
        // a path would load none of them there.
        "https://alex.example.com/portfolio",
        "https://alex.example.com:99999",
        "https://alex.example.com:",
        "https://:8080",
        "https://alex.example.com:+80",
        // A colon belongs in a host only inside an IPv6 literal's brackets.
        "http://alex:example.com:80",
        "http://[alex.example.com]:80",
        "http://alex]:80",
    ] {
        assert!(
            matches!(BuildOptions::new(bad), Err(BuildError::BaseUrl(_))),
            "`{bad}` should be rejected"
        );
    }
    assert_eq!(local().base_url(), "http://127.0.0.1:8080");
    for good in [
        "https://alex.example.com",
        "http://[::1]:8080/",
        "http://[::1]",
        "http://localhost:1",
    ] {
        assert!(BuildOptions::new(good).is_ok(), "`{good}` is an origin");
    }

    let mut content = shipped();
    content.profile.photo = Some("images/missing.webp".into());
    content.profile.photo_alt = Some("A portrait".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let err = build(&content, &local(), dir.path()).expect_err("no media dir");
    assert!(matches!(err, BuildError::NoMediaDir), "{err}");
    let err = build(&content, &local().with_media_dir(dir.path()), dir.path())
        .expect_err("missing photo");
    assert!(err.to_string().contains("images/missing.webp"), "{err}");
    // Read whole into memory and uploaded: a FIFO (which would block the build) and a file
    // past the limit are refused unread.
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("images");
    let made = std::process::Command::new("mkfifo")
        .arg(images.join("pipe.webp"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let huge = images.join("huge.webp");
    std::fs::File::create(&huge)
        .and_then(|file| file.set_len(portfolio::render::MAX_PHOTO_BYTES + 1))
        .expect("a sparse file");
    for (photo, why) in [
        ("images/pipe.webp", "not a regular file"),
        ("images/huge.webp", "more than the 5 MiB allowed here"),
    ] {
        content.profile.photo = Some(photo.into());
        let err =
            build(&content, &local().with_media_dir(dir.path()), dir.path()).expect_err("refused");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            source.as_deref().is_some_and(|s| s.contains(why)),
            "{photo}: {err}: {source:?}"
        );
    }
}

#[test]
fn an_output_path_that_is_a_file_is_refused_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("site");
    std::fs::write(&file, "not a folder").expect("write");
    let err = build(&shipped(), &local(), &file).expect_err("a file");
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        err.to_string().contains(&file.display().to_string())
            && source.as_deref() == Some("it is a file, and the site is written into a folder"),
        "{err}: {source:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "not a folder"
    );
}

#[test]
fn photo_is_copied_and_shown_with_alt_text() {
    let media = tempfile::tempdir().expect("media");
    std::fs::create_dir_all(media.path().join("images")).expect("mkdir");
    std::fs::write(media.path().join("images/me.webp"), b"RIFF0000WEBP").expect("write");
    let mut content = shipped();
    content.profile.photo = Some("images/me.webp".into());
    content.profile.photo_alt = Some("Alex smiling".into());
    let out = tempfile::tempdir().expect("out");
    let report =
        build(&content, &local().with_media_dir(media.path()), out.path()).expect("builds");
    let photo = report
        .files
        .iter()
        .find(|f| f.path == "images/me.webp")
        .expect("listed");
    assert_eq!(photo.content_type, "image/webp");
    let index = page(out.path(), "index.html");
    assert!(
        index.contains("src=\"/images/me.webp\" alt=\"Alex smiling\""),
        "{index}"
    );
}
