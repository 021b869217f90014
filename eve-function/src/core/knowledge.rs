//! What EVE knows: the portfolio content cut into entries, ranked against a question with BM25.
//! Both the offline responder and the model's system prompt draw on the same ranking.

use bm25::{Document, Language, SearchEngine, SearchEngineBuilder};
use config_diagnostics::Diagnostics;
use portfolio::Content;

/// The content file the site renders, compiled in as the default knowledge.
pub const EMBEDDED_CONTENT: &str = include_str!("../../../site/content/portfolio.toml");

/// One retrievable piece of the portfolio, with the site anchor that shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub title: String,
    pub text: String,
    pub link: String,
}

pub struct Knowledge {
    content: Content,
    entries: Vec<Entry>,
    engine: SearchEngine<usize>,
    /// Normalised suggested question → index into `content.suggestions`.
    curated: Vec<(String, usize)>,
}

impl Knowledge {
    pub fn new(content: Content) -> Self {
        let entries = entries_of(&content);
        let documents = entries
            .iter()
            .enumerate()
            .map(|(i, e)| Document::new(i, format!("{} {}", e.title, e.text)));
        let engine =
            SearchEngineBuilder::<usize>::with_documents(Language::English, documents).build();
        let curated = content
            .suggestions
            .iter()
            .enumerate()
            .map(|(i, s)| (normalise(&s.question), i))
            .collect();
        Self {
            content,
            entries,
            engine,
            curated,
        }
    }

    /// The compiled-in content file.
    pub fn embedded() -> Result<Self, Diagnostics> {
        Content::parse(portfolio::DEFAULT_CONTENT_PATH, EMBEDDED_CONTENT).map(Self::new)
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Up to `limit` entries that share terms with `question`, best first.
    pub fn relevant(&self, question: &str, limit: usize) -> Vec<&Entry> {
        self.engine
            .search(question, limit)
            .into_iter()
            .filter(|hit| hit.score > 0.0)
            .filter_map(|hit| self.entries.get(hit.document.id))
            .collect()
    }

    /// The curated answer when `question` is one of the suggestions, ignoring case,
    /// punctuation and spacing.
    pub fn curated(&self, question: &str) -> Option<&str> {
        let asked = normalise(question);
        self.curated
            .iter()
            .find(|(q, _)| *q == asked)
            .and_then(|(_, i)| self.content.suggestions.get(*i))
            .map(|s| s.answer.as_str())
    }

    pub fn suggestions(&self) -> Vec<&str> {
        self.content
            .suggestions
            .iter()
            .map(|s| s.question.as_str())
            .collect()
    }
}

/// Lowercase words of letters and digits separated by single spaces.
pub fn normalise(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn entries_of(content: &Content) -> Vec<Entry> {
    let name = &content.profile.name;
    let mut entries = vec![Entry {
        title: format!("About {name}"),
        text: format!(
            "{} — {}. {} Based in {}. {}",
            name,
            content.profile.title,
            content.profile.tagline,
            content.profile.location,
            content.about.paragraphs.join(" ")
        ),
        link: "#about".into(),
    }];
    entries.extend(content.skills.iter().map(|group| Entry {
        title: format!("Skills: {}", group.category),
        text: group.items.join(", "),
        link: "#skills".into(),
    }));
    entries.extend(content.experience.iter().map(|job| Entry {
        title: format!("{} at {}", job.role, job.company),
        text: format!(
            "{} ({} to {}, {}) {}",
            job.summary,
            job.start,
            job.end.as_deref().unwrap_or("present"),
            job.location,
            job.highlights.join(" ")
        ),
        link: "#experience".into(),
    }));
    entries.extend(content.projects.iter().map(|project| Entry {
        title: format!("Project {}", project.name),
        text: format!(
            "{} Built with {}. {}",
            project.summary,
            project.stack.join(", "),
            project.highlights.join(" ")
        ),
        link: format!("#project-{}", project.id),
    }));
    entries.extend(content.certificates.iter().map(|cert| Entry {
        title: format!("Certification: {}", cert.title),
        text: format!(
            "{} certificate from {}, earned {}.",
            cert.title, cert.issuer, cert.date
        ),
        link: "#certificates".into(),
    }));
    let contact = content
        .contact
        .iter()
        .map(|l| format!("{}: {}", l.label, l.url))
        .collect::<Vec<_>>()
        .join(", ");
    entries.push(Entry {
        title: format!("Contact {name}"),
        text: format!("Email {} or contact via {contact}.", content.profile.email),
        link: "#contact".into(),
    });
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knowledge() -> Knowledge {
        Knowledge::embedded().expect("embedded content is valid")
    }

    #[test]
    fn normalisation_ignores_case_punctuation_and_spacing() {
        assert_eq!(
            normalise("  How can I   CONTACT Alex?!"),
            "how can i contact alex"
        );
    }

    #[test]
    fn curated_answers_match_after_normalisation() {
        let k = knowledge();
        assert!(k.curated("how can i contact alex").is_some());
        assert!(k.curated("HOW   can I contact Alex ???").is_some());
        assert!(k.curated("how can I reach Alex").is_none());
    }

    #[test]
    fn ranking_finds_the_entry_the_question_is_about() {
        let k = knowledge();
        let top = k.relevant("Tell me about the Tidewatch SLO dashboards", 3);
        assert_eq!(
            top.first().map(|e| e.link.as_str()),
            Some("#project-tidewatch")
        );
        let top = k.relevant("kubernetes certification", 3);
        assert!(
            top.iter()
                .any(|e| e.title.contains("Kubernetes Administrator")),
            "{top:?}"
        );
        assert!(k.relevant("zzzz qqqq", 3).is_empty());
    }
}
