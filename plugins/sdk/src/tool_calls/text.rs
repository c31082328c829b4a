//! Text pieces the formats share: joining the text around a calls section, taking answer
//! wrappers off.

/// The text before a calls section and the text after it, joined by a newline and trimmed
/// (either may be empty).
pub(crate) fn join(before: &str, after: &str) -> String {
    match (before.trim(), after.trim()) {
        ("", a) => a.to_string(),
        (b, "") => b.to_string(),
        (b, a) => format!("{b}\n{a}"),
    }
}

/// `text` without any of `tags`, trimmed.
pub(crate) fn remove_tags(text: &str, tags: &[&str]) -> String {
    let mut s = text.to_string();
    for tag in tags {
        s = s.replace(tag, "");
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn joins_and_removes() {
        assert_eq!(super::join(" a ", ""), "a");
        assert_eq!(super::join("", " b"), "b");
        assert_eq!(super::join("a", "b"), "a\nb");
        assert_eq!(super::remove_tags("<r>Hi</r> ", &["<r>", "</r>"]), "Hi");
    }
}
