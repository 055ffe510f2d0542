//! The workbench's panes: state and what keys and worker answers do to it. Drawing lives in
//! `screen`.

pub mod publish;
pub mod registry;
pub mod transfers;

/// Loading state of something fetched by the worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LoadState {
    #[default]
    Idle,
    Loading,
    Loaded,
    Failed(String),
}
