//! Themes: TOML files (`themes/*.toml` built in, user themes in the config dir). With
//! `NO_COLOR` every style drops its colors and the selection stays visible by reversing.

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Deserialize)]
struct ThemeFile {
    name: String,
    colors: Colors,
}

#[derive(Deserialize)]
struct Colors {
    foreground: String,
    background: String,
    accent: String,
    muted: String,
    border: String,
    selection_foreground: String,
    selection_background: String,
    success: String,
    warning: String,
    error: String,
}

/// The styles panes draw with.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub base: Style,
    pub accent: Style,
    pub muted: Style,
    pub border: Style,
    pub selection: Style,
    pub success: Style,
    pub warning: Style,
    pub error: Style,
}

/// Why a theme could not be used.
#[derive(Debug, thiserror::Error)]
#[error("theme {name}: {message}")]
pub struct ThemeError {
    pub name: String,
    pub message: String,
}

fn color(text: &str) -> Result<Color, String> {
    text.parse::<Color>()
        .map_err(|_| format!("`{text}` is not a color (use #rrggbb or an ANSI name)"))
}

impl Theme {
    /// The names of the built-in themes.
    pub fn built_in() -> Vec<&'static str> {
        BUILT_IN.iter().map(|(n, _)| *n).collect()
    }

    /// Parses a theme file.
    pub fn parse(text: &str) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| ThemeError {
            name: "?".into(),
            message: e.to_string(),
        })?;
        let err = |message| ThemeError {
            name: file.name.clone(),
            message,
        };
        let c = &file.colors;
        let fg = color(&c.foreground).map_err(err)?;
        let bg = color(&c.background).map_err(err)?;
        let plain = |text: &str| color(text).map(|c| Style::default().fg(c)).map_err(err);
        Ok(Theme {
            name: file.name.clone(),
            base: Style::default().fg(fg).bg(bg),
            accent: plain(&c.accent)?.add_modifier(Modifier::BOLD),
            muted: plain(&c.muted)?,
            border: plain(&c.border)?,
            selection: Style::default()
                .fg(color(&c.selection_foreground).map_err(err)?)
                .bg(color(&c.selection_background).map_err(err)?)
                .add_modifier(Modifier::BOLD),
            success: plain(&c.success)?,
            warning: plain(&c.warning)?,
            error: plain(&c.error)?.add_modifier(Modifier::BOLD),
        })
    }

    /// A built-in theme by name, or a user theme `<config dir>/themes/<name>.toml`.
    pub fn load(name: &str) -> Result<Theme, ThemeError> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
            return Theme::parse(text);
        }
        let path = crate::paths::config_dir()
            .join("themes")
            .join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).map_err(|e| ThemeError {
            name: name.into(),
            message: format!(
                "not built in ({}) and {} cannot be read: {e}",
                Theme::built_in().join(", "),
                path.display()
            ),
        })?;
        Theme::parse(&text)
    }

    /// The default theme.
    pub fn dark() -> Theme {
        Theme::parse(BUILT_IN[0].1).expect("the built-in theme parses")
    }

    /// The theme without colors: selection reversed, errors bold.
    pub fn no_color(&self) -> Theme {
        Theme {
            name: format!("{} (no color)", self.name),
            base: Style::default(),
            accent: Style::default().add_modifier(Modifier::BOLD),
            muted: Style::default(),
            border: Style::default(),
            selection: Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            success: Style::default(),
            warning: Style::default().add_modifier(Modifier::BOLD),
            error: Style::default().add_modifier(Modifier::BOLD),
        }
    }

    /// Honours `NO_COLOR` (any non-empty value).
    pub fn for_environment(self) -> Theme {
        if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            self.no_color()
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_themes_parse() {
        for name in Theme::built_in() {
            let theme = Theme::load(name).unwrap();
            assert_eq!(theme.name, name);
        }
        let plain = Theme::dark().no_color();
        assert!(plain.selection.add_modifier.contains(Modifier::REVERSED));
        assert_eq!(plain.base.fg, None);
    }

    #[test]
    fn bad_colors_are_named() {
        let text = BUILT_IN[0].1.replace("#5fafff", "blurple");
        let err = Theme::parse(&text).unwrap_err().to_string();
        assert!(err.contains("blurple"), "{err}");
    }
}
