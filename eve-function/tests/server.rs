//! `eve-server` as the site and delivery engineers use it: API shapes, SSE format, the
//! served site with its security headers, and a clean exit on SIGTERM.

mod support;

use std::path::Path;

use serde_json::json;
use support::{client, get, post_json, send, sse_events, EveServer};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_eve-server"))
}

#[tokio::test]
async fn api_shapes_match_the_contract() {
    let s = EveServer::spawn(binary(), &["--offline"], &[]).expect("starts");
    let health = get(&format!("{}/api/health", s.url)).await.json();
    assert_eq!(
        health,
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })
    );
    let ready = get(&format!("{}/api/health/ready", s.url)).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");

    let suggestions = get(&format!("{}/api/suggestions", s.url)).await.json();
    let first = suggestions["suggestions"][0]
        .as_str()
        .expect("a suggestion")
        .to_string();

    let reply = post_json(
        &format!("{}/api/chat", s.url),
        &json!({ "message": first.to_uppercase() }),
    )
    .await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    assert_eq!(answer["source"], "curated");
    let session = answer["session_id"]
        .as_str()
        .expect("session id")
        .to_string();

    let follow_up = json!({ "message": "Which projects use DynamoDB?", "session_id": session });
    let answer = post_json(&format!("{}/api/chat", s.url), &follow_up)
        .await
        .json();
    assert_eq!(
        answer["session_id"],
        session.as_str(),
        "the session is kept"
    );
    assert_eq!(answer["source"], "offline");
    assert!(
        answer["reply"]
            .as_str()
            .is_some_and(|r| r.contains("](#project-")),
        "{answer}"
    );
}

#[tokio::test]
async fn streaming_sends_deltas_then_done() {
    let s = EveServer::spawn(binary(), &["--offline"], &[]).expect("starts");
    let reply = post_json(
        &format!("{}/api/chat/stream", s.url),
        &json!({ "message": "Tell me about Ledger Lake" }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream")));
    let events = sse_events(&reply.text());
    let (last, deltas) = events.split_last().expect("events");
    assert_eq!(last.0, "done", "{events:?}");
    assert_eq!(last.1["source"], "offline");
    assert!(last.1["session_id"].as_str().is_some_and(|s| s.len() == 36));
    let text: String = deltas
        .iter()
        .map(|(kind, data)| {
            assert_eq!(kind, "message");
            data["delta"].as_str().expect("delta").to_string()
        })
        .collect();
    assert!(text.contains("Ledger Lake"), "{text}");

    let refused = post_json(
        &format!("{}/api/chat/stream", s.url),
        &json!({ "message": "" }),
    )
    .await;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (400, "message_empty")
    );
}

#[tokio::test]
async fn the_site_is_served_with_its_csp_and_404_page() {
    let dir = std::env::temp_dir().join(format!("eve-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("site dir");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>home</title>").expect("index");
    std::fs::write(dir.join("404.html"), "<!doctype html><title>lost</title>").expect("404");
    std::fs::write(dir.join("app.js"), "console.log(1)").expect("js");
    let site_dir = dir.to_string_lossy().into_owned();
    let s =
        EveServer::spawn(binary(), &["--offline", "--site-dir", &site_dir], &[]).expect("starts");

    let home = get(&format!("{}/", s.url)).await;
    assert_eq!(home.status, 200);
    assert!(home.text().contains("home"));
    assert_eq!(
        home.header("content-security-policy"),
        Some(portfolio::CONTENT_SECURITY_POLICY)
    );
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(home.header("x-frame-options"), Some("DENY"));
    // Served from a container, the site carries what CloudFront's policy gives it.
    assert_eq!(
        home.header("permissions-policy"),
        Some(portfolio::headers::PERMISSIONS_POLICY)
    );
    assert_eq!(
        home.header("strict-transport-security"),
        Some(portfolio::headers::STRICT_TRANSPORT_SECURITY)
    );
    assert_eq!(
        home.header("referrer-policy"),
        Some(portfolio::headers::REFERRER_POLICY)
    );

    let script = get(&format!("{}/app.js", s.url)).await;
    assert_eq!(script.status, 200);
    assert_eq!(script.header("x-content-type-options"), Some("nosniff"));

    let missing = get(&format!("{}/no/such/page", s.url)).await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("lost"), "the site's own 404 page");
    assert_eq!(
        missing.header("content-security-policy"),
        Some(portfolio::CONTENT_SECURITY_POLICY)
    );

    let traversal = get(&format!("{}/..%2F..%2Fetc%2Fpasswd", s.url)).await;
    assert_eq!(traversal.status, 404);
    // A folder is no page, as on CloudFront (whose default root object is `/` alone): no
    // redirect that tells a prober the folder exists, and no index page of a subfolder.
    std::fs::create_dir_all(dir.join("assets")).expect("assets dir");
    std::fs::create_dir_all(dir.join("drafts")).expect("drafts dir");
    std::fs::write(dir.join("drafts/index.html"), "draft").expect("draft index");
    for path in ["/assets", "/assets/", "/drafts", "/drafts/"] {
        let folder = get(&format!("{}{path}", s.url)).await;
        assert_eq!(folder.status, 404, "{path}");
        assert_eq!(folder.header("location"), None, "{path}");
        assert!(
            folder.text().contains("lost"),
            "{path}: the site's own 404 page"
        );
    }
    let home_again = get(&format!("{}/?from=search", s.url)).await;
    assert_eq!(home_again.status, 200);
    assert!(home_again.text().contains("home"));
    // What publish would not upload is not served: hidden files and the build's own files.
    std::fs::write(dir.join(".env"), "SECRET=1").expect("dotfile");
    for build_file in portfolio::BUILD_FILES {
        std::fs::write(dir.join(build_file), "{}").expect("build file");
    }
    for path in ["/.env", "/%2Eenv", "/_build.json", "/%5Fcsp.txt"] {
        let hidden = get(&format!("{}{path}", s.url)).await;
        assert_eq!(hidden.status, 404, "{path}");
        assert!(
            hidden.text().contains("lost"),
            "{path}: the site's own 404 page"
        );
    }
    // Except `.well-known`, the place for public metadata (RFC 8615).
    std::fs::create_dir_all(dir.join(".well-known")).expect("well-known");
    std::fs::write(dir.join(".well-known/security.txt"), "Contact: x").expect("security.txt");
    let security = get(&format!("{}/.well-known/security.txt", s.url)).await;
    assert_eq!(security.status, 200);
    let api_missing = get(&format!("{}/api/missing", s.url)).await;
    assert_eq!(
        (api_missing.status, api_missing.error_code().as_str()),
        (404, "not_found")
    );
    let api = get(&format!("{}/api/health", s.url)).await;
    assert_eq!(api.json()["status"], "ok");

    // The file server's own refusals came with empty bodies; they have the API's shape, and
    // keep what the file server says in its headers.
    let client = client();
    let posted = send(&client, "POST", &format!("{}/index.html", s.url), &[], "x").await;
    assert_eq!(
        (posted.status, posted.error_code().as_str()),
        (405, "method_not_allowed")
    );
    assert_eq!(posted.header("allow"), Some("GET,HEAD"));
    let script = format!("{}/app.js", s.url);
    let ranged = |range: &'static str| {
        let (client, script) = (&client, &script);
        async move { send(client, "GET", script, &[("range", range)], "").await }
    };
    let past_the_end = ranged("bytes=999-").await;
    assert_eq!(
        (past_the_end.status, past_the_end.error_code().as_str()),
        (416, "range_not_satisfiable")
    );
    assert_eq!(past_the_end.header("content-range"), Some("bytes */14"));
    // RFC 9110 (14.2): a unit is read without regard to case (`Bytes=` got 416); one other
    // than bytes is ignored (MUST), and so are several ranges (MAY), which the file server
    // cannot send as one multipart body, so the whole file comes back (they got 416, with the
    // file server's own text for several ranges); a bytes range that is not one is refused
    // (SHOULD), in our words.
    for (range, status, body) in [
        ("bytes=0-6", 206, "console"),
        ("Bytes=0-6", 206, "console"),
        ("bytes=0-0,5-6", 200, "console.log(1)"),
        ("items=0-1", 200, "console.log(1)"),
        ("none", 200, "console.log(1)"),
        ("bytes=abc", 416, ""),
        ("bytes=6-2", 416, ""),
        ("bytes=", 416, ""),
    ] {
        let answer = ranged(range).await;
        assert_eq!(answer.status, status, "{range}");
        if status == 416 {
            assert_eq!(answer.error_code(), "range_not_satisfiable", "{range}");
        } else {
            assert_eq!(answer.text(), body, "{range}");
        }
    }
    // Only GET and HEAD are served, wherever the path leads: a POST to a path that has no file
    // got 404 `bad_request` with `Allow` beside it.
    for path in ["/index.html", "/nope", "/API/CHAT", "/assets"] {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let refused = send(&client, method, &format!("{}{path}", s.url), &[], "x").await;
            assert_eq!(
                (refused.status, refused.error_code().as_str()),
                (405, "method_not_allowed"),
                "{method} {path}"
            );
            assert_eq!(refused.header("allow"), Some("GET,HEAD"), "{method} {path}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A built folder is served as `publish` uploads it: each file with the Content-Type and
/// Cache-Control its build report gives (pages revalidate, hashed assets are cached for a
/// year), and only the files the report lists. eve-server sent no Cache-Control at all, so a
/// browser could keep a page that links assets the next deploy no longer has.
#[tokio::test]
async fn a_built_site_is_served_with_the_headers_publish_gives_it() {
    use portfolio::report::{BuildReport, SiteFile};
    let site = tempfile::tempdir().expect("site dir");
    let dir = site.path();
    let files = [
        (
            "404.html",
            "text/html; charset=utf-8",
            false,
            "<!doctype html><title>lost</title>",
        ),
        (
            "assets/eve.0123456789.js",
            "text/javascript; charset=utf-8",
            true,
            "console.log(1)",
        ),
        (
            "index.html",
            "text/html; charset=utf-8",
            false,
            "<!doctype html><title>home</title>",
        ),
        (
            "robots.txt",
            "text/plain; charset=utf-8",
            false,
            "User-agent: *",
        ),
    ];
    std::fs::create_dir_all(dir.join("assets")).expect("assets dir");
    let mut listed = Vec::new();
    for (path, content_type, immutable, body) in files {
        std::fs::write(dir.join(path), body).expect("a file");
        listed.push(SiteFile {
            path: path.into(),
            content_type: content_type.into(),
            immutable,
            bytes: body.len() as u64,
        });
    }
    let report = BuildReport {
        files: listed.clone(),
        content_security_policy: portfolio::CONTENT_SECURITY_POLICY.into(),
    };
    std::fs::write(
        dir.join(portfolio::REPORT_FILE),
        serde_json::to_vec(&report).expect("report JSON"),
    )
    .expect("report");
    // On disk, but no file of the build: publish would not upload it.
    std::fs::write(dir.join("notes.txt"), "not for visitors").expect("stray file");
    let site_dir = dir.to_str().expect("utf-8 path");
    let s =
        EveServer::spawn(binary(), &["--offline", "--site-dir", site_dir], &[]).expect("starts");

    for file in &listed {
        let url = match file.path.as_str() {
            "index.html" => format!("{}/", s.url),
            path => format!("{}/{path}", s.url),
        };
        let served = get(&url).await;
        assert_eq!(served.status, 200, "{url}");
        assert_eq!(
            served.header("content-type"),
            Some(file.content_type.as_str()),
            "{url}"
        );
        assert_eq!(
            served.header("cache-control"),
            Some(file.cache_control()),
            "{url}"
        );
    }
    // A revalidation keeps the file's Cache-Control.
    let client = client();
    let script = format!("{}/assets/eve.0123456789.js", s.url);
    let etag = get(&script)
        .await
        .header("etag")
        .expect("an ETag")
        .to_string();
    let revalidated = send(&client, "GET", &script, &[("if-none-match", &etag)], "").await;
    assert_eq!(revalidated.status, 304);
    assert_eq!(
        revalidated.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let stray = get(&format!("{}/notes.txt", s.url)).await;
    assert_eq!(stray.status, 404);
    assert!(stray.text().contains("lost"), "the site's own 404 page");
    // A rebuild beside the running server (`infra-synth dev --watch`) lists a new file: it is
    // served with its headers.
    let rebuilt = SiteFile {
        path: "portrait.webp".into(),
        content_type: "image/webp".into(),
        immutable: false,
        bytes: 4,
    };
    std::fs::write(dir.join(&rebuilt.path), "RIFF").expect("new file");
    let report = BuildReport {
        files: listed.iter().cloned().chain([rebuilt.clone()]).collect(),
        ..report
    };
    std::fs::write(
        dir.join(portfolio::REPORT_FILE),
        serde_json::to_vec(&report).expect("report JSON"),
    )
    .expect("report");
    let portrait = get(&format!("{}/{}", s.url, rebuilt.path)).await;
    assert_eq!(portrait.status, 200);
    assert_eq!(portrait.header("content-type"), Some("image/webp"));
    assert_eq!(
        portrait.header("cache-control"),
        Some(rebuilt.cache_control())
    );
}

/// A build report eve-server cannot read stops it at start, naming the file, rather than
/// serving the folder without the headers the report gives.
#[test]
fn a_broken_build_report_stops_startup_naming_it() {
    let site = tempfile::tempdir().expect("site dir");
    std::fs::write(site.path().join(portfolio::REPORT_FILE), "{\"files\": 3}").expect("report");
    let site_dir = site.path().to_str().expect("utf-8 path");
    let (code, stderr) =
        support::run_to_exit(binary(), &["--offline", "--site-dir", site_dir], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("_build.json is not a build report"),
        "{stderr}"
    );
}

#[test]
fn bad_settings_stop_startup_with_a_named_error() {
    let (code, stderr) = support::run_to_exit(
        binary(),
        &["--offline", "--listen", "127.0.0.1:0"],
        &[
            ("EVE_MAX_TOKENS", "lots"),
            ("EVE_PRESIGN_SECONDS", "3600"),
            ("EVE_ALLOWED_ORIGINS", "https://a.example,a.example"),
        ],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("env EVE_ALLOWED_ORIGINS = `https://a.example,a.example`: `a.example` must be an https:// origin"),
        "{stderr}"
    );
    assert!(stderr.contains("env EVE_MAX_TOKENS = `lots`"), "{stderr}");
    assert!(
        stderr.contains("env EVE_PRESIGN_SECONDS = `3600`"),
        "{stderr}"
    );

    let (code, stderr) = support::run_to_exit(
        binary(),
        &["--offline", "--listen", "127.0.0.1:0"],
        &[("EVE_CONTENT_PATH", "/nonexistent/portfolio.toml")],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(concat!(
            "error: the content file the `content_path` setting names (EVE_CONTENT_PATH or the",
            " parameter store) does not load: /nonexistent/portfolio.toml: cannot read file"
        )),
        "said once, at the setting and the file: {stderr}"
    );
    assert!(!stderr.contains("1 error"), "{stderr}");
}

/// A log stream that breaks (its reader gone: a log shipper that died, `2>&1 | head`) costs the
/// logs, not the server. tracing-subscriber reported the failed write with `eprintln!`, which
/// panicked on the same broken pipe: the server died at its first log line, before it listened.
/// A start-up error with nowhere to be told exits 1 as it does with a reader, not a panic's 101.
#[tokio::test]
async fn a_broken_log_stream_costs_the_logs_not_the_server() {
    let mut s =
        EveServer::spawn_with_stderr_closed(binary(), &["--offline"], &[("RUST_LOG", "info")])
            .expect("serves with nowhere to log");
    for message in ["How can I contact Alex?", "Which projects use DynamoDB?"] {
        let reply = post_json(
            &format!("{}/api/chat", s.url),
            &json!({ "message": message }),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    assert!(s.is_running(), "stopped after logging its answers");

    let status = std::process::Command::new(binary())
        .args(["--offline", "--listen", "127.0.0.1:0"])
        .env("EVE_MAX_TOKENS", "lots")
        .stdout(std::process::Stdio::null())
        .stderr(support::broken_pipe())
        .status()
        .expect("runs");
    assert_eq!(status.code(), Some(1), "{status}");
}

/// A taken port was told in the OS's words with its number: `Address already in use (os error 98)`.
#[test]
fn a_taken_port_is_told_in_our_words() {
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let (code, stderr) = support::run_to_exit(binary(), &["--offline", "--listen", &address], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "error: cannot listen on {address}: address already in use\n"
        )),
        "{stderr}"
    );
}

/// An argument or a path quoted back in an error was printed as given: one holding a
/// terminal's escape sequence played it on the reader's terminal.
#[test]
fn an_argument_quoted_in_an_error_cannot_drive_the_terminal() {
    let escape = "\u{1b}[2J\u{202e}";
    let missing = format!("/nonexistent/{escape}");
    let cases: [(&[&str], i32); 2] = [
        (&["--offline", "--listen", escape], 2),
        (
            &[
                "--offline",
                "--listen",
                "127.0.0.1:0",
                "--site-dir",
                &missing,
            ],
            1,
        ),
    ];
    for (args, code) in cases {
        let (exit, stderr) = support::run_to_exit(binary(), args, &[]);
        assert_eq!(exit, Some(code), "{args:?}: {stderr}");
        assert!(
            !stderr.contains('\u{1b}') && !stderr.contains('\u{202e}'),
            "{args:?}: {stderr:?}"
        );
        assert!(
            stderr.contains("\\u{1b}[2J\\u{202e}"),
            "{args:?}: {stderr:?}"
        );
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut s = EveServer::spawn(binary(), &["--offline"], &[]).expect("starts");
    let status = s.terminate();
    assert_eq!(
        status,
        Some(0),
        "graceful shutdown exits 0; logs: {}",
        s.logs()
    );
}

/// Every route of the contract API Gateway proxies (`eve_contract::routes`) is served at its
/// method: a wrong method is 405 and the path is never an unknown route (404). A path
/// parameter gets a value only the handler refuses (400 `invalid_id`), so it must be reached.
#[tokio::test]
async fn every_contract_route_is_served() {
    let s = EveServer::spawn(binary(), &["--offline"], &[]).expect("starts");
    for route in eve_contract::routes::ROUTES {
        let path = route.path.replace("{id}", "Not_A_Slug");
        let url = format!("{}{path}", s.url);
        let (served, wrong_method) = match route.method {
            "POST" => (
                post_json(&url, &json!({ "message": "hello" })).await,
                get(&url).await,
            ),
            _ => (get(&url).await, post_json(&url, &json!({})).await),
        };
        assert_ne!(served.status, 404, "{} {path} is not served", route.method);
        assert_ne!(
            served.status, 405,
            "{} {path} refuses its method",
            route.method
        );
        assert_eq!(wrong_method.status, 405, "{path} answers the wrong method");
    }
}
