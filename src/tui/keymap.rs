//! Keys → actions. Defaults below; `<config dir>/keymap.toml` overrides them, e.g.
//!
//! ```toml
//! [keys]
//! "ctrl-p" = "palette"
//! "x" = "delete"
//! ```

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// A key with its modifiers, as written in keymap files (`ctrl-c`, `shift-tab`, `g`, `G`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeKey,
    pub ctrl: bool,
    pub alt: bool,
}

/// `KeyCode` made orderable for the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyCodeKey {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Backspace,
    Delete,
    F(u8),
}

impl Key {
    pub fn from_event(event: &KeyEvent) -> Option<Key> {
        let code = match event.code {
            KeyCode::Char(c) => KeyCodeKey::Char(c),
            KeyCode::Enter => KeyCodeKey::Enter,
            KeyCode::Esc => KeyCodeKey::Esc,
            KeyCode::Tab => KeyCodeKey::Tab,
            KeyCode::BackTab => KeyCodeKey::BackTab,
            KeyCode::Up => KeyCodeKey::Up,
            KeyCode::Down => KeyCodeKey::Down,
            KeyCode::Left => KeyCodeKey::Left,
            KeyCode::Right => KeyCodeKey::Right,
            KeyCode::PageUp => KeyCodeKey::PageUp,
            KeyCode::PageDown => KeyCodeKey::PageDown,
            KeyCode::Home => KeyCodeKey::Home,
            KeyCode::End => KeyCodeKey::End,
            KeyCode::Backspace => KeyCodeKey::Backspace,
            KeyCode::Delete => KeyCodeKey::Delete,
            KeyCode::F(n) => KeyCodeKey::F(n),
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
            alt: event.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// Parses `ctrl-c`, `alt-x`, `shift-tab`, `enter`, `pgup`, `f1`, `?`, `G`.
    pub fn parse(text: &str) -> Option<Key> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" => KeyCodeKey::Enter,
            "esc" => KeyCodeKey::Esc,
            "tab" => KeyCodeKey::Tab,
            "shift-tab" | "backtab" => KeyCodeKey::BackTab,
            "up" => KeyCodeKey::Up,
            "down" => KeyCodeKey::Down,
            "left" => KeyCodeKey::Left,
            "right" => KeyCodeKey::Right,
            "pgup" | "pageup" => KeyCodeKey::PageUp,
            "pgdn" | "pagedown" => KeyCodeKey::PageDown,
            "home" => KeyCodeKey::Home,
            "end" => KeyCodeKey::End,
            "backspace" => KeyCodeKey::Backspace,
            "delete" | "del" => KeyCodeKey::Delete,
            "space" => KeyCodeKey::Char(' '),
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeKey::F(f[1..].parse().ok()?)
            }
            c if c.chars().count() == 1 => KeyCodeKey::Char(c.chars().next()?),
            _ => return None,
        };
        Some(Key { code, ctrl, alt })
    }

    /// How the key is shown in the hint bar and help.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCodeKey::Char(' ') => "space".to_string(),
            KeyCodeKey::Char(c) => c.to_string(),
            KeyCodeKey::Enter => "enter".into(),
            KeyCodeKey::Esc => "esc".into(),
            KeyCodeKey::Tab => "tab".into(),
            KeyCodeKey::BackTab => "shift-tab".into(),
            KeyCodeKey::Up => "↑".into(),
            KeyCodeKey::Down => "↓".into(),
            KeyCodeKey::Left => "←".into(),
            KeyCodeKey::Right => "→".into(),
            KeyCodeKey::PageUp => "pgup".into(),
            KeyCodeKey::PageDown => "pgdn".into(),
            KeyCodeKey::Home => "home".into(),
            KeyCodeKey::End => "end".into(),
            KeyCodeKey::Backspace => "backspace".into(),
            KeyCodeKey::Delete => "del".into(),
            KeyCodeKey::F(n) => format!("f{n}"),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("ctrl-{base}"),
            (_, true) => format!("alt-{base}"),
            _ => base,
        }
    }
}

/// The bindings in force.
#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: BTreeMap<Key, Action>,
}

/// A keymap file that could not be used; names the key or action.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct KeymapError {
    pub path: String,
    pub message: String,
}

const DEFAULTS: &[(&str, Action)] = &[
    ("q", Action::Quit),
    ("ctrl-c", Action::Quit),
    ("tab", Action::NextPane),
    ("shift-tab", Action::PrevPane),
    ("1", Action::GoRegistry),
    ("4", Action::GoTransfers),
    ("5", Action::GoPublish),
    ("up", Action::Up),
    ("k", Action::Up),
    ("down", Action::Down),
    ("j", Action::Down),
    ("pgup", Action::PageUp),
    ("pgdn", Action::PageDown),
    ("g", Action::Top),
    ("home", Action::Top),
    ("G", Action::Bottom),
    ("end", Action::Bottom),
    ("enter", Action::Open),
    ("l", Action::Open),
    ("right", Action::Open),
    ("h", Action::Back),
    ("left", Action::Back),
    ("backspace", Action::Back),
    ("/", Action::Filter),
    (":", Action::Palette),
    ("?", Action::Help),
    ("esc", Action::Cancel),
    ("ctrl-r", Action::Refresh),
    ("R", Action::SwitchRegistry),
    ("p", Action::Pull),
    ("c", Action::CopyTo),
    ("d", Action::Delete),
    ("y", Action::CopyReference),
    ("L", Action::Login),
    ("x", Action::CancelJob),
    ("r", Action::RetryJob),
    ("n", Action::Generate),
    ("v", Action::Validate),
];

impl Default for Keymap {
    fn default() -> Self {
        Keymap {
            bindings: DEFAULTS
                .iter()
                .map(|(k, a)| (Key::parse(k).expect("default keys parse"), *a))
                .collect(),
        }
    }
}

#[derive(serde::Deserialize)]
struct KeymapFile {
    #[serde(default)]
    keys: BTreeMap<String, String>,
}

impl Keymap {
    /// Defaults with the overrides of `text` applied.
    pub fn with_overrides(path: &str, text: &str) -> Result<Keymap, KeymapError> {
        let err = |message: String| KeymapError {
            path: path.to_string(),
            message,
        };
        let file: KeymapFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut keymap = Keymap::default();
        for (key_text, action_text) in file.keys {
            let key = Key::parse(&key_text).ok_or_else(|| {
                err(format!(
                    "`{key_text}` is not a key (examples: ctrl-p, shift-tab, f1, x)"
                ))
            })?;
            if action_text == "none" {
                keymap.bindings.remove(&key);
                continue;
            }
            let action = Action::from_name(&action_text).ok_or_else(|| {
                err(format!(
                    "`{action_text}` is not an action; known: {}",
                    Action::ALL
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            keymap.bindings.insert(key, action);
        }
        Ok(keymap)
    }

    /// Defaults plus `<config dir>/keymap.toml` when it exists.
    pub fn load() -> Result<Keymap, KeymapError> {
        let path = crate::paths::config_dir().join("keymap.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Keymap::with_overrides(&path.display().to_string(), &text),
            Err(_) => Ok(Keymap::default()),
        }
    }

    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        let mut key = Key::from_event(event)?;
        // Terminals report shifted letters as uppercase with SHIFT; the letter says it all.
        if let KeyCodeKey::Char(_) = key.code {
            key.alt &= event.modifiers.contains(KeyModifiers::ALT);
        }
        self.bindings.get(&key).copied()
    }

    /// The keys bound to `action`, for the hint bar and help.
    /// Default bindings come first, in the order the defaults list them.
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        let rank = |key: &Key| {
            DEFAULTS
                .iter()
                .position(|(text, a)| *a == action && Key::parse(text).as_ref() == Some(key))
                .unwrap_or(usize::MAX)
        };
        let mut keys: Vec<&Key> = self
            .bindings
            .iter()
            .filter(|(_, a)| **a == action)
            .map(|(k, _)| k)
            .collect();
        keys.sort_by_key(|k| rank(k));
        keys.into_iter().map(Key::label).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn defaults_and_overrides() {
        let keymap = Keymap::default();
        assert_eq!(
            keymap.action(&press(KeyCode::Char('q'), KeyModifiers::NONE)),
            Some(Action::Quit)
        );
        assert_eq!(
            keymap.action(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            keymap.action(&press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        let custom =
            Keymap::with_overrides("k.toml", "[keys]\n\"ctrl-p\" = \"palette\"\nq = \"none\"\n")
                .unwrap();
        assert_eq!(
            custom.action(&press(KeyCode::Char('p'), KeyModifiers::CONTROL)),
            Some(Action::Palette)
        );
        assert_eq!(
            custom.action(&press(KeyCode::Char('q'), KeyModifiers::NONE)),
            None
        );
        let err = Keymap::with_overrides("k.toml", "[keys]\nx = \"explode\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("explode") && err.contains("k.toml"), "{err}");
        assert!(keymap.keys_for(Action::Filter).contains(&"/".to_string()));
    }
}
