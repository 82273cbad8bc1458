//! Where a daemon runs: one page per platform `install --platform` manages.
//!
#![doc = include_str!("platforms/index.md")]
// Documentation only: each module below is a page, and holds no items.

#[doc = include_str!("platforms/systemd.md")]
pub mod systemd {}

#[doc = include_str!("platforms/launchd.md")]
pub mod launchd {}

#[doc = include_str!("platforms/native.md")]
pub mod native {}

#[doc = include_str!("platforms/container.md")]
pub mod container {}

#[doc = include_str!("platforms/pepita.md")]
pub mod pepita {}

#[doc = include_str!("platforms/kubernetes.md")]
pub mod kubernetes {}

#[doc = include_str!("platforms/wos.md")]
pub mod wos {}

#[doc = include_str!("platforms/swarm.md")]
pub mod swarm {}

#[cfg(test)]
mod tests {
    use duende_runtime::config::platforms::{PlatformSettings, keys};

    /// The page that documents the section `[platform.SECTION]`, and its file.
    fn page(section: &str) -> Option<(&'static str, &'static str)> {
        Some(match section {
            "systemd" => ("src/platforms/systemd.md", include_str!("platforms/systemd.md")),
            "launchd" => ("src/platforms/launchd.md", include_str!("platforms/launchd.md")),
            "native" => ("src/platforms/native.md", include_str!("platforms/native.md")),
            "container" => ("src/platforms/container.md", include_str!("platforms/container.md")),
            "pepita" => ("src/platforms/pepita.md", include_str!("platforms/pepita.md")),
            "kubernetes" => ("src/platforms/kubernetes.md", include_str!("platforms/kubernetes.md")),
            "wos" => ("src/platforms/wos.md", include_str!("platforms/wos.md")),
            "swarm" => ("src/platforms/swarm.md", include_str!("platforms/swarm.md")),
            _ => return None,
        })
    }

    /// How a page writes the default `value`: `"text"`, `1`, `[]` in backticks, or `not set`.
    fn written(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::Null => "not set".to_owned(),
            other => format!("`{other}`"),
        }
    }

    /// Every key the configuration accepts under `[platform.X]` has a row `| `key` | type |
    /// default | meaning |` on its page, and the row's default is the built-in one.
    #[test]
    fn every_platform_key_is_on_its_page_with_its_default() {
        let defaults = serde_json::to_value(PlatformSettings::default()).expect("the defaults serialize");
        let mut problems = Vec::new();
        for (key, _) in keys() {
            let mut parts = key.split('.').skip(1);
            let (Some(section), Some(field)) = (parts.next(), parts.next()) else {
                problems.push(format!("`{key}` is not a `platform.SECTION.KEY` key"));
                continue;
            };
            let Some((file, text)) = page(section) else {
                problems
                    .push(format!("`{key}`: no page documents `[platform.{section}]`; add one to duende::platforms"));
                continue;
            };
            let start = format!("| `{field}` |");
            let Some(row) = text.lines().find(|line| line.starts_with(&start)) else {
                problems.push(format!("`{key}` is accepted by the configuration but missing from {file}"));
                continue;
            };
            let default = written(&defaults[section][field]);
            let documented = row.split(" | ").nth(2).map_or("nothing", str::trim);
            if documented != default {
                problems
                    .push(format!("`{key}`: {file} gives its default as {documented}, the built-in one is {default}"));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The rows of every `| key | type | default | meaning |` table on a page name keys the
    /// configuration accepts: no page documents a key that is not there.
    #[test]
    fn every_documented_platform_key_exists() {
        let accepted: Vec<&str> = keys().map(|(key, _)| key).collect();
        let mut problems = Vec::new();
        for section in ["systemd", "launchd", "native", "container", "pepita", "kubernetes", "wos", "swarm"] {
            let (file, text) = page(section).expect("every section has a page");
            let mut in_table = false;
            for line in text.lines() {
                if line == "| key | type | default | meaning |" {
                    in_table = true;
                } else if !line.starts_with('|') {
                    in_table = false;
                } else if in_table && !line.starts_with("| ---") {
                    let field = line.split('`').nth(1).unwrap_or(line);
                    let key = format!("platform.{section}.{field}");
                    if !accepted.contains(&key.as_str()) {
                        problems.push(format!("{file} documents `{key}`, which the configuration does not accept"));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
