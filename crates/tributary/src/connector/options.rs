//! Declared options: every option a connector or the writer takes, with its type, default and
//! one line of documentation. Options given by the user are checked against the declarations
//! once, when the read or the query starts:
//!
//! ```text
//!  .option("maxFilesPerTrigger", "5")      raw key, any case, camelCase or snake_case
//!        │ resolve: exact name ─► alias ─► same letters without '_' (Spark's camelCase) ─► prefix family
//!        ▼
//!  "max_files_per_trigger" = "5"           canonical name, value checked against its type
//!        │ unknown key: error naming it and the nearest declared name
//!        ▼
//!  Options { typed getters, declared defaults }
//! ```
//!
//! `tributary options FORMAT` prints the declarations, so the documentation is the code.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::error::{Result, TributaryError};

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    /// `true` or `false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// A whole number, at least `min`.
    Int {
        /// The smallest allowed value.
        min: i64,
    },
    /// A duration such as `30 seconds`, `5 minutes`, `1 hour`.
    Duration,
    /// A size in bytes: `1048576`, `512k`, `64m`, `1g`.
    Bytes,
    /// One of a fixed set of words (case-insensitive).
    Choice(&'static [&'static str]),
    /// A comma-separated list of names.
    List,
    /// A path or URL.
    Path,
    /// Free text (checked by the connector).
    Text,
    /// A family of pass-through options: the declared name is a prefix such as `kafka.` and any
    /// key that starts with it is taken as is.
    Prefix,
}

impl fmt::Display for OptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionType::Bool => f.write_str("true or false"),
            OptionType::Int { min } => write!(f, "a whole number >= {min}"),
            OptionType::Duration => f.write_str("a duration such as '30 seconds' or '5 minutes'"),
            OptionType::Bytes => f.write_str("a size such as 1048576, 512k, 64m or 1g"),
            OptionType::Choice(words) => write!(f, "one of {}", words.join(", ")),
            OptionType::List => f.write_str("a comma-separated list"),
            OptionType::Path => f.write_str("a path or URL"),
            OptionType::Text => f.write_str("text"),
            OptionType::Prefix => f.write_str("any key with this prefix"),
        }
    }
}

/// One declared option.
#[derive(Debug, Clone, Copy)]
pub struct OptionDecl {
    /// The canonical (snake_case) name; for [`OptionType::Prefix`], the prefix.
    pub name: &'static str,
    /// Other accepted names (Spark's names where they differ by more than case and `_`).
    pub aliases: &'static [&'static str],
    /// The value's type.
    pub ty: OptionType,
    /// The default, as the user would write it (`None`: unset).
    pub default: Option<&'static str>,
    /// What the option does, in one line.
    pub doc: &'static str,
}

impl OptionDecl {
    /// A declaration with no aliases and no default.
    pub const fn new(name: &'static str, ty: OptionType, doc: &'static str) -> Self {
        OptionDecl {
            name,
            aliases: &[],
            ty,
            default: None,
            doc,
        }
    }

    /// The same declaration with a default.
    pub const fn default(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }

    /// The same declaration with other accepted names.
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Whether `key` (lower-cased) names this option.
    fn matches(&self, key: &str) -> bool {
        if self.ty == OptionType::Prefix {
            return key.starts_with(self.name);
        }
        let squash = |s: &str| s.replace(['_', '-', '.'], "").to_ascii_lowercase();
        key == self.name
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
            || squash(key) == squash(self.name)
    }

    /// Check `value` against the type.
    fn check(&self, value: &str) -> std::result::Result<(), String> {
        let v = value.trim();
        let ok = match self.ty {
            OptionType::Bool => parse_bool(v).is_some(),
            OptionType::Int { min } => v.parse::<i64>().is_ok_and(|n| n >= min),
            OptionType::Duration => crate::modes::parse_duration(v).is_some(),
            OptionType::Bytes => parse_bytes(v).is_some(),
            OptionType::Choice(words) => words.iter().any(|w| w.eq_ignore_ascii_case(v)),
            OptionType::List | OptionType::Path | OptionType::Text | OptionType::Prefix => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!("'{value}' is not {}", self.ty))
        }
    }
}

/// The declarations that apply to one use (a connector's, plus the reader's or the writer's).
#[derive(Debug, Clone, Copy)]
pub struct OptionScope<'a> {
    /// What the options belong to, for messages: `format 'json'`.
    pub owner: &'a str,
    /// The declarations, in groups.
    pub groups: &'a [&'a [OptionDecl]],
}

impl OptionScope<'_> {
    fn all(&self) -> impl Iterator<Item = &OptionDecl> {
        self.groups.iter().flat_map(|g| g.iter())
    }

    /// The declaration `key` names, if any.
    pub fn find(&self, key: &str) -> Option<&OptionDecl> {
        let key = key.to_ascii_lowercase();
        // Exact names and aliases win over the looser matches.
        self.all()
            .find(|d| {
                d.ty != OptionType::Prefix && (d.name == key || d.aliases.contains(&key.as_str()))
            })
            .or_else(|| self.all().find(|d| d.matches(&key)))
    }

    /// Check every key and value; the options under their canonical names.
    pub fn resolve<'k>(
        &self,
        given: impl IntoIterator<Item = (&'k String, &'k String)>,
    ) -> Result<Options> {
        let mut values = BTreeMap::new();
        // The key each option was given as: two spellings of one option must agree.
        let mut given_as: BTreeMap<String, &String> = BTreeMap::new();
        for (key, value) in given {
            let decl = self.find(key).ok_or_else(|| self.unknown(key))?;
            decl.check(value).map_err(|why| {
                TributaryError::option(decl.name, format!("{why} (for {})", self.owner))
            })?;
            let name = if decl.ty == OptionType::Prefix {
                key.to_ascii_lowercase()
            } else {
                decl.name.to_string()
            };
            if let Some(before) = values.get(&name).filter(|v| *v != value) {
                return Err(TributaryError::option(
                    decl.name,
                    format!(
                        "given twice with different values, '{before}' as '{}' and '{value}' as \
                         '{key}' (for {}); give it once",
                        given_as[&name], self.owner
                    ),
                ));
            }
            given_as.insert(name.clone(), key);
            values.insert(name, value.clone());
        }
        Ok(Options {
            values,
            decls: self.all().copied().collect(),
        })
    }

    /// The error for an option nobody declared, with the nearest declared name.
    pub fn unknown(&self, key: &str) -> TributaryError {
        let message = match self.suggest(key) {
            Some(near) => format!(
                "unknown option '{key}' for {}; did you mean '{near}'?",
                self.owner
            ),
            None => format!(
                "unknown option '{key}' for {}; its options are: {}",
                self.owner,
                self.all().map(|d| d.name).collect::<Vec<_>>().join(", ")
            ),
        };
        TributaryError::Option {
            option: key.to_string(),
            message,
        }
    }

    /// The declared name closest to `key`, if close enough to be a typo.
    pub fn suggest(&self, key: &str) -> Option<&'static str> {
        let key = key.to_ascii_lowercase().replace(['_', '-'], "");
        self.all()
            .map(|d| {
                let name = d.name.replace(['_', '-'], "");
                (edit_distance(&key, &name), d.name)
            })
            .filter(|(d, name)| *d <= (name.len() / 3).max(2))
            .min_by_key(|(d, _)| *d)
            .map(|(_, n)| n)
    }
}

/// Options checked against their declarations: typed getters that fall back to the declared
/// default.
#[derive(Debug, Clone, Default)]
pub struct Options {
    values: BTreeMap<String, String>,
    decls: Vec<OptionDecl>,
}

impl Options {
    /// The value the user gave, under the canonical name.
    pub fn given(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The value given, or the declared default.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.given(name).or_else(|| {
            self.decls
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.default)
        })
    }

    /// Whether the user gave the option.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A boolean option (false when unset and without default).
    pub fn bool(&self, name: &str) -> bool {
        self.text(name).and_then(parse_bool).unwrap_or(false)
    }

    /// A whole-number option.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.text(name).and_then(|v| v.trim().parse().ok())
    }

    /// A duration option.
    pub fn duration(&self, name: &str) -> Option<Duration> {
        self.text(name).and_then(crate::modes::parse_duration)
    }

    /// A size option, in bytes.
    pub fn bytes(&self, name: &str) -> Option<u64> {
        self.text(name).and_then(parse_bytes)
    }

    /// A list option.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.text(name).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// The options given, under their canonical names (what the connectors' own parsers read).
    pub fn as_map(&self) -> std::collections::HashMap<String, String> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The options given, by canonical name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The options given whose canonical name starts with `prefix`, without it.
    pub fn with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
            .collect()
    }
}

/// `true`/`false`, `1`/`0`, `yes`/`no`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `1048576`, `512k`, `64m`, `1g` (binary units).
pub fn parse_bytes(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').unwrap_or(&v);
    let (num, mult) = match v.chars().last()? {
        'k' => (&v[..v.len() - 1], 1u64 << 10),
        'm' => (&v[..v.len() - 1], 1 << 20),
        'g' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Levenshtein distance (small strings only): how far a typo is from a known name.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The declarations as a Markdown table (for `tributary options` and the docs).
pub fn describe(decls: &[&[OptionDecl]]) -> String {
    let mut out = String::from("| option | type | default | what it does |\n|---|---|---|---|\n");
    for d in decls.iter().flat_map(|g| g.iter()) {
        let name = if d.ty == OptionType::Prefix {
            format!("`{}*`", d.name)
        } else if d.aliases.is_empty() {
            format!("`{}`", d.name)
        } else {
            format!(
                "`{}` (also {})",
                d.name,
                d.aliases
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            d.ty,
            d.default.unwrap_or(""),
            d.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECLS: &[OptionDecl] = &[
        OptionDecl::new(
            "max_files_per_trigger",
            OptionType::Int { min: 1 },
            "files per epoch",
        ),
        OptionDecl::new("has_header", OptionType::Bool, "first line names columns")
            .default("true")
            .aliases(&["header"]),
        OptionDecl::new(
            "mode",
            OptionType::Choice(&["PERMISSIVE", "DROPMALFORMED", "FAILFAST"]),
            "bad records",
        ),
        OptionDecl::new("kafka.", OptionType::Prefix, "client settings"),
    ];

    fn scope() -> OptionScope<'static> {
        OptionScope {
            owner: "format 'csv'",
            groups: &[DECLS],
        }
    }

    fn resolve(pairs: &[(&str, &str)]) -> Result<Options> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        scope().resolve(owned.iter().map(|(k, v)| (k, v)))
    }

    #[test]
    fn two_spellings_of_one_option_must_agree() {
        let err = resolve(&[("header", "true"), ("has_header", "false")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("given twice") && err.contains("'header'") && err.contains("'has_header'"),
            "{err}"
        );
        let o = resolve(&[("header", "false"), ("has_header", "false")]).unwrap();
        assert!(!o.bool("has_header"));
    }

    #[test]
    fn spark_camel_case_and_aliases_reach_the_canonical_name() {
        let o = resolve(&[("maxfilespertrigger", "3"), ("header", "false")]).unwrap();
        assert_eq!(o.int("max_files_per_trigger"), Some(3));
        assert!(!o.bool("has_header"));
        let o = resolve(&[]).unwrap();
        assert!(o.bool("has_header"), "the declared default applies");
        assert_eq!(o.int("max_files_per_trigger"), None);
    }

    #[test]
    fn a_typo_is_an_error_that_suggests_the_nearest_name() {
        let e = resolve(&[("max_file_per_trigger", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown option 'max_file_per_trigger' for format 'csv'; did you mean 'max_files_per_trigger'?"),
            "{e}"
        );
        let e = resolve(&[("zzz", "1")]).unwrap_err().to_string();
        assert!(e.contains("its options are: max_files_per_trigger"), "{e}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_option_value_and_expectation() {
        let e = resolve(&[("max_files_per_trigger", "many")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("max_files_per_trigger") && e.contains("'many' is not a whole number >= 1"),
            "{e}"
        );
        let e = resolve(&[("mode", "lenient")]).unwrap_err().to_string();
        assert!(
            e.contains("one of PERMISSIVE, DROPMALFORMED, FAILFAST"),
            "{e}"
        );
        let e = resolve(&[("max_files_per_trigger", "0")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'0' is not a whole number >= 1"), "{e}");
    }

    #[test]
    fn prefixed_families_pass_through() {
        let o = resolve(&[("kafka.bootstrap.servers", "h:1")]).unwrap();
        assert_eq!(
            o.with_prefix("kafka.")
                .get("bootstrap.servers")
                .map(String::as_str),
            Some("h:1")
        );
    }

    #[test]
    fn sizes_and_distances() {
        assert_eq!(parse_bytes("64m"), Some(64 << 20));
        assert_eq!(parse_bytes("1g"), Some(1 << 30));
        assert_eq!(parse_bytes("12"), Some(12));
        assert_eq!(parse_bytes("x"), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn the_table_lists_every_declaration() {
        let t = describe(&[DECLS]);
        assert!(
            t.contains("`has_header` (also `header`) | true or false | true |"),
            "{t}"
        );
        assert!(t.contains("`kafka.*`"), "{t}");
    }
}
