//! The download registry (configs/registry.toml): public sources of datasets and weights.
//!
//! An entry names one dataset or one set of weights and lists its files with what is known to
//! verify them: a full sha256, the hash prefix some publishers put in file names, a size.
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// What an entry provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A dataset's archives.
    Dataset,
    /// Pretrained weights.
    Weights,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Dataset => "dataset",
            Kind::Weights => "weights",
        }
    }
}

/// The whole registry file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Every dataset and weights entry.
    #[serde(rename = "entry")]
    pub entries: Vec<Entry>,
}

/// One dataset or one set of weights.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The name the user types.
    pub name: String,
    /// Dataset or weights.
    pub kind: Kind,
    /// Licence or terms of use of the source.
    pub licence: String,
    /// What the files are and what is verified.
    #[serde(default)]
    pub notes: String,
    /// Steps printed instead of downloading, for sources behind a login.
    #[serde(default)]
    pub manual: Option<String>,
    /// The files to fetch.
    #[serde(default)]
    pub files: Vec<RemoteFile>,
}

/// One file to fetch and what verifies it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteFile {
    /// Where it is published.
    pub url: String,
    /// Local file name; the last segment of the URL when absent.
    #[serde(default)]
    pub file_name: Option<String>,
    /// Full sha256 in hex, "" when unpublished.
    #[serde(default)]
    pub sha256: String,
    /// Leading hex digits of the sha256 (torchvision's file-name hashes), "" when unknown.
    #[serde(default)]
    pub sha256_prefix: String,
    /// Size in bytes, 0 when unknown.
    #[serde(default)]
    pub size: u64,
}

impl RemoteFile {
    /// The local file name: `file_name`, else the URL's last path segment.
    pub fn local_name(&self) -> String {
        self.file_name.clone().unwrap_or_else(|| {
            let path = self.url.split(['?', '#']).next().unwrap_or(&self.url);
            path.rsplit('/').next().unwrap_or(path).to_string()
        })
    }
}

impl Registry {
    /// Reads and validates a registry file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the registry {}", path.display()))?;
        let reg: Registry = toml::from_str(&text)
            .with_context(|| format!("parsing the registry {}", path.display()))?;
        reg.validate()
            .with_context(|| format!("invalid registry {}", path.display()))?;
        Ok(reg)
    }

    fn validate(&self) -> Result<()> {
        let is_hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
        for (i, e) in self.entries.iter().enumerate() {
            if e.name.is_empty() {
                bail!("entry {i} has no name");
            }
            // The name is the folder the files go into (DEST/NAME/): one plain name.
            if let Err(why) = danie_fs::check_file_name(&e.name) {
                bail!("entry {i}: the name {why}");
            }
            if self
                .entries
                .iter()
                .filter(|o| o.name == e.name && o.kind == e.kind)
                .count()
                > 1
            {
                bail!("{} {} is listed twice", e.kind.as_str(), e.name);
            }
            if e.manual.is_none() && e.files.is_empty() {
                bail!("{} lists no files and no manual steps", e.name);
            }
            for f in &e.files {
                if !(f.url.starts_with("http://") || f.url.starts_with("https://")) {
                    bail!("{}: {} is not an http(s) URL", e.name, f.url);
                }
                if !f.sha256.is_empty() && (f.sha256.len() != 64 || !is_hex(&f.sha256)) {
                    bail!("{}: sha256 {:?} is not 64 hex digits", e.name, f.sha256);
                }
                if !is_hex(&f.sha256_prefix) || f.sha256_prefix.len() > 64 {
                    bail!("{}: sha256_prefix {:?} is not hex", e.name, f.sha256_prefix);
                }
                if !f.sha256.is_empty()
                    && !f
                        .sha256
                        .to_ascii_lowercase()
                        .starts_with(&f.sha256_prefix.to_ascii_lowercase())
                {
                    bail!("{}: sha256 and sha256_prefix disagree", e.name);
                }
                let name = f.local_name();
                if let Err(why) = danie_fs::check_file_name(&name) {
                    bail!(
                        "{}: cannot name a local file after {}: {why}",
                        e.name,
                        f.url
                    );
                }
                if name.starts_with('.') {
                    bail!("{}: the local file name {name:?} would be hidden", e.name);
                }
            }
        }
        Ok(())
    }

    /// The entry of that kind and name, or an error listing the known names.
    pub fn find(&self, kind: Kind, name: &str) -> Result<&Entry> {
        self.entries
            .iter()
            .find(|e| e.kind == kind && e.name == name)
            .with_context(|| {
                let known: Vec<&str> = self
                    .entries
                    .iter()
                    .filter(|e| e.kind == kind)
                    .map(|e| e.name.as_str())
                    .collect();
                format!(
                    "no {} named {name:?} in the registry (known: {})",
                    kind.as_str(),
                    known.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_registry_is_valid_and_complete() {
        let reg =
            Registry::load(&crate::process::repo_root().join("configs/registry.toml")).unwrap();
        for name in ["synapse", "acdc", "isic2017", "isic2018", "glas"] {
            reg.find(Kind::Dataset, name).unwrap();
        }
        for name in ["resnet18", "resnet34", "resnet50", "vit_base_patch16_224"] {
            reg.find(Kind::Weights, name).unwrap();
        }
        // torchvision names files after their hash prefix: the registry must agree with its URLs.
        for e in reg.entries.iter().filter(|e| {
            e.files
                .iter()
                .any(|f| f.url.contains("download.pytorch.org"))
        }) {
            for f in &e.files {
                assert!(
                    f.local_name().contains(&format!("-{}.", f.sha256_prefix)),
                    "{}",
                    f.url
                );
            }
        }
        assert!(reg.find(Kind::Dataset, "synapse").unwrap().manual.is_some());
        // Hugging Face serves any commit: its URLs name one, never the moving `main`.
        for f in reg.entries.iter().flat_map(|e| &e.files) {
            if f.url.contains("huggingface.co/") {
                let rev = f
                    .url
                    .split("/resolve/")
                    .nth(1)
                    .and_then(|r| r.split('/').next());
                assert!(
                    rev.is_some_and(|r| r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit())),
                    "{} does not name a commit",
                    f.url
                );
            }
        }
    }

    #[test]
    fn bad_registries_are_refused_with_the_reason() {
        let parse = |s: &str| -> Result<Registry> {
            let r: Registry = toml::from_str(s)?;
            r.validate()?;
            Ok(r)
        };
        let base = "[[entry]]\nname = \"x\"\nkind = \"weights\"\nlicence = \"l\"\n";
        let err = parse(&format!(
            "{base}[[entry.files]]\nurl = \"http://h/x.bin\"\nsha256 = \"abc\"\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("64 hex"), "{err}");
        let err = parse(base).unwrap_err();
        assert!(err.to_string().contains("no files"), "{err}");
        let err = parse(&format!("{base}[[entry.files]]\nurl = \"ftp://h/x\"\n")).unwrap_err();
        assert!(err.to_string().contains("http"), "{err}");
        assert!(parse(&format!("{base}colour = 1\n")).is_err());
        // Names become paths: an entry name or file name that leaves DEST is refused.
        let files = "[[entry.files]]\nurl = \"http://h/x.bin\"\n";
        for name in ["../../outside", "a/b", "..", "/abs"] {
            let reg =
                format!("[[entry]]\nname = {name:?}\nkind = \"weights\"\nlicence = \"l\"\n{files}");
            let err = parse(&reg).unwrap_err();
            assert!(err.to_string().contains("the name"), "{name}: {err}");
        }
        // TOML strings as written in a registry (\u0000: a NUL byte).
        for file_name in ["\"../x.bin\"", "\"a/x.bin\"", "\"..\"", "\"x\\u0000y\""] {
            let err = parse(&format!("{base}{files}file_name = {file_name}\n")).unwrap_err();
            assert!(err.to_string().contains("local file"), "{file_name}: {err}");
        }
    }

    #[test]
    fn local_name_is_the_last_url_segment() {
        let f = RemoteFile {
            url: "https://h/a/b/model.pth?download=1".into(),
            file_name: None,
            sha256: String::new(),
            sha256_prefix: String::new(),
            size: 0,
        };
        assert_eq!(f.local_name(), "model.pth");
    }
}
