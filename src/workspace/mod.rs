//! Workspaces: a directory with `config/provisioning.yaml` in the seed's format.

pub mod config;

pub use config::{OciSettings, Workspace, WorkspaceConfig, WorkspaceError};
