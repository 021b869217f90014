//! The typed schema of `site/content/portfolio.toml`.
//!
//! Everything a visitor can read on the site, and everything EVE may say about the owner,
//! comes from here. Unknown keys are errors so a typo never silently drops content.

use std::path::Path;

use config_diagnostics::{Checker, Diagnostics, TomlSource};
use serde::{Deserialize, Serialize};

use crate::text::shows_something;

/// Where the content file lives, relative to the repository root.
pub const DEFAULT_CONTENT_PATH: &str = "site/content/portfolio.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// True for the shipped sample content; the site shows a banner saying so.
    #[serde(default)]
    pub example: bool,
    pub profile: Profile,
    pub about: About,
    #[serde(default)]
    pub skills: Vec<SkillGroup>,
    #[serde(default)]
    pub experience: Vec<Experience>,
    #[serde(default)]
    pub projects: Vec<Project>,
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    #[serde(default)]
    pub contact: Vec<Link>,
    #[serde(default)]
    pub suggestions: Vec<Suggestion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub title: String,
    pub tagline: String,
    pub location: String,
    pub email: String,
    /// Site-relative path of the portrait, e.g. `images/portrait.webp`.
    #[serde(default)]
    pub photo: Option<String>,
    #[serde(default)]
    pub photo_alt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct About {
    pub paragraphs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillGroup {
    pub category: String,
    pub items: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experience {
    pub company: String,
    pub role: String,
    /// `YYYY-MM`.
    pub start: String,
    /// `YYYY-MM`; absent while current.
    #[serde(default)]
    pub end: Option<String>,
    pub location: String,
    pub summary: String,
    #[serde(default)]
    pub highlights: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// Stable slug used for anchors and by EVE's links.
    pub id: String,
    pub name: String,
    pub summary: String,
    #[serde(default)]
    pub stack: Vec<String>,
    #[serde(default)]
    pub highlights: Vec<String>,
    #[serde(default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Allowlisted id for `GET /api/certificates/{id}`: a slug ([`is_slug`]).
    pub id: String,
    pub title: String,
    pub issuer: String,
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub date: String,
    /// Object key in the certificates bucket, e.g. `certificates/aws-saa.pdf`.
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub label: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suggestion {
    pub question: String,
    /// Curated Markdown answer, served when the question matches after normalisation.
    pub answer: String,
}

impl Content {
    /// Loads and validates the content file; every problem is reported with file, line and key.
    pub fn load(path: &Path) -> Result<Self, Diagnostics> {
        let source = TomlSource::read(path)?;
        Self::from_source(&source)
    }

    /// Parses content from text (used for embedded defaults and tests).
    pub fn parse(label: &str, text: &str) -> Result<Self, Diagnostics> {
        let source = TomlSource::parse(label, text)?;
        Self::from_source(&source)
    }

    fn from_source(source: &TomlSource) -> Result<Self, Diagnostics> {
        let content: Content = source.deserialize()?;
        let mut check = Checker::new(source);
        content.validate(&mut check);
        check.finish()?;
        Ok(content)
    }

    fn validate(&self, check: &mut Checker<'_>) {
        for (key, text) in self.shown_texts() {
            check.check(shows_something(text), &key, || {
                "must not be empty (the pages show it)".into()
            });
        }
        check.check(is_email(&self.profile.email), "profile.email", || {
            format!(
                "`{}` is not an email address (expected name@domain.tld)",
                self.profile.email
            )
        });
        let mut seen = std::collections::BTreeSet::new();
        for (i, cert) in self.certificates.iter().enumerate() {
            let key = format!("certificates[{i}].id");
            check.check(is_slug(&cert.id), &key, || {
                format!("`{}` must be 1-{MAX_SLUG_LEN} {SLUG_CHARACTERS}", cert.id)
            });
            check.check(seen.insert(cert.id.as_str()), &key, || {
                format!("duplicate certificate id `{}`", cert.id)
            });
            check.check(
                is_object_key(&cert.file),
                &format!("certificates[{i}].file"),
                || format!("`{}` must be a relative object key without `..`", cert.file),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, project) in self.projects.iter().enumerate() {
            let key = format!("projects[{i}].id");
            check.check(is_slug(&project.id), &key, || {
                format!(
                    "`{}` must be 1-{MAX_SLUG_LEN} {SLUG_CHARACTERS}",
                    project.id
                )
            });
            check.check(seen.insert(project.id.as_str()), &key, || {
                format!("duplicate project id `{}`", project.id)
            });
        }
        check.check(
            self.profile.photo.as_deref().is_none_or(is_object_key),
            "profile.photo",
            || "must be a site-relative path such as `images/portrait.webp`".into(),
        );
        check.check(
            self.profile.photo.is_none() || self.profile.photo_alt.is_some(),
            "profile.photo_alt",
            || "a photo needs alt text describing it".into(),
        );
        for (i, job) in self.experience.iter().enumerate() {
            check.check(
                is_year_month(&job.start),
                &format!("experience[{i}].start"),
                || format!("`{}` must be a month as YYYY-MM", job.start),
            );
            if let Some(end) = &job.end {
                check.check(is_year_month(end), &format!("experience[{i}].end"), || {
                    format!("`{end}` must be a month as YYYY-MM")
                });
                check.check(end >= &job.start, &format!("experience[{i}].end"), || {
                    format!("`{end}` is before the start `{}`", job.start)
                });
            }
        }
        for (i, cert) in self.certificates.iter().enumerate() {
            check.check(
                is_year_month(&cert.date) || is_calendar_date(&cert.date),
                &format!("certificates[{i}].date"),
                || format!("`{}` must be YYYY-MM or YYYY-MM-DD", cert.date),
            );
        }
        let project_links = self.projects.iter().enumerate().flat_map(|(p, project)| {
            (0..project.links.len())
                .map(move |l| (format!("projects[{p}].links[{l}]"), &project.links[l]))
        });
        let contact_links =
            (0..self.contact.len()).map(|i| (format!("contact[{i}]"), &self.contact[i]));
        for (key, link) in project_links.chain(contact_links) {
            check.check(is_public_url(&link.url), &format!("{key}.url"), || {
                format!("`{}` must be an https://, http:// or mailto: URL", link.url)
            });
            check.check(
                shows_something(&link.label),
                &format!("{key}.label"),
                || "must not be empty (it is the link text)".into(),
            );
        }
        for (i, s) in self.suggestions.iter().enumerate() {
            check.check(
                shows_something(&s.question),
                &format!("suggestions[{i}].question"),
                || "must not be empty (the chat offers it as a question)".into(),
            );
            check.check(
                shows_something(&s.answer),
                &format!("suggestions[{i}].answer"),
                || "must not be empty (EVE gives it as the answer)".into(),
            );
        }
    }

    /// Every text the pages show as it stands (a heading, a paragraph, a list item, alt text),
    /// with its key: an empty one leaves an empty element. Link labels and suggestions are
    /// checked with their own words.
    fn shown_texts(&self) -> Vec<(String, &str)> {
        let profile = &self.profile;
        let mut texts: Vec<(String, &str)> = [
            ("profile.name", &profile.name),
            ("profile.title", &profile.title),
            ("profile.tagline", &profile.tagline),
            ("profile.location", &profile.location),
        ]
        .into_iter()
        .map(|(key, text)| (key.to_string(), text.as_str()))
        .collect();
        texts.extend(
            profile
                .photo_alt
                .as_deref()
                .map(|alt| ("profile.photo_alt".into(), alt)),
        );
        fn items(key: String, list: &[String]) -> Vec<(String, &str)> {
            (list.iter().enumerate())
                .map(|(i, text)| (format!("{key}[{i}]"), text.as_str()))
                .collect()
        }
        texts.extend(items("about.paragraphs".into(), &self.about.paragraphs));
        for (i, group) in self.skills.iter().enumerate() {
            texts.push((format!("skills[{i}].category"), &group.category));
            texts.extend(items(format!("skills[{i}].items"), &group.items));
        }
        for (i, job) in self.experience.iter().enumerate() {
            for (field, text) in [
                ("company", &job.company),
                ("role", &job.role),
                ("location", &job.location),
                ("summary", &job.summary),
            ] {
                texts.push((format!("experience[{i}].{field}"), text));
            }
            texts.extend(items(
                format!("experience[{i}].highlights"),
                &job.highlights,
            ));
        }
        for (i, project) in self.projects.iter().enumerate() {
            texts.push((format!("projects[{i}].name"), &project.name));
            texts.push((format!("projects[{i}].summary"), &project.summary));
            texts.extend(items(format!("projects[{i}].stack"), &project.stack));
            texts.extend(items(
                format!("projects[{i}].highlights"),
                &project.highlights,
            ));
        }
        for (i, cert) in self.certificates.iter().enumerate() {
            texts.push((format!("certificates[{i}].title"), &cert.title));
            texts.push((format!("certificates[{i}].issuer"), &cert.issuer));
        }
        texts
    }

    /// The certificate with this allowlisted id, if any.
    pub fn certificate(&self, id: &str) -> Option<&Certificate> {
        self.certificates.iter().find(|c| c.id == id)
    }
}

/// The longest id [`is_slug`] accepts.
pub const MAX_SLUG_LEN: usize = 64;

/// What [`is_slug`] holds besides the length, in the words every message about an id uses.
pub const SLUG_CHARACTERS: &str =
    "lowercase letters, digits or dashes, not starting or ending with a dash";

/// Lowercase letters, digits and dashes; what ids in URLs and anchors may be.
pub fn is_slug(s: &str) -> bool {
    (1..=MAX_SLUG_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A link a visitor may follow: web pages and email only, never `javascript:` or relative paths.
pub fn is_public_url(s: &str) -> bool {
    let rest = ["https://", "http://", "mailto:"]
        .iter()
        .find_map(|scheme| s.strip_prefix(scheme));
    match rest {
        Some(rest) => {
            !rest.is_empty()
                && !s
                    .contains(|c: char| c.is_whitespace() || c.is_control() || "<>\"'`".contains(c))
        }
        None => false,
    }
}

/// `YYYY-MM` with a real month.
fn is_year_month(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && matches!(s[5..].parse::<u8>(), Ok(1..=12))
}

/// `YYYY-MM-DD` with a plausible day (1-31; the month's own length is not checked).
fn is_calendar_date(s: &str) -> bool {
    s.len() == 10
        && s.as_bytes()[7] == b'-'
        && is_year_month(&s[..7])
        && matches!(s[8..].parse::<u8>(), Ok(1..=31))
}

fn is_object_key(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('/') && !s.split('/').any(|seg| seg.is_empty() || seg == "..")
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}
