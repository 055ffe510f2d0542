//! The workbench's panes. Each pane owns one directory: its state (`mod.rs`), what actions,
//! prompt answers and worker answers do to it (`keys.rs`), and its drawing (`view.rs`). A pane
//! never touches the app: it asks for what it needs through [`Effects`] (worker requests,
//! toasts, a prompt, a transfer job, another pane), and the app carries that out.

pub mod dependencies;
pub mod publish;
pub mod registry;
pub mod transfers;
pub mod workspace;

use std::path::PathBuf;

use super::app::ToastKind;
use super::worker::{JobId, Request};
use crate::oci::Reference;

/// The panes, in tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaneId {
    Registry,
    Dependencies,
    Workspace,
    Transfers,
    Publish,
}

impl PaneId {
    pub const ALL: [PaneId; 5] = [
        PaneId::Registry,
        PaneId::Dependencies,
        PaneId::Workspace,
        PaneId::Transfers,
        PaneId::Publish,
    ];

    /// The number key that opens it.
    pub fn number(self) -> u8 {
        match self {
            PaneId::Registry => 1,
            PaneId::Dependencies => 2,
            PaneId::Workspace => 3,
            PaneId::Transfers => 4,
            PaneId::Publish => 5,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            PaneId::Registry => "Registry",
            PaneId::Dependencies => "Dependencies",
            PaneId::Workspace => "Workspace",
            PaneId::Transfers => "Transfers",
            PaneId::Publish => "Publish",
        }
    }

    /// Its section in keymap files (`[keys.registry]`).
    pub fn section(self) -> &'static str {
        match self {
            PaneId::Registry => "registry",
            PaneId::Dependencies => "dependencies",
            PaneId::Workspace => "workspace",
            PaneId::Transfers => "transfers",
            PaneId::Publish => "publish",
        }
    }
}

/// Loading state of something fetched by the worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LoadState {
    #[default]
    Idle,
    Loading,
    Loaded,
    Failed(String),
}

/// What a text prompt is for; each pane answers its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptPurpose {
    QuitConfirm,
    Registry(registry::Ask),
    Dependencies(dependencies::Ask),
    Workspace(workspace::Ask),
    Publish(publish::Ask),
}

impl PromptPurpose {
    /// Prompts that share a history of answers (↑ and ↓ bring them back); none for yes/no
    /// questions and secrets.
    pub fn history_key(&self) -> Option<&'static str> {
        match self {
            PromptPurpose::Registry(registry::Ask::PullTo(_)) => Some("path"),
            PromptPurpose::Registry(registry::Ask::CopyTo(_)) => Some("reference"),
            PromptPurpose::Registry(registry::Ask::SwitchRegistry)
            | PromptPurpose::Publish(publish::Ask::PublishTarget) => Some("registry"),
            PromptPurpose::Registry(registry::Ask::LoginUser { .. }) => Some("username"),
            PromptPurpose::Registry(registry::Ask::OpenDependency) => Some("dependency"),
            PromptPurpose::Publish(publish::Ask::Generate { .. }) => Some("generate"),
            _ => None,
        }
    }
}

/// A prompt a pane asks the app to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub purpose: PromptPurpose,
    pub label: String,
    pub initial: String,
    pub masked: bool,
}

/// What one pane tells another, through the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// To Registry: show this repository, and select its tag when it has one.
    ShowInRegistry(Reference),
    /// To Dependencies: resolve the workspace at `root` again; with `text` in place of its
    /// `config/provisioning.yaml` when there are unsaved edits.
    Resolve { root: PathBuf, text: Option<String> },
    /// To Workspace: how the latest resolution ended, for its status line, and the version
    /// each extension resolved to.
    Resolution {
        ok: bool,
        summary: String,
        versions: Vec<(String, String)>,
    },
    /// To Workspace: add this extension, pre-filled (from Registry's or Publish's `w`).
    AddToWorkspace {
        reference: Reference,
        version: Option<String>,
    },
    /// To Workspace: set this module's version or range (Dependencies' `u`), as an unsaved
    /// edit.
    SetRequirement { name: String, requirement: String },
    /// To Registry: the workspace's modules (name → pin or range), to mark the tags it uses.
    WorkspaceModules(Vec<(String, String)>),
}

/// A transfer job a pane started: shown in Transfers, its request sent to the worker.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub kind: &'static str,
    pub description: String,
    pub request: Request,
}

/// What a pane asks of the app while it handles an action, an answer or a message.
#[derive(Debug, Default)]
pub struct Effects {
    pub requests: Vec<Request>,
    pub toasts: Vec<(String, ToastKind)>,
    pub prompt: Option<Prompt>,
    pub jobs: Vec<NewJob>,
    pub goto: Option<PaneId>,
    pub messages: Vec<(PaneId, Message)>,
    pub quit: bool,
    next_job: JobId,
}

impl Effects {
    /// Effects whose first new job gets the id `next_job`.
    pub fn new(next_job: JobId) -> Effects {
        Effects {
            next_job,
            ..Effects::default()
        }
    }

    /// The id the next job will get.
    pub fn next_job(&self) -> JobId {
        self.next_job
    }

    pub fn send(&mut self, request: Request) {
        self.requests.push(request);
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.toasts.push((text.into(), ToastKind::Info));
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.toasts.push((text.into(), ToastKind::Error));
    }

    pub fn prompt(
        &mut self,
        purpose: PromptPurpose,
        label: impl Into<String>,
        initial: impl Into<String>,
    ) {
        self.prompt = Some(Prompt {
            purpose,
            label: label.into(),
            initial: initial.into(),
            masked: false,
        });
    }

    /// A prompt whose answer is never shown (a password).
    pub fn secret_prompt(&mut self, purpose: PromptPurpose, label: impl Into<String>) {
        self.prompt = Some(Prompt {
            purpose,
            label: label.into(),
            initial: String::new(),
            masked: true,
        });
    }

    /// Starts a transfer job; `request` gets the job's id. Returns the id.
    pub fn job(&mut self, kind: &'static str, description: String, request: Request) -> JobId {
        let id = self.next_job;
        self.next_job += 1;
        self.jobs.push(NewJob {
            id,
            kind,
            description,
            request: request.with_job(id),
        });
        id
    }

    pub fn go(&mut self, pane: PaneId) {
        self.goto = Some(pane);
    }

    pub fn tell(&mut self, pane: PaneId, message: Message) {
        self.messages.push((pane, message));
    }
}
