//! A list of names given on the command line (`--allowed-hosts`, `--cors-origins`) in which
//! `*` stands for every name.

/// Normalized names, or every name.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    any: bool,
    items: Vec<String>,
}

impl Allowlist {
    /// The items, each through `normalize`; `*` makes the list accept everything and empty
    /// items are skipped.
    pub fn new<I, S>(items: I, normalize: impl Fn(&str) -> String) -> Allowlist
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Allowlist::default();
        for item in items {
            let item = normalize(item.as_ref().trim());
            if item == "*" {
                list.any = true;
            } else if !item.is_empty() {
                list.items.push(item);
            }
        }
        list
    }

    /// The list that accepts everything.
    pub fn any() -> Allowlist {
        Allowlist {
            any: true,
            items: Vec::new(),
        }
    }

    /// Whether it accepts everything.
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// How many names it holds (besides `*`).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds no name.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `item` (normalized as the list's items were) is accepted.
    pub fn accepts(&self, item: &str) -> bool {
        self.any || self.items.iter().any(|i| i == item)
    }
}
