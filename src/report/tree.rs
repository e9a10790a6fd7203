//! The dataset folder as a tree, for the end of a build.

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Default)]
struct Dir {
    dirs: BTreeMap<String, Dir>,
    files: Vec<(String, u64)>,
}

impl Dir {
    fn insert(&mut self, path: &str, size: u64) {
        match path.split_once('/') {
            Some((head, rest)) => self
                .dirs
                .entry(head.to_owned())
                .or_default()
                .insert(rest, size),
            None => self.files.push((path.to_owned(), size)),
        }
    }

    fn count(&self) -> (usize, u64) {
        let (mut n, mut b) = (self.files.len(), self.files.iter().map(|f| f.1).sum());
        for d in self.dirs.values() {
            let (dn, db) = d.count();
            n += dn;
            b += db;
        }
        (n, b)
    }

    fn render(&self, prefix: &str, out: &mut String, budget: &mut usize) {
        let total = self.files.len() + self.dirs.len();
        let mut i = 0;
        for (name, size) in &self.files {
            i += 1;
            let last = i == total;
            if *budget == 0 && !last {
                continue;
            }
            let _ = writeln!(
                out,
                "{prefix}{} {name}  {}",
                if last { "└──" } else { "├──" },
                super::human::size(*size)
            );
            *budget = budget.saturating_sub(1);
        }
        for (name, dir) in &self.dirs {
            i += 1;
            let last = i == total;
            let (n, bytes) = dir.count();
            let _ = writeln!(
                out,
                "{prefix}{} {name}/  ({} file{}, {})",
                if last { "└──" } else { "├──" },
                n,
                if n == 1 { "" } else { "s" },
                super::human::size(bytes)
            );
            if *budget > 0 {
                dir.render(
                    &format!("{prefix}{}", if last { "    " } else { "│   " }),
                    out,
                    budget,
                );
            }
        }
    }
}

/// `root` and its files as a tree; at most about `max_lines` file lines (folders are summarized).
pub fn render(root: &str, files: &[(String, u64)], max_lines: usize) -> String {
    let mut top = Dir::default();
    for (p, s) in files {
        top.insert(p, *s);
    }
    let mut out = format!("{root}/\n");
    let mut budget = max_lines;
    top.render("", &mut out, &mut budget);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_nested_folders() {
        let files = vec![
            ("manifest.yaml".into(), 10),
            ("clean/part-0.parquet".into(), 2000),
            ("splits/test.parquet".into(), 5),
            ("splits/train.parquet".into(), 50),
        ];
        let t = super::render("out/demo", &files, 100);
        assert_eq!(
            t,
            "out/demo/\n├── manifest.yaml  10 B\n├── clean/  (1 file, 2.0 KB)\n│   └── part-0.parquet  2.0 KB\n└── splits/  (2 files, 55 B)\n    ├── test.parquet  5 B\n    └── train.parquet  50 B\n"
        );
    }
}
