//! Workbench snapshots: a frame drawn on a test terminal, as text with a style mask under each
//! row and a legend, at every supported size, in the dark theme and without colours.

use provisioning::tui::app::App;
use provisioning::tui::screen;
use provisioning::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer, Cell};
use ratatui::style::{Color, Modifier};

/// The sizes every pane is snapshot at: a roomy terminal and the smallest supported one.
pub const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

/// A cell's look: foreground, background, underline colour and modifiers.
type Look = (Color, Color, Color, Modifier);

fn look(cell: &Cell) -> Look {
    (cell.fg, cell.bg, cell.underline_color, cell.modifier)
}

/// Letters for styles, in order of first appearance.
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn describe(look: &Look) -> String {
    let (fg, bg, underline, modifier) = look;
    let mut parts = vec![format!("fg {fg}"), format!("bg {bg}")];
    if *underline != Color::Reset {
        parts.push(format!("underline {underline}"));
    }
    if !modifier.is_empty() {
        parts.push(format!("{modifier:?}"));
    }
    parts.join(", ")
}

/// The app drawn once at `width`×`height`.
pub fn draw(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|frame| screen::draw(frame, app))
        .expect("draw");
    terminal.backend().buffer().clone()
}

/// The frame as text, each row followed by its style mask (a letter per cell, a space for an
/// unstyled cell), then the legend saying which colours and modifiers each letter stands for.
pub fn render(app: &App, width: u16, height: u16) -> String {
    let buffer = draw(app, width, height);
    let mut looks: Vec<Look> = Vec::new();
    let mut out = String::new();
    for y in 0..height {
        let mut text = String::new();
        let mut mask = String::new();
        for x in 0..width {
            let cell = &buffer[(x, y)];
            text.push_str(cell.symbol());
            let style = look(cell);
            if style == look(&Cell::EMPTY) {
                mask.push(' ');
                continue;
            }
            let index = looks.iter().position(|l| *l == style).unwrap_or_else(|| {
                looks.push(style);
                looks.len() - 1
            });
            mask.push(
                LETTERS
                    .chars()
                    .nth(index)
                    .expect("fewer styles than letters"),
            );
        }
        out.push_str(&format!("{y:>2} {}\n", text.trim_end()));
        let mask = mask.trim_end();
        if !mask.is_empty() {
            out.push_str(&format!("   {mask}\n"));
        }
    }
    out.push_str("styles:\n");
    for (letter, look) in LETTERS.chars().zip(&looks) {
        out.push_str(&format!("  {letter}  {}\n", describe(look)));
    }
    out
}

/// The frame's text only.
pub fn text(app: &App, width: u16, height: u16) -> String {
    let buffer = draw(app, width, height);
    (0..height)
        .map(|y| {
            let row: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
            format!("{}\n", row.trim_end())
        })
        .collect()
}

/// Snapshots `build`'s app at every size, in the dark theme and without colours, into
/// `tests/snapshots/NAME@WxH_THEME.snap`.
pub fn snapshot_all(name: &str, build: fn(&Theme) -> App) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_snapshot_path("../snapshots");
    settings.bind(|| {
        for (label, theme) in [
            ("dark", Theme::dark()),
            ("nocolor", Theme::dark().no_color()),
        ] {
            let app = build(&theme);
            for (width, height) in SIZES {
                let frame = render(&app, width, height);
                insta::assert_snapshot!(format!("{name}@{width}x{height}_{label}"), frame);
            }
        }
    });
}
