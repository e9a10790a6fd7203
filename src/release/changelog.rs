//! The CHANGELOG file: new entries go first, under the `# Changelog` title; an entry for a
//! version that is already there replaces it.

/// The title a new CHANGELOG starts with.
pub const TITLE: &str = "# Changelog";

/// The heading of a release's entry: `## 1.2.0 — 2024-03-01`.
pub fn heading(version: &str, date: &str) -> String {
    format!("## {version} — {date}")
}

/// The version a `## ` heading names (`## 1.2.0 — …`, `## [1.2.0] - …`, `## v1.2.0`), if it is
/// an entry heading.
fn heading_version(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("## ")?.trim_start();
    let word = rest.split_whitespace().next()?;
    let word = word.trim_start_matches('[').trim_end_matches(']');
    Some(word.strip_prefix('v').unwrap_or(word))
}

/// Whether `text` already has an entry for `version`.
pub fn has_entry(text: &str, version: &str) -> bool {
    text.lines().any(|l| heading_version(l) == Some(version))
}

/// `existing` (the file's text, or `None` when there is no file) with `entry` (which starts
/// with its `## ` heading) as the newest entry: placed after the title and any introduction,
/// before the first `## ` entry. Any entry already there for `version` is removed. A file
/// without a `# ` title gets one.
pub fn merge(existing: Option<&str>, version: &str, entry: &str) -> String {
    let entry = entry.trim_end_matches('\n');
    let Some(text) = existing.filter(|t| !t.trim().is_empty()) else {
        return format!("{TITLE}\n\n{entry}\n");
    };
    // Split into the head (title and introduction) and the entries, dropping `version`'s.
    let mut head: Vec<&str> = Vec::new();
    let mut entries: Vec<&str> = Vec::new();
    let mut in_entries = false;
    let mut skipping = false;
    let mut fence = false;
    for line in text.lines() {
        let is_heading = !fence && line.starts_with("## ");
        if line.trim_start().starts_with("```") {
            fence = !fence;
        }
        if is_heading {
            in_entries = true;
            skipping = heading_version(line) == Some(version);
        }
        if skipping {
            continue;
        }
        if in_entries {
            entries.push(line);
        } else {
            head.push(line);
        }
    }
    while head.last().is_some_and(|l| l.trim().is_empty()) {
        head.pop();
    }
    while entries.last().is_some_and(|l| l.trim().is_empty()) {
        entries.pop();
    }
    let has_title = head.iter().any(|l| l.starts_with("# "));
    let mut out = String::new();
    if !has_title {
        out.push_str(TITLE);
        out.push_str("\n\n");
    }
    for l in &head {
        out.push_str(l);
        out.push('\n');
    }
    if !head.is_empty() {
        out.push('\n');
    }
    out.push_str(entry);
    out.push('\n');
    if !entries.is_empty() {
        out.push('\n');
        for l in &entries {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_the_title() {
        assert_eq!(
            merge(None, "1.0.0", "## 1.0.0 — 2024-03-01\n\nFirst release.\n"),
            "# Changelog\n\n## 1.0.0 — 2024-03-01\n\nFirst release.\n"
        );
    }

    #[test]
    fn newest_first_after_the_introduction() {
        let old = "# Changelog\n\nAll notable changes.\n\n## 1.0.0 — 2024-03-01\n\n- a\n";
        assert_eq!(
            merge(Some(old), "1.1.0", "## 1.1.0 — 2024-04-01\n\n- b\n"),
            "# Changelog\n\nAll notable changes.\n\n## 1.1.0 — 2024-04-01\n\n- b\n\n## 1.0.0 — 2024-03-01\n\n- a\n"
        );
    }

    #[test]
    fn the_same_version_is_replaced() {
        let old = "# Changelog\n\n## 1.1.0 — 2024-04-01\n\n- b\n\n## 1.0.0 — 2024-03-01\n\n- a\n";
        let new = merge(Some(old), "1.1.0", "## 1.1.0 — 2024-04-02\n\n- c\n");
        assert_eq!(
            new,
            "# Changelog\n\n## 1.1.0 — 2024-04-02\n\n- c\n\n## 1.0.0 — 2024-03-01\n\n- a\n"
        );
        assert!(has_entry(&new, "1.0.0") && !has_entry(&new, "1.2.0"));
        assert!(has_entry("## [2.0.0] - x\n", "2.0.0"));
        assert!(has_entry("## v2.0.0\n", "2.0.0"));
    }

    #[test]
    fn a_file_without_a_title_gets_one() {
        assert_eq!(
            merge(Some("## 0.9.0\n- old\n"), "1.0.0", "## 1.0.0 — d\n"),
            "# Changelog\n\n## 1.0.0 — d\n\n## 0.9.0\n- old\n"
        );
    }
}
