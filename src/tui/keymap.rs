//! Keys → actions. A global map plus one section per pane (see [`SECTIONS`]); in a pane its
//! section's binding of a key wins over the global one. Defaults below;
//! `<config dir>/keymap.toml` overrides them, e.g.
//!
//! ```toml
//! [keys]                  # global: every pane
//! "ctrl-p" = "palette"
//! "q" = "none"            # unbind
//!
//! [keys.workspace]        # only in the Workspace pane
//! "x" = "remove-module"
//! "d" = "none"            # `d` does nothing here, even if bound globally
//!
//! [keys.registry]
//! "ctrl-d" = "delete"
//! ```
//!
//! Sections: `registry`, `dependencies`, `workspace`, `transfers`, `publish`.

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

/// The pane sections of a keymap file, `[keys.<section>]`, in tab order.
pub const SECTIONS: [&str; 5] = [
    "registry",
    "dependencies",
    "workspace",
    "transfers",
    "publish",
];

/// The bindings in force: the global map and one map per pane section.
#[derive(Clone, Debug)]
pub struct Keymap {
    global: BTreeMap<Key, Action>,
    /// Per section (indexed like [`SECTIONS`]). `None` is an explicit `"none"`: the key does
    /// nothing in that pane, whatever the global map says.
    sections: [BTreeMap<Key, Option<Action>>; SECTIONS.len()],
}

/// A keymap file that could not be used; names the key or action.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct KeymapError {
    pub path: String,
    pub message: String,
}

/// Bindings that hold in every pane unless the pane's section rebinds the key.
const GLOBAL_DEFAULTS: &[(&str, Action)] = &[
    ("q", Action::Quit),
    ("ctrl-c", Action::Quit),
    ("tab", Action::NextPane),
    ("shift-tab", Action::PrevPane),
    ("1", Action::GoRegistry),
    ("2", Action::GoDependencies),
    ("3", Action::GoWorkspace),
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
];

/// Each pane's own bindings, indexed like [`SECTIONS`].
const SECTION_DEFAULTS: [&[(&str, Action)]; SECTIONS.len()] = [
    // registry
    &[
        ("R", Action::SwitchRegistry),
        ("p", Action::Pull),
        ("c", Action::CopyTo),
        ("d", Action::Delete),
        ("y", Action::CopyReference),
        ("L", Action::Login),
        ("w", Action::AddToWorkspace),
    ],
    // dependencies
    &[("i", Action::Invert), ("u", Action::UpdateExtension)],
    // workspace
    &[
        ("a", Action::AddModule),
        ("d", Action::RemoveModule),
        ("e", Action::ChangeVersion),
        ("s", Action::Save),
        ("u", Action::Undo),
        ("r", Action::Install),
        ("i", Action::InitWorkspace),
    ],
    // transfers
    &[("x", Action::CancelJob), ("r", Action::RetryJob)],
    // publish
    &[
        ("n", Action::Generate),
        ("v", Action::Validate),
        ("R", Action::SwitchRegistry),
        ("w", Action::AddToWorkspace),
    ],
];

fn section_index(section: &str) -> Option<usize> {
    SECTIONS.iter().position(|s| *s == section)
}

fn parse_default(text: &str) -> Key {
    Key::parse(text).expect("default keys parse")
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap {
            global: GLOBAL_DEFAULTS
                .iter()
                .map(|(k, a)| (parse_default(k), *a))
                .collect(),
            sections: SECTION_DEFAULTS.map(|defaults| {
                defaults
                    .iter()
                    .map(|(k, a)| (parse_default(k), Some(*a)))
                    .collect()
            }),
        }
    }
}

impl Keymap {
    /// Defaults with the overrides of `text` (a keymap file at `path`) applied. `[keys]` holds
    /// `"key" = "action"` entries for every pane; `[keys.<section>]` tables (see [`SECTIONS`])
    /// hold a pane's own. `"none"` unbinds the key where it is written; in a section that
    /// also hides the key's global binding in that pane.
    pub fn with_overrides(path: &str, text: &str) -> Result<Keymap, KeymapError> {
        let err = |message: String| KeymapError {
            path: path.to_string(),
            message,
        };
        let file: toml::Table = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut keymap = Keymap::default();
        let keys = match file.get("keys") {
            None => return Ok(keymap),
            Some(toml::Value::Table(keys)) => keys,
            Some(_) => {
                return Err(err(
                    "`keys` must be a table: `[keys]` with `\"key\" = \"action\"` entries"
                        .to_string(),
                ));
            }
        };
        for (name, value) in keys {
            match value {
                toml::Value::String(action_text) => {
                    let key = parse_key(name).map_err(|m| err(format!("[keys]: {m}")))?;
                    match parse_action(action_text).map_err(|m| err(format!("[keys]: {m}")))? {
                        Some(action) => keymap.global.insert(key, action),
                        None => keymap.global.remove(&key),
                    };
                }
                toml::Value::Table(entries) => {
                    let index = section_index(name).ok_or_else(|| {
                        err(format!(
                            "`[keys.{name}]` is not a pane section; known sections: {}",
                            SECTIONS.join(", ")
                        ))
                    })?;
                    for (key_text, value) in entries {
                        let in_section = |m: String| err(format!("[keys.{name}]: {m}"));
                        let action_text = value.as_str().ok_or_else(|| {
                            in_section(format!(
                                "`{key_text}` must be bound to an action name in quotes \
                                 (or \"none\")"
                            ))
                        })?;
                        let key = parse_key(key_text).map_err(in_section)?;
                        let action = parse_action(action_text).map_err(in_section)?;
                        keymap.sections[index].insert(key, action);
                    }
                }
                _ => {
                    return Err(err(format!(
                        "[keys]: `{name}` must be bound to an action name in quotes (or \
                         \"none\"), or be a pane section `[keys.<section>]` (known sections: {})",
                        SECTIONS.join(", ")
                    )));
                }
            }
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

    /// What `event` does in the pane of `section`: the section's binding of the key wins (an
    /// explicit `"none"` there means nothing), else the global binding. A section name not in
    /// [`SECTIONS`] (an overlay, say) gets the global map alone.
    pub fn action(&self, section: &str, event: &KeyEvent) -> Option<Action> {
        // Terminals report shifted letters as the uppercase letter plus SHIFT; `Key` has no
        // shift flag, so the letter says it all (`G` is bound as `G`, not `shift-g`).
        let key = Key::from_event(event)?;
        if let Some(index) = section_index(section)
            && let Some(binding) = self.sections[index].get(&key)
        {
            return *binding;
        }
        self.global.get(&key).copied()
    }

    /// The keys that trigger `action` in the pane of `section`, for the hint bar and help:
    /// the section's bindings plus the global ones whose key the section does not rebind.
    /// Default bindings come first, in the order the defaults list them (the section's, then
    /// the global ones); keys from the keymap file follow.
    pub fn keys_for(&self, section: &str, action: Action) -> Vec<String> {
        let index = section_index(section);
        let section_map = index.map(|i| &self.sections[i]);
        let section_defaults: &[(&str, Action)] = index.map_or(&[], |i| SECTION_DEFAULTS[i]);
        let rank = |defaults: &[(&str, Action)], key: &Key| {
            defaults
                .iter()
                .position(|(text, a)| *a == action && parse_default(text) == *key)
        };
        let mut keys: Vec<(usize, Key)> = Vec::new();
        if let Some(map) = section_map {
            for (key, bound) in map {
                if *bound == Some(action) {
                    let r = rank(section_defaults, key).unwrap_or(usize::MAX);
                    keys.push((r, *key));
                }
            }
        }
        for (key, bound) in &self.global {
            let shadowed = section_map.is_some_and(|map| map.contains_key(key));
            if *bound == action && !shadowed {
                let r =
                    rank(GLOBAL_DEFAULTS, key).map_or(usize::MAX, |r| r + section_defaults.len());
                keys.push((r, *key));
            }
        }
        // Stable: keys from the file keep the map's order among themselves.
        keys.sort_by_key(|(rank, _)| *rank);
        keys.into_iter().map(|(_, key)| key.label()).collect()
    }

    /// The actions bound in the pane section `section` (not counting global bindings), in
    /// [`Action::ALL`] order: the help's "this pane" part. Empty for an unknown section.
    pub fn section_actions(&self, section: &str) -> Vec<Action> {
        let Some(index) = section_index(section) else {
            return Vec::new();
        };
        let map = &self.sections[index];
        Action::ALL
            .into_iter()
            .filter(|a| map.values().any(|bound| *bound == Some(*a)))
            .collect()
    }

    /// The actions bound in the global map, in [`Action::ALL`] order.
    pub fn global_actions(&self) -> Vec<Action> {
        Action::ALL
            .into_iter()
            .filter(|a| self.global.values().any(|bound| bound == a))
            .collect()
    }
}

fn parse_key(text: &str) -> Result<Key, String> {
    Key::parse(text)
        .ok_or_else(|| format!("`{text}` is not a key (examples: ctrl-p, shift-tab, f1, x)"))
}

/// `Ok(None)` for `"none"`.
fn parse_action(text: &str) -> Result<Option<Action>, String> {
    if text == "none" {
        return Ok(None);
    }
    Action::from_name(text).map(Some).ok_or_else(|| {
        format!(
            "`{text}` is not an action; known: {}, or none to unbind",
            Action::ALL
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    /// The README's keymap example is a keymap this version reads, and does what it says.
    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```toml\n[keys]")
            .expect("README has a keymap example")
            + "```toml\n".len();
        let end = start + readme[start..].find("```").expect("closed");
        let keymap = Keymap::with_overrides("README.md", &readme[start..end]).unwrap();
        let key = |c| press(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(
            keymap.action("workspace", &key('x')),
            Some(Action::RemoveModule)
        );
        assert_eq!(keymap.action("workspace", &key('d')), None);
        assert_eq!(keymap.action("registry", &key('d')), Some(Action::Delete));
        assert_eq!(
            keymap.action(
                "transfers",
                &press(KeyCode::Char('p'), KeyModifiers::CONTROL)
            ),
            Some(Action::Palette)
        );
    }

    fn ch(c: char) -> KeyEvent {
        let modifiers = if c.is_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        press(KeyCode::Char(c), modifiers)
    }

    #[test]
    fn global_defaults_and_overrides() {
        let keymap = Keymap::default();
        for section in SECTIONS {
            assert_eq!(keymap.action(section, &ch('q')), Some(Action::Quit));
            assert_eq!(
                keymap.action(section, &press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
                Some(Action::Quit)
            );
            assert_eq!(keymap.action(section, &ch('G')), Some(Action::Bottom));
            assert_eq!(
                keymap.action(section, &ch('2')),
                Some(Action::GoDependencies)
            );
        }
        assert_eq!(keymap.action("overlay", &ch('q')), Some(Action::Quit));
        assert_eq!(keymap.action("overlay", &ch('d')), None);
        let custom =
            Keymap::with_overrides("k.toml", "[keys]\n\"ctrl-p\" = \"palette\"\nq = \"none\"\n")
                .unwrap();
        assert_eq!(
            custom.action(
                "registry",
                &press(KeyCode::Char('p'), KeyModifiers::CONTROL)
            ),
            Some(Action::Palette)
        );
        assert_eq!(custom.action("registry", &ch('q')), None);
        assert!(
            keymap
                .keys_for("registry", Action::Filter)
                .contains(&"/".to_string())
        );
        assert_eq!(
            keymap.keys_for("transfers", Action::Open),
            ["enter", "l", "→"]
        );
        // No `[keys]` at all, or other top-level tables: the defaults.
        let other = Keymap::with_overrides("k.toml", "[theme]\nname = \"dark\"\n").unwrap();
        assert_eq!(other.action("workspace", &ch('s')), Some(Action::Save));
    }

    #[test]
    fn same_key_means_different_things_per_pane() {
        let keymap = Keymap::default();
        assert_eq!(keymap.action("registry", &ch('d')), Some(Action::Delete));
        assert_eq!(
            keymap.action("workspace", &ch('d')),
            Some(Action::RemoveModule)
        );
        assert_eq!(keymap.action("transfers", &ch('d')), None);
        assert_eq!(
            keymap.action("dependencies", &ch('u')),
            Some(Action::UpdateExtension)
        );
        assert_eq!(keymap.action("workspace", &ch('u')), Some(Action::Undo));
        assert_eq!(
            keymap.action("publish", &ch('R')),
            Some(Action::SwitchRegistry)
        );
        assert_eq!(keymap.action("transfers", &ch('r')), Some(Action::RetryJob));
        assert_eq!(keymap.action("workspace", &ch('r')), Some(Action::Install));
    }

    #[test]
    fn every_default_section_action_is_reachable() {
        let keymap = Keymap::default();
        for (section, defaults) in SECTIONS.iter().zip(SECTION_DEFAULTS) {
            for (text, action) in defaults {
                let key = Key::parse(text).unwrap();
                assert!(
                    !keymap.global.contains_key(&key),
                    "{section}: `{text}` shadows a global default"
                );
                assert!(keymap.keys_for(section, *action).contains(&key.label()));
            }
        }
    }

    #[test]
    fn file_with_global_and_section_tables() {
        let text = r#"
[keys]
"ctrl-p" = "palette"
"x" = "refresh"

[keys.workspace]
"x" = "remove-module"
"d" = "save"
"#;
        let keymap = Keymap::with_overrides("k.toml", text).unwrap();
        let ctrl_p = press(KeyCode::Char('p'), KeyModifiers::CONTROL);
        assert_eq!(keymap.action("workspace", &ctrl_p), Some(Action::Palette));
        assert_eq!(keymap.action("registry", &ch('x')), Some(Action::Refresh));
        assert_eq!(
            keymap.action("workspace", &ch('x')),
            Some(Action::RemoveModule)
        );
        assert_eq!(keymap.action("workspace", &ch('d')), Some(Action::Save));
        // The transfers section's own `x` still wins there.
        assert_eq!(
            keymap.action("transfers", &ch('x')),
            Some(Action::CancelJob)
        );
        assert_eq!(keymap.action("registry", &ch('d')), Some(Action::Delete));
        assert_eq!(keymap.keys_for("workspace", Action::Save), ["s", "d"]);
        assert_eq!(keymap.keys_for("workspace", Action::RemoveModule), ["x"]);
        assert!(keymap.keys_for("workspace", Action::Refresh) == ["ctrl-r"]);
        assert_eq!(
            keymap.keys_for("registry", Action::Refresh),
            ["ctrl-r", "x"]
        );
    }

    #[test]
    fn inline_section_tables_work_too() {
        let text = "keys = { q = \"none\", registry = { z = \"pull\" } }\n";
        let keymap = Keymap::with_overrides("k.toml", text).unwrap();
        assert_eq!(keymap.action("registry", &ch('z')), Some(Action::Pull));
        assert_eq!(keymap.action("registry", &ch('q')), None);
    }

    #[test]
    fn none_in_a_section_unbinds_only_there() {
        let text = "[keys.registry]\nd = \"none\"\nq = \"none\"\n";
        let keymap = Keymap::with_overrides("k.toml", text).unwrap();
        assert_eq!(keymap.action("registry", &ch('d')), None);
        assert_eq!(
            keymap.action("workspace", &ch('d')),
            Some(Action::RemoveModule)
        );
        // A section's `none` also hides the global binding in that pane only.
        assert_eq!(keymap.action("registry", &ch('q')), None);
        assert_eq!(keymap.action("publish", &ch('q')), Some(Action::Quit));
        assert!(keymap.keys_for("registry", Action::Delete).is_empty());
        assert!(keymap.keys_for("registry", Action::Quit) == ["ctrl-c"]);
        assert_eq!(keymap.keys_for("publish", Action::Quit), ["q", "ctrl-c"]);
        assert!(!keymap.section_actions("registry").contains(&Action::Delete));
        assert!(keymap.global_actions().contains(&Action::Quit));
    }

    #[test]
    fn unknown_section_or_action_names_the_file() {
        let err = Keymap::with_overrides("k.toml", "[keys.registery]\np = \"pull\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k.toml"), "{err}");
        assert!(err.contains("registery"), "{err}");
        for section in SECTIONS {
            assert!(err.contains(section), "{err}");
        }
        let err = Keymap::with_overrides("k.toml", "[keys]\nx = \"explode\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("explode") && err.contains("k.toml"), "{err}");
        let err = Keymap::with_overrides("k.toml", "[keys.workspace]\nx = \"explode\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("explode") && err.contains("k.toml") && err.contains("workspace"),
            "{err}"
        );
        let err = Keymap::with_overrides("k.toml", "[keys.publish]\n\"ctrl-\" = \"generate\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ctrl-") && err.contains("k.toml"), "{err}");
        let err = Keymap::with_overrides("k.toml", "[keys]\nx = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k.toml") && err.contains("`x`"), "{err}");
        let err = Keymap::with_overrides("k.toml", "[keys.workspace]\nx = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k.toml") && err.contains("`x`"), "{err}");
        let err = Keymap::with_overrides("k.toml", "keys = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k.toml"), "{err}");
        let err = Keymap::with_overrides("k.toml", "[keys\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("k.toml"), "{err}");
    }

    #[test]
    fn keys_for_sections() {
        let keymap = Keymap::default();
        assert_eq!(keymap.keys_for("registry", Action::Pull), ["p"]);
        assert!(keymap.keys_for("transfers", Action::Pull).is_empty());
        assert_eq!(keymap.keys_for("registry", Action::Up), ["↑", "k"]);
        // A section binding shadows the global key of the same name.
        let keymap = Keymap::with_overrides("k.toml", "[keys.registry]\nk = \"pull\"\n").unwrap();
        assert_eq!(keymap.keys_for("registry", Action::Up), ["↑"]);
        assert_eq!(keymap.keys_for("registry", Action::Pull), ["p", "k"]);
        assert_eq!(keymap.keys_for("workspace", Action::Up), ["↑", "k"]);
        assert_eq!(keymap.action("registry", &ch('k')), Some(Action::Pull));
        assert_eq!(keymap.action("workspace", &ch('k')), Some(Action::Up));
    }

    #[test]
    fn section_and_global_actions() {
        let keymap = Keymap::default();
        assert_eq!(
            keymap.section_actions("transfers"),
            [Action::CancelJob, Action::RetryJob]
        );
        assert_eq!(
            keymap.section_actions("publish"),
            [
                Action::SwitchRegistry,
                Action::Generate,
                Action::Validate,
                Action::AddToWorkspace
            ]
        );
        assert!(keymap.section_actions("nowhere").is_empty());
        let global = keymap.global_actions();
        assert_eq!(global.first(), Some(&Action::Quit));
        assert!(global.contains(&Action::Refresh));
        assert!(!global.contains(&Action::Delete));
        assert!(global.windows(2).all(|w| {
            let pos = |a: Action| Action::ALL.iter().position(|x| *x == a);
            pos(w[0]) < pos(w[1])
        }));
    }
}
