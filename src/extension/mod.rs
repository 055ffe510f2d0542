//! Extensions: the `manifest.yaml` model and its validation, scaffolding from templates,
//! reproducible packages, and publishing them as OCI artifacts.

pub mod artifact;
pub mod ci;
pub mod manifest;
pub mod package;
pub mod publish;
pub mod pull;
pub mod range;
pub mod samples;
pub mod scaffold;
