//! The offline responder: a grounded answer composed from the best-ranked portfolio entries,
//! used when no model is configured, the budget is spent, or the model fails.

use super::knowledge::{Entry, Knowledge};

/// How many entries an offline answer cites.
const CITED_ENTRIES: usize = 3;
/// Longest excerpt quoted from one entry, in characters.
const EXCERPT_CHARS: usize = 220;

pub fn answer(knowledge: &Knowledge, question: &str) -> String {
    let profile = &knowledge.content().profile;
    let hits = knowledge.relevant(question, CITED_ENTRIES);
    if hits.is_empty() {
        let ideas = knowledge
            .suggestions()
            .iter()
            .map(|q| format!("- {q}"))
            .collect::<Vec<_>>()
            .join("\n");
        return format!(
            "I couldn't find that in {name}'s portfolio. You could ask:\n\n{ideas}\n\n\
             Or write to {name} at [{email}](mailto:{email}).",
            name = profile.name,
            email = profile.email
        );
    }
    let cited = hits.iter().map(|e| cite(e)).collect::<Vec<_>>().join("\n");
    format!(
        "Here is what {}'s portfolio says about that:\n\n{cited}\n\nSee the linked sections for details.",
        profile.name
    )
}

fn cite(entry: &Entry) -> String {
    format!(
        "- **{}** — {} ([more]({}))",
        entry.title,
        excerpt(&entry.text),
        entry.link
    )
}

/// The first sentence, cut at a word boundary when it is too long.
fn excerpt(text: &str) -> String {
    let sentence = text.split_inclusive(". ").next().unwrap_or(text).trim();
    if sentence.chars().count() <= EXCERPT_CHARS {
        return sentence.to_string();
    }
    let cut: String = sentence.chars().take(EXCERPT_CHARS).collect();
    match cut.rsplit_once(' ') {
        Some((head, _)) => format!("{head}…"),
        None => format!("{cut}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_cite_the_matching_entries_with_links() {
        let k = Knowledge::embedded().expect("embedded content");
        let reply = answer(&k, "What did Alex build at Bluefin Analytics?");
        assert!(
            reply.contains("DevOps Engineer at Bluefin Analytics"),
            "{reply}"
        );
        assert!(reply.contains("([more](#experience))"), "{reply}");
        assert!(
            !reply.contains('<'),
            "offline replies are Markdown, not HTML: {reply}"
        );
    }

    #[test]
    fn unknown_topics_offer_suggestions_and_contact() {
        let k = Knowledge::embedded().expect("embedded content");
        let reply = answer(&k, "qwertyuiop");
        assert!(reply.contains("- How can I contact Alex?"), "{reply}");
        assert!(reply.contains("mailto:alex.rivera@example.com"), "{reply}");
    }

    #[test]
    fn long_text_is_cut_at_a_word() {
        let long = "word ".repeat(100);
        let cut = excerpt(&long);
        assert!(
            cut.ends_with('…') && cut.chars().count() <= EXCERPT_CHARS + 1,
            "{cut}"
        );
    }
}
