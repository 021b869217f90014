//! The pages: handlebars templates (strict mode) fed one view per page.

use std::time::Duration;

use handlebars::{handlebars_helper, Handlebars};
use serde::Serialize;
use serde_json::json;

use super::assets::{AssetUrls, HashedAssets};
use super::{BuildError, BuildOptions, Output};
use crate::Content;

/// One template: its name, its file under `site/templates/`, and that file compiled in.
macro_rules! template {
    ($name:literal, $file:literal) => {
        (
            $name,
            $file,
            include_str!(concat!("../../templates/", $file)),
        )
    };
}

/// Template name → file → source. `layout` and the `partials/` are used by the pages.
const TEMPLATES: [(&str, &str, &str); 9] = [
    template!("layout", "layout.hbs"),
    template!("partials/chat", "partials/chat.hbs"),
    template!("partials/contact", "partials/contact.hbs"),
    template!("partials/skills", "partials/skills.hbs"),
    template!("index", "index.hbs"),
    template!("resume", "resume.hbs"),
    template!("404", "404.hbs"),
    template!("sitemap", "sitemap.xml.hbs"),
    template!("robots", "robots.txt.hbs"),
];

/// One page: which template, where it goes, and whether search engines should list it.
struct PageSpec {
    template: &'static str,
    path: &'static str,
    /// Path in canonical URLs; `""` for the home page so it is `https://host/`.
    url_path: &'static str,
    indexed: bool,
    chat: bool,
}

const PAGES: [PageSpec; 3] = [
    PageSpec {
        template: "index",
        path: "index.html",
        url_path: "",
        indexed: true,
        chat: true,
    },
    PageSpec {
        template: "resume",
        path: "resume.html",
        url_path: "resume.html",
        indexed: true,
        chat: false,
    },
    PageSpec {
        template: "404",
        path: "404.html",
        url_path: "404.html",
        indexed: false,
        chat: false,
    },
];

#[derive(Serialize)]
struct PageView<'a> {
    content: &'a Content,
    assets: &'a AssetUrls,
    base_url: &'a str,
    canonical: String,
    title: String,
    description: &'a str,
    indexed: bool,
    chat: bool,
    /// `Person` JSON-LD, already escaped for a `<script>` data block.
    json_ld: &'a str,
    api: ApiView,
}

/// What the chat widget needs of EVE's API, from its contract: the page hands it to the script,
/// so a route, limit or event name cannot change on one side only.
#[derive(Serialize)]
struct ApiView {
    chat_url: &'static str,
    stream_url: &'static str,
    /// The certificate link route up to its `{id}`, which the script appends.
    certificate_url: &'static str,
    max_message_chars: usize,
    /// How long the widget waits for a reply before it gives up.
    reply_wait_ms: u128,
    replace_event: &'static str,
    done_event: &'static str,
    error_event: &'static str,
}

/// What the widget waits past EVE's own limit, so a reply sent at that limit still arrives
/// over a slow network. By then API Gateway (29 s) has answered with its own error anyway.
const NETWORK_ALLOWANCE: Duration = Duration::from_secs(5);

impl ApiView {
    fn from_contract() -> Self {
        use eve_contract::routes;
        let link = routes::CERTIFICATE_LINK.path;
        Self {
            chat_url: routes::CHAT.path,
            stream_url: routes::CHAT_STREAM.path,
            certificate_url: link.split_once('{').map_or(link, |(prefix, _)| prefix),
            max_message_chars: routes::MAX_MESSAGE_CHARS,
            reply_wait_ms: (routes::MAX_CHAT_TIME + NETWORK_ALLOWANCE).as_millis(),
            replace_event: routes::stream_events::REPLACE,
            done_event: routes::stream_events::DONE,
            error_event: routes::stream_events::ERROR,
        }
    }
}

#[derive(Serialize)]
struct SitemapView<'a> {
    base_url: &'a str,
    urls: Vec<String>,
}

handlebars_helper!(human_date: |date: str| human_date_text(date));

/// `2022-03` → `Mar 2022`, `2024-05-12` → `12 May 2024`; anything else is shown as written.
fn human_date_text(date: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next(), parts.next(), parts.next());
    let month = month
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
    match (year, month, day) {
        (Some(y), Some(m), None) => format!("{m} {y}"),
        (Some(y), Some(m), Some(d)) => format!("{} {m} {y}", d.trim_start_matches('0')),
        _ => date.to_string(),
    }
}

/// The templates compiled in, or read from `opts.templates_dir` (so `dev --watch` renders an
/// edited template without a rebuild).
fn registry(opts: &BuildOptions) -> Result<Handlebars<'static>, BuildError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_helper("human_date", Box::new(human_date));
    for (name, file, embedded) in TEMPLATES {
        match &opts.templates_dir {
            Some(dir) => {
                let path = dir.join(file);
                let source = std::fs::read_to_string(&path)
                    .map_err(|source| BuildError::TemplateFile { path, source })?;
                hb.register_template_string(name, source)
            }
            None => hb.register_template_string(name, embedded),
        }
        .map_err(Box::new)?;
    }
    Ok(hb)
}

pub(super) fn render_all(
    content: &Content,
    opts: &BuildOptions,
    assets: &HashedAssets,
) -> Result<Vec<Output>, BuildError> {
    let hb = registry(opts)?;
    let base_url = opts.base_url();
    let json_ld = script_safe_json(&person_json_ld(content, base_url));
    let mut out = Vec::new();
    for spec in &PAGES {
        let view = PageView {
            content,
            assets: &assets.urls,
            base_url,
            canonical: format!("{base_url}/{}", spec.url_path),
            title: page_title(spec.template, content),
            description: &content.profile.tagline,
            indexed: spec.indexed,
            chat: spec.chat,
            json_ld: &json_ld,
            api: ApiView::from_contract(),
        };
        out.push(text_output(spec.path, render(&hb, spec.template, &view)?));
    }
    let sitemap = SitemapView {
        base_url,
        urls: PAGES
            .iter()
            .filter(|p| p.indexed)
            .map(|p| format!("{base_url}/{}", p.url_path))
            .collect(),
    };
    out.push(text_output(
        "sitemap.xml",
        render(&hb, "sitemap", &sitemap)?,
    ));
    out.push(text_output("robots.txt", render(&hb, "robots", &sitemap)?));
    Ok(out)
}

fn render(
    hb: &Handlebars<'_>,
    template: &str,
    view: &impl Serialize,
) -> Result<String, BuildError> {
    hb.render(template, view)
        .map_err(|source| BuildError::Render {
            page: template.to_string(),
            source: Box::new(source),
        })
}

fn text_output(path: &str, body: String) -> Output {
    Output {
        path: path.to_string(),
        body: body.into_bytes(),
        immutable: false,
    }
}

fn page_title(template: &str, content: &Content) -> String {
    let name = &content.profile.name;
    match template {
        "index" => format!("{name} — {}", content.profile.title),
        "resume" => format!("Résumé — {name}"),
        _ => format!("Page not found — {name}"),
    }
}

/// schema.org `Person` for search engines, from the same content as the page.
fn person_json_ld(content: &Content, base_url: &str) -> serde_json::Value {
    let profile = &content.profile;
    let same_as: Vec<&str> = content
        .contact
        .iter()
        .map(|l| l.url.as_str())
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .collect();
    let knows_about: Vec<&str> = content
        .skills
        .iter()
        .flat_map(|g| g.items.iter().map(String::as_str))
        .collect();
    let credentials: Vec<serde_json::Value> = content
        .certificates
        .iter()
        .map(|c| {
            json!({
                "@type": "EducationalOccupationalCredential",
                "name": c.title,
                "credentialCategory": "certification",
                "recognizedBy": { "@type": "Organization", "name": c.issuer },
                "dateCreated": c.date,
            })
        })
        .collect();
    let mut person = json!({
        "@context": "https://schema.org",
        "@type": "Person",
        "name": profile.name,
        "jobTitle": profile.title,
        "description": profile.tagline,
        "email": format!("mailto:{}", profile.email),
        "url": format!("{base_url}/"),
        "homeLocation": { "@type": "Place", "name": profile.location },
        "knowsAbout": knows_about,
        "sameAs": same_as,
        "hasCredential": credentials,
    });
    if let (Some(photo), Some(obj)) = (&profile.photo, person.as_object_mut()) {
        obj.insert("image".into(), json!(format!("{base_url}/{photo}")));
    }
    if let (Some(job), Some(obj)) = (
        content.experience.iter().find(|j| j.end.is_none()),
        person.as_object_mut(),
    ) {
        obj.insert(
            "worksFor".into(),
            json!({ "@type": "Organization", "name": job.company }),
        );
    }
    person
}

/// JSON that cannot end its `<script>` element or open an HTML comment inside it.
fn script_safe_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_like_a_cv() {
        assert_eq!(human_date_text("2022-03"), "Mar 2022");
        assert_eq!(human_date_text("2024-05-02"), "2 May 2024");
        assert_eq!(human_date_text("2024-13"), "2024-13");
        assert_eq!(human_date_text("soon"), "soon");
    }

    #[test]
    fn json_ld_cannot_close_its_script() {
        let v = json!({ "name": "</script><script>alert(1)</script> & <!--" });
        let safe = script_safe_json(&v);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, v);
    }
}
