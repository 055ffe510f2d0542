//! Where the product keeps its files, from the `directories` crate.

use std::path::PathBuf;

fn project() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "provisioning", "provisioning")
}

/// Data that must survive (registry storage): `$PROVISIONING_DATA_DIR`, else the platform's
/// data dir, else `./.provisioning`.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROVISIONING_DATA_DIR") {
        return PathBuf::from(dir);
    }
    project()
        .map(|p| p.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".provisioning"))
}

/// Log files.
pub fn log_dir() -> PathBuf {
    data_dir().join("logs")
}

/// User configuration (themes, key overrides): `$PROVISIONING_CONFIG_DIR`, else the platform's
/// config dir.
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PROVISIONING_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    project()
        .map(|p| p.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".provisioning/config"))
}

/// The user's own settings for the `oci` commands outside a workspace (default registry,
/// namespace, plain-HTTP hosts, cache dir): `<config dir>/config.yaml`.
pub fn user_config_file() -> PathBuf {
    config_dir().join("config.yaml")
}
