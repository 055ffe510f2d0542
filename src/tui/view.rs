//! What every pane's drawing shares: the theme and time it draws with, where its list was
//! drawn (for mouse clicks and page keys), and the small widgets all panes use.

use std::cell::Cell;
use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::action::Action;
use super::input::LineInput;
use super::keymap::Keymap;
use super::panes::LoadState;
use super::theme::Theme;

/// What a pane draws with.
pub struct View<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    /// The app's clock, read once per frame.
    pub now: Instant,
}

/// A pane: its keys, its hints and its drawing. State, prompt answers and worker answers are
/// the pane's own methods; the app routes to them.
pub trait Pane {
    /// The actions that make sense now, for the hint bar.
    fn hints(&self) -> Vec<Action>;
    /// A key before the keymap sees it (typing into a filter); true when it was used.
    fn raw_key(
        &mut self,
        _key: &crossterm::event::KeyEvent,
        _fx: &mut super::panes::Effects,
    ) -> bool {
        false
    }
    /// An action from a key, the palette or a test.
    fn action(&mut self, action: Action, fx: &mut super::panes::Effects);
    /// Esc: what is loading stops.
    fn cancel_loading(&mut self) {}
    /// A click on row `index` of the list drawn last.
    fn select_index(&mut self, index: usize, fx: &mut super::panes::Effects);
    /// Where the list was drawn last.
    fn geometry(&self) -> ListGeometry;
    fn draw(&self, frame: &mut Frame, area: Rect, view: &View);
}

/// Where a list was drawn, for mouse clicks and page keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListGeometry {
    pub area: Rect,
    pub offset: usize,
}

impl ListGeometry {
    /// The list row under a click inside the bordered area.
    pub fn index_at(&self, column: u16, row: u16) -> Option<usize> {
        let area = self.area;
        (column >= area.x
            && column < area.x + area.width
            && row > area.y
            && row < area.y + area.height.saturating_sub(1))
        .then(|| self.offset + (row - area.y - 1) as usize)
    }

    /// Rows a page key moves.
    pub fn page(&self) -> isize {
        self.area.height.saturating_sub(2).max(1) as isize
    }
}

/// A geometry cell a pane updates while drawing.
pub type GeometryCell = Cell<ListGeometry>;

pub fn block<'a>(theme: &Theme, title: impl Into<Line<'a>>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(title)
        .title_style(theme.accent)
}

/// "Loading…" or the error, when `state` is not loaded.
pub fn loading_text<'a>(theme: &Theme, state: &'a LoadState, what: &str) -> Option<Paragraph<'a>> {
    match state {
        LoadState::Loading => {
            Some(Paragraph::new(format!("Loading {what}… (esc cancels)")).style(theme.muted))
        }
        LoadState::Failed(e) => Some(
            Paragraph::new(e.as_str())
                .style(theme.error)
                .wrap(Wrap { trim: false }),
        ),
        _ => None,
    }
}

pub fn filter_label(filter: &LineInput, filtering: bool) -> String {
    match (filter.is_empty(), filtering) {
        (true, false) => String::new(),
        (_, true) => format!("  /{}▏{}", filter.before_cursor(), filter.after_cursor()),
        (false, false) => format!("  /{}", filter.text()),
    }
}

/// The first 12 hex digits of a digest, with its algorithm.
pub fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

/// A text input's spans with a bar where the cursor is; bullets in place of a secret.
pub fn input_spans(input: &LineInput, masked: bool) -> Vec<Span<'static>> {
    let (before, after) = if masked {
        (
            "•".repeat(input.before_cursor().chars().count()),
            "•".repeat(input.after_cursor().chars().count()),
        )
    } else {
        (
            input.before_cursor().to_string(),
            input.after_cursor().to_string(),
        )
    };
    let mut spans = vec![Span::raw(before), Span::raw("▏")];
    if !after.is_empty() {
        spans.push(Span::raw(after));
    }
    spans
}
