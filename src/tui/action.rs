//! What a person can ask the workbench to do. Keys map to actions (the keymap), the command
//! palette runs them by name, and the help lists them — all from this one enum.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Quit,
    NextPane,
    PrevPane,
    GoRegistry,
    GoDependencies,
    GoWorkspace,
    GoTransfers,
    GoPublish,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    Palette,
    Help,
    Cancel,
    Refresh,
    SwitchRegistry,
    Pull,
    CopyTo,
    Delete,
    CopyReference,
    Login,
    CancelJob,
    RetryJob,
    Generate,
    Validate,
    Invert,
    UpdateExtension,
    AddModule,
    RemoveModule,
    ChangeVersion,
    Save,
    Undo,
    Install,
    InitWorkspace,
    AddToWorkspace,
}

impl Action {
    /// Every action, in the order the help lists them.
    pub const ALL: [Action; 41] = [
        Action::Quit,
        Action::NextPane,
        Action::PrevPane,
        Action::GoRegistry,
        Action::GoDependencies,
        Action::GoWorkspace,
        Action::GoTransfers,
        Action::GoPublish,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Open,
        Action::Back,
        Action::Filter,
        Action::Palette,
        Action::Help,
        Action::Cancel,
        Action::Refresh,
        Action::SwitchRegistry,
        Action::Pull,
        Action::CopyTo,
        Action::Delete,
        Action::CopyReference,
        Action::Login,
        Action::CancelJob,
        Action::RetryJob,
        Action::Generate,
        Action::Validate,
        Action::Invert,
        Action::UpdateExtension,
        Action::AddModule,
        Action::RemoveModule,
        Action::ChangeVersion,
        Action::Save,
        Action::Undo,
        Action::Install,
        Action::InitWorkspace,
        Action::AddToWorkspace,
    ];

    /// The name used in keymap files and the palette.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn from_name(name: &str) -> Option<Action> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }

    /// One line for the help and the palette.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::NextPane => "next pane",
            Action::PrevPane => "previous pane",
            Action::GoRegistry => "Registry pane",
            Action::GoDependencies => "Dependencies pane",
            Action::GoWorkspace => "Workspace pane",
            Action::GoTransfers => "Transfers pane",
            Action::GoPublish => "Publish pane",
            Action::Up => "move up",
            Action::Down => "move down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first item",
            Action::Bottom => "last item",
            Action::Open => "open / confirm",
            Action::Back => "go back",
            Action::Filter => "filter the list",
            Action::Palette => "command palette",
            Action::Help => "help",
            Action::Cancel => "cancel / close",
            Action::Refresh => "reload",
            Action::SwitchRegistry => "switch registry",
            Action::Pull => "pull to a directory",
            Action::CopyTo => "copy to another reference",
            Action::Delete => "delete (asks first)",
            Action::CopyReference => "show the reference",
            Action::Login => "log in to the registry",
            Action::CancelJob => "cancel the transfer",
            Action::RetryJob => "retry the transfer",
            Action::Generate => "generate a new extension",
            Action::Validate => "validate again",
            Action::Invert => "why is it here (invert)",
            Action::UpdateExtension => "apply the suggested update",
            Action::AddModule => "add a module",
            Action::RemoveModule => "remove the module",
            Action::ChangeVersion => "change the version or range",
            Action::Save => "save (shows the diff first)",
            Action::Undo => "undo the last unsaved edit",
            Action::Install => "resolve and install",
            Action::InitWorkspace => "create a workspace here",
            Action::AddToWorkspace => "add to the workspace",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn names_round_trip() {
        for action in Action::ALL {
            assert_eq!(
                Action::from_name(&action.name()),
                Some(action),
                "{action:?}"
            );
        }
        assert_eq!(Action::NextPane.name(), "next-pane");
    }
}
