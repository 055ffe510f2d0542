//! provisioning: publish, find, resolve and install infrastructure extensions as OCI
//! artifacts, with an embedded OCI registry for solo work.
//!
//! The domain modules (`oci`, `registry`) know nothing of the command line (`cli`).

pub mod cli;
pub mod deps;
pub mod extension;
pub mod oci;
pub mod paths;
pub mod registry;
pub mod tui;
pub mod units;
pub mod workspace;
