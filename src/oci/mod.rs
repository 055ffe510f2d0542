//! OCI primitives shared by the registry server and the client: digests, repository names and
//! tags, media types.

pub mod browse;
pub mod cache;
pub mod client;
pub mod copy;
pub mod credentials;
pub mod digest;
pub mod files;
pub mod layout;
pub mod manifest;
pub mod media_type;
pub mod name;
pub mod progress;
pub mod pull;
pub mod reference;
pub mod sign;
pub mod suggest;
pub mod sync;

pub use digest::{Digest, DigestAlgorithm, DigestError, Hasher};
pub use name::{NameError, validate_repository, validate_tag};
pub use reference::{Reference, ReferenceDefaults, ReferenceError};
