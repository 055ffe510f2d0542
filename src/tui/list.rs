//! A selectable, filterable list. Only indices are kept per filter, so 10,000 items filter and
//! scroll without copying, and drawing takes just the visible window.

use crossterm::event::KeyEvent;

use super::input::LineInput;

/// Something a list can filter by.
pub trait Filterable {
    fn filter_text(&self) -> String;
}

impl Filterable for String {
    fn filter_text(&self) -> String {
        self.clone()
    }
}

#[derive(Clone, Debug)]
pub struct FilteredList<T> {
    items: Vec<T>,
    visible: Vec<usize>,
    /// Index into `visible`.
    selected: usize,
    /// What the list is filtered by, edited like a shell line.
    pub filter: LineInput,
    /// Keys go to the filter while true.
    pub filtering: bool,
}

impl<T> Default for FilteredList<T> {
    fn default() -> Self {
        FilteredList {
            items: Vec::new(),
            visible: Vec::new(),
            selected: 0,
            filter: LineInput::default(),
            filtering: false,
        }
    }
}

impl<T: Filterable> FilteredList<T> {
    pub fn new(items: Vec<T>) -> Self {
        let mut list = FilteredList {
            items,
            ..FilteredList::default()
        };
        list.refilter();
        list
    }

    /// Replaces the items, keeping the filter.
    pub fn set_items(&mut self, items: Vec<T>) {
        self.items = items;
        self.refilter();
    }

    pub fn set_filter(&mut self, filter: &str) {
        self.filter.set(filter);
        self.selected = 0;
        self.refilter();
    }

    /// `/`: a new filter, empty, takes the keys.
    pub fn start_filter(&mut self) {
        self.filtering = true;
        self.set_filter("");
    }

    /// A key for the filter; true when it edited or moved in it.
    pub fn edit_filter(&mut self, key: &KeyEvent) -> bool {
        let before = self.filter.text().to_string();
        if !self.filter.handle(key) {
            return false;
        }
        if self.filter.text() != before {
            self.selected = 0;
            self.refilter();
        }
        true
    }

    fn refilter(&mut self) {
        let needle = self.filter.text().to_lowercase();
        self.visible = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, item)| {
                needle.is_empty() || item.filter_text().to_lowercase().contains(&needle)
            })
            .map(|(i, _)| i)
            .collect();
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }
}

/// A list's filter, whatever the list holds.
pub trait FilterControl {
    fn filtering(&mut self) -> &mut bool;
    fn start_filter(&mut self);
    fn edit_filter(&mut self, key: &KeyEvent) -> bool;
    fn clear_filter(&mut self);
}

impl<T: Filterable> FilterControl for FilteredList<T> {
    fn filtering(&mut self) -> &mut bool {
        &mut self.filtering
    }

    fn start_filter(&mut self) {
        FilteredList::start_filter(self);
    }

    fn edit_filter(&mut self, key: &KeyEvent) -> bool {
        FilteredList::edit_filter(self, key)
    }

    fn clear_filter(&mut self) {
        self.set_filter("");
    }
}

impl<T> FilteredList<T> {
    pub fn total(&self) -> usize {
        self.items.len()
    }

    pub fn len(&self) -> usize {
        self.visible.len()
    }

    pub fn is_empty(&self) -> bool {
        self.visible.is_empty()
    }

    pub fn selected_index(&self) -> usize {
        self.selected
    }

    pub fn selected(&self) -> Option<&T> {
        self.visible.get(self.selected).map(|&i| &self.items[i])
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Moves the selection by `delta`, clamped.
    pub fn move_by(&mut self, delta: isize) {
        if self.visible.is_empty() {
            return;
        }
        let last = self.visible.len() - 1;
        self.selected = (self.selected as isize + delta).clamp(0, last as isize) as usize;
    }

    pub fn select(&mut self, index: usize) {
        self.selected = index.min(self.visible.len().saturating_sub(1));
    }

    pub fn select_last(&mut self) {
        self.selected = self.visible.len().saturating_sub(1);
    }

    /// The visible items in a window of `height` rows keeping the selection in view: the
    /// offset of the window and the items with their visible index.
    pub fn window(&self, height: usize) -> (usize, Vec<(usize, &T)>) {
        let height = height.max(1);
        let offset = if self.selected >= height {
            self.selected + 1 - height
        } else {
            0
        };
        let rows = self.visible[offset..self.visible.len().min(offset + height)]
            .iter()
            .enumerate()
            .map(|(i, &item)| (offset + i, &self.items[item]))
            .collect();
        (offset, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_and_window() {
        let mut list = FilteredList::new((0..10_000).map(|i| format!("repo-{i}")).collect());
        assert_eq!(list.len(), 10_000);
        list.move_by(50);
        let (offset, rows) = list.window(20);
        assert_eq!(offset, 31);
        assert_eq!(rows.len(), 20);
        assert_eq!(rows.last().unwrap().0, 50);
        list.set_filter("repo-999");
        assert_eq!(list.len(), 11);
        assert_eq!(list.selected().map(String::as_str), Some("repo-999"));
        list.set_filter("nothing");
        assert!(list.selected().is_none());
        list.move_by(1);
    }
}
