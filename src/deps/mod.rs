//! Dependency resolution: which version of every extension a workspace needs, why when none
//! fits, the lock that pins the answer by digest, and the install.
//!
//! - [`source`]: registry metadata (tags, manifests, configs), prefetched in parallel.
//! - [`provider`], [`versions`]: PubGrub's view of it.
//! - [`resolve`]: one resolution; [`explain`]: conflicts in plain sentences.
//! - [`graph`]: cycles, install order, and the views of `dep tree`.
//! - [`events`]: progress for the CLI and the workbench.

pub mod events;
pub mod explain;
pub mod graph;
pub mod install;
pub mod lock;
pub mod provider;
pub mod resolve;
pub mod signatures;
pub mod source;
pub mod sync;
pub mod update;
pub mod versions;

pub use events::{ResolveEvent, ResolveEvents};
pub use explain::Explanation;
pub use resolve::{Resolution, ResolveError, ResolveOptions, Resolved, resolve};
