//! `provisioning.yaml` on disk: read once, edited as text, written atomically (temp file and
//! rename) and only when the file is still what was read.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::WorkspaceError;
use super::diff;

/// The text of a configuration file as read, and as edited since.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    /// The bytes read; a save refuses to replace anything else.
    original: Option<String>,
    /// The current text, edits applied.
    pub text: String,
}

impl ConfigFile {
    /// Reads `path`; it must be UTF-8 text.
    pub fn read(path: &Path) -> Result<ConfigFile, WorkspaceError> {
        let bytes = std::fs::read(path).map_err(|source| WorkspaceError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| WorkspaceError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"),
        })?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            original: Some(text.clone()),
            text,
        })
    }

    /// A file that does not exist yet; saving it refuses to replace one that appeared.
    pub fn new(path: &Path, text: String) -> ConfigFile {
        ConfigFile {
            path: path.to_path_buf(),
            original: None,
            text,
        }
    }

    /// Whether the text differs from what was read.
    pub fn is_changed(&self) -> bool {
        self.original.as_deref() != Some(self.text.as_str())
    }

    /// The edits so far, as a unified diff labelled with `label`.
    pub fn diff(&self, label: &str) -> String {
        diff::unified(label, self.original.as_deref().unwrap_or(""), &self.text)
    }

    /// Writes the text if it changed; refuses when the file on disk is no longer what was read.
    /// Returns whether anything was written.
    pub fn save(&mut self) -> Result<bool, WorkspaceError> {
        if !self.is_changed() {
            return Ok(false);
        }
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = dir.join(format!(
            ".{}.{}.{}.tmp",
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let io = |source: std::io::Error| WorkspaceError::Write {
            path: self.path.clone(),
            source,
        };
        let result = (|| {
            let mut file = std::fs::File::create_new(&temp).map_err(io)?;
            file.write_all(self.text.as_bytes()).map_err(io)?;
            if let Some(original) = &self.original {
                self.check_unchanged(original)?;
                if let Ok(meta) = std::fs::metadata(&self.path) {
                    file.set_permissions(meta.permissions()).map_err(io)?;
                }
                file.sync_all().map_err(io)?;
                drop(file);
                std::fs::rename(&temp, &self.path).map_err(io)?;
            } else {
                file.sync_all().map_err(io)?;
                drop(file);
                // A link cannot replace an existing file: a configuration that appeared
                // meanwhile is kept.
                std::fs::hard_link(&temp, &self.path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        WorkspaceError::Changed(self.path.clone())
                    } else {
                        io(e)
                    }
                })?;
                let _ = std::fs::remove_file(&temp);
            }
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result?;
        self.original = Some(self.text.clone());
        Ok(true)
    }

    fn check_unchanged(&self, original: &str) -> Result<(), WorkspaceError> {
        match std::fs::read(&self.path) {
            Ok(now) if now == original.as_bytes() => Ok(()),
            Ok(_) => Err(WorkspaceError::Changed(self.path.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(WorkspaceError::Changed(self.path.clone()))
            }
            Err(source) => Err(WorkspaceError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }
}
