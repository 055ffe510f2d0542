//! A one-line text input that edits like a shell prompt (readline's emacs keys): the filter,
//! the palette, reference and path prompts. It only edits; the caller decides what Enter,
//! Esc, Tab and the rest mean, and draws it with [`LineInput::before_cursor`] and
//! [`LineInput::after_cursor`].
//!
//! | key                          | does                                                  |
//! |------------------------------|-------------------------------------------------------|
//! | printable char (shift ok)    | insert at the cursor                                  |
//! | backspace / delete           | delete the char before / under the cursor             |
//! | ← → (ctrl/alt-← → by words)  | move one char                                         |
//! | home, ctrl-a / end, ctrl-e   | move to the start / end                               |
//! | ctrl-u / ctrl-k              | delete to the start / to the end                      |
//! | ctrl-w, alt-backspace        | delete the word before the cursor (see below)         |
//! | alt-b / alt-f                | move a word back / forward                            |
//! | ↑ / ↓                        | older / newer history entry (only with a history)     |
//!
//! **Words.** A word is a run of chars that are neither whitespace nor `/`; both kinds of
//! separator are skipped first. So ctrl-w (and alt-backspace, and alt-b / alt-f, which use
//! the same rule) takes `./out/kube rnetes` to `./out/kube `, then `./out/`, `./`, and the
//! empty line: a path loses one segment (with the `/` after it) at a time. This is zsh's
//! behaviour with `/` left out of `WORDCHARS`, and finer than bash's ctrl-w, which stops only
//! at whitespace.
//!
//! **History.** ↑ from the line being typed (the draft) keeps the draft and shows the newest
//! entry; ↓ past the newest entry brings the draft back. Editing a recalled entry makes it the
//! new draft (the stored history is never changed). Without a history (or an empty one) ↑ and
//! ↓ are not consumed, so a list behind the input can use them.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// A line of text with a cursor and an optional history; see the module doc for the keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineInput {
    text: String,
    /// In chars, `0..=text.chars().count()`.
    cursor: usize,
    /// Oldest first.
    history: Vec<String>,
    /// Which history entry is shown; `None` while editing the draft.
    browsing: Option<usize>,
    /// The line as typed before ↑ went into the history.
    draft: String,
}

impl LineInput {
    /// `initial` with the cursor at its end, no history.
    pub fn new(initial: &str) -> LineInput {
        LineInput {
            text: initial.to_string(),
            cursor: initial.chars().count(),
            ..LineInput::default()
        }
    }

    /// Like [`LineInput::new`], with `history` (oldest first) for ↑ and ↓.
    pub fn with_history(initial: &str, history: Vec<String>) -> LineInput {
        LineInput {
            history,
            ..LineInput::new(initial)
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor position in chars (not bytes).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the text and puts the cursor at its end (a completion, say). The result counts
    /// as the draft.
    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = text.chars().count();
        self.browsing = None;
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The text left of the cursor.
    pub fn before_cursor(&self) -> &str {
        &self.text[..self.byte_at(self.cursor)]
    }

    /// The text from the cursor on (its first char is the one under the cursor).
    pub fn after_cursor(&self) -> &str {
        &self.text[self.byte_at(self.cursor)..]
    }

    /// One `•` per char, for secrets.
    pub fn masked(&self) -> String {
        "•".repeat(self.text.chars().count())
    }

    /// Applies `key` when it is an editing or moving key and returns true; returns false,
    /// changing nothing, for keys left to the caller (Enter, Esc, Tab, ctrl-c, F-keys, alt with
    /// other letters, ↑/↓ without a history, key releases).
    pub fn handle(&mut self, key: &KeyEvent) -> bool {
        if key.kind == KeyEventKind::Release {
            return false;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char(c) if ctrl && !alt => match c.to_ascii_lowercase() {
                'a' => self.cursor = 0,
                'e' => self.cursor = self.len(),
                'u' => self.delete_range(0, self.cursor),
                'k' => self.delete_range(self.cursor, self.len()),
                'w' => self.delete_range(self.word_start(), self.cursor),
                _ => return false,
            },
            KeyCode::Char(_) if ctrl => return false,
            KeyCode::Char(c) if alt => match c {
                'b' => self.cursor = self.word_start(),
                'f' => self.cursor = self.word_end(),
                _ => return false,
            },
            KeyCode::Char(c) if !c.is_control() => {
                let at = self.byte_at(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
                self.edited();
            }
            KeyCode::Char(_) => return false,
            KeyCode::Backspace if alt => self.delete_range(self.word_start(), self.cursor),
            KeyCode::Backspace => self.delete_range(self.cursor.saturating_sub(1), self.cursor),
            KeyCode::Delete => self.delete_range(self.cursor, (self.cursor + 1).min(self.len())),
            KeyCode::Left if ctrl || alt => self.cursor = self.word_start(),
            KeyCode::Right if ctrl || alt => self.cursor = self.word_end(),
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.len(),
            KeyCode::Up if !self.history.is_empty() => self.older(),
            KeyCode::Down if !self.history.is_empty() => self.newer(),
            _ => return false,
        }
        true
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// The byte offset of char `index` (the text's length past the end).
    fn byte_at(&self, index: usize) -> usize {
        self.text
            .char_indices()
            .nth(index)
            .map_or(self.text.len(), |(byte, _)| byte)
    }

    /// Deletes chars `from..to` and leaves the cursor at `from`.
    fn delete_range(&mut self, from: usize, to: usize) {
        if from < to {
            let (start, end) = (self.byte_at(from), self.byte_at(to));
            self.text.replace_range(start..end, "");
            self.edited();
        }
        self.cursor = from;
    }

    /// The text changed: a recalled history entry becomes the draft.
    fn edited(&mut self) {
        self.browsing = None;
    }

    fn is_separator(c: char) -> bool {
        c.is_whitespace() || c == '/'
    }

    /// Where the word before the cursor starts: back over separators, then over the word.
    fn word_start(&self) -> usize {
        let before: Vec<char> = self.before_cursor().chars().collect();
        let mut i = before.len();
        while i > 0 && Self::is_separator(before[i - 1]) {
            i -= 1;
        }
        while i > 0 && !Self::is_separator(before[i - 1]) {
            i -= 1;
        }
        i
    }

    /// Where the word at or after the cursor ends: over separators, then over the word.
    fn word_end(&self) -> usize {
        let mut chars = self.after_cursor().chars().peekable();
        let mut i = self.cursor;
        while chars.next_if(|c| Self::is_separator(*c)).is_some() {
            i += 1;
        }
        while chars.next_if(|c| !Self::is_separator(*c)).is_some() {
            i += 1;
        }
        i
    }

    fn older(&mut self) {
        let index = match self.browsing {
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(i) => i.saturating_sub(1),
        };
        self.show(Some(index));
    }

    fn newer(&mut self) {
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.history.len() => self.show(Some(i + 1)),
            Some(_) => self.show(None),
        }
    }

    fn show(&mut self, entry: Option<usize>) {
        self.text = match entry {
            Some(i) => self.history[i].clone(),
            None => std::mem::take(&mut self.draft),
        };
        self.cursor = self.len();
        self.browsing = entry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn alt(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::ALT)
    }

    fn typed(input: &mut LineInput, text: &str) {
        for c in text.chars() {
            let modifiers = if c.is_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            assert!(input.handle(&KeyEvent::new(KeyCode::Char(c), modifiers)));
        }
    }

    /// The text with `|` at the cursor.
    fn shown(input: &LineInput) -> String {
        format!("{}|{}", input.before_cursor(), input.after_cursor())
    }

    #[test]
    fn new_and_set_put_the_cursor_at_the_end() {
        let mut input = LineInput::new("héllo");
        assert_eq!(input.cursor(), 5);
        assert_eq!(shown(&input), "héllo|");
        assert!(!input.is_empty());
        input.set("ü🦀");
        assert_eq!((input.text(), input.cursor()), ("ü🦀", 2));
        input.set("");
        assert!(input.is_empty());
        assert_eq!(shown(&input), "|");
        assert_eq!(LineInput::new("").cursor(), 0);
    }

    #[test]
    fn typing_inserts_at_the_cursor() {
        let mut input = LineInput::new("");
        typed(&mut input, "Hllo");
        for _ in 0..3 {
            assert!(input.handle(&key(KeyCode::Left)));
        }
        typed(&mut input, "é");
        assert_eq!(shown(&input), "Hé|llo");
        input.handle(&key(KeyCode::End));
        typed(&mut input, " wörld 🦀!");
        assert_eq!(input.text(), "Héllo wörld 🦀!");
        assert_eq!(input.cursor(), 14);
    }

    #[test]
    fn multibyte_chars_around_the_cursor() {
        let mut input = LineInput::new("aé🦀ü");
        assert!(input.handle(&key(KeyCode::Left)));
        assert_eq!(shown(&input), "aé🦀|ü");
        assert!(input.handle(&key(KeyCode::Backspace)));
        assert_eq!(shown(&input), "aé|ü");
        assert!(input.handle(&key(KeyCode::Delete)));
        assert_eq!(shown(&input), "aé|");
        input.handle(&key(KeyCode::Home));
        input.handle(&key(KeyCode::Right));
        assert_eq!(shown(&input), "a|é");
        assert!(input.handle(&key(KeyCode::Delete)));
        assert_eq!(shown(&input), "a|");
        typed(&mut input, "🦀");
        assert_eq!((input.text(), input.cursor()), ("a🦀", 2));
        assert_eq!(input.masked(), "••");
        input.handle(&key(KeyCode::Home));
        typed(&mut input, "ü");
        assert_eq!(shown(&input), "ü|a🦀");
    }

    #[test]
    fn edges_do_nothing_but_are_consumed() {
        let mut input = LineInput::new("é");
        assert!(input.handle(&key(KeyCode::Right)));
        assert!(input.handle(&key(KeyCode::Delete)));
        assert_eq!(shown(&input), "é|");
        input.handle(&key(KeyCode::Home));
        assert!(input.handle(&key(KeyCode::Left)));
        assert!(input.handle(&key(KeyCode::Backspace)));
        assert_eq!(shown(&input), "|é");
        let mut empty = LineInput::new("");
        for k in [
            key(KeyCode::Backspace),
            key(KeyCode::Delete),
            ctrl('w'),
            ctrl('u'),
            ctrl('k'),
            alt(KeyCode::Char('b')),
            alt(KeyCode::Char('f')),
        ] {
            assert!(empty.handle(&k));
            assert_eq!(shown(&empty), "|");
        }
    }

    #[test]
    fn line_motions_and_kills() {
        let mut input = LineInput::new("grüße welt");
        assert!(input.handle(&ctrl('a')));
        assert_eq!(input.cursor(), 0);
        assert!(input.handle(&ctrl('e')));
        assert_eq!(input.cursor(), 10);
        input.handle(&key(KeyCode::Home));
        for _ in 0..5 {
            input.handle(&key(KeyCode::Right));
        }
        assert_eq!(shown(&input), "grüße| welt");
        let mut kill_end = input.clone();
        assert!(kill_end.handle(&ctrl('k')));
        assert_eq!(shown(&kill_end), "grüße|");
        assert!(input.handle(&ctrl('u')));
        assert_eq!(shown(&input), "| welt");
        input.handle(&key(KeyCode::End));
        assert_eq!(shown(&input), " welt|");
    }

    #[test]
    fn ctrl_w_trims_words_and_path_segments() {
        let mut input = LineInput::new("./out/kube rnetes");
        let mut steps = Vec::new();
        while !input.is_empty() {
            assert!(input.handle(&ctrl('w')));
            steps.push(input.text().to_string());
        }
        assert_eq!(steps, ["./out/kube ", "./out/", "./", ""]);

        // In the middle: only what is before the cursor goes.
        let mut input = LineInput::new("./out/kube rnetes");
        for _ in 0.." rnetes".len() {
            input.handle(&key(KeyCode::Left));
        }
        input.handle(&ctrl('w'));
        assert_eq!(shown(&input), "./out/| rnetes");

        let mut input = LineInput::new("/home/jörg/ext/🦀-mod/");
        input.handle(&ctrl('w'));
        assert_eq!(shown(&input), "/home/jörg/ext/|");
        input.handle(&ctrl('w'));
        assert_eq!(shown(&input), "/home/jörg/|");
        input.handle(&ctrl('w'));
        assert_eq!(shown(&input), "/home/|");
        input.handle(&ctrl('w'));
        input.handle(&ctrl('w'));
        assert_eq!(shown(&input), "|");

        // Spaces before the cursor go with the word; alt-backspace does the same.
        let mut input = LineInput::new("pull  ghcr.io/acme/kube   ");
        assert!(input.handle(&alt(KeyCode::Backspace)));
        assert_eq!(input.text(), "pull  ghcr.io/acme/");
        assert!(input.handle(&alt(KeyCode::Backspace)));
        assert_eq!(input.text(), "pull  ghcr.io/");
        assert!(input.handle(&alt(KeyCode::Backspace)));
        assert_eq!(input.text(), "pull  ");
        assert!(input.handle(&alt(KeyCode::Backspace)));
        assert_eq!(input.text(), "");
    }

    #[test]
    fn word_motions() {
        let mut input = LineInput::new("pull ghcr.io/äcme/kübe");
        let back = alt(KeyCode::Char('b'));
        let forward = alt(KeyCode::Char('f'));
        assert!(input.handle(&back));
        assert_eq!(shown(&input), "pull ghcr.io/äcme/|kübe");
        input.handle(&back);
        assert_eq!(shown(&input), "pull ghcr.io/|äcme/kübe");
        input.handle(&back);
        input.handle(&back);
        assert_eq!(shown(&input), "|pull ghcr.io/äcme/kübe");
        input.handle(&back);
        assert_eq!(input.cursor(), 0);
        assert!(input.handle(&forward));
        assert_eq!(shown(&input), "pull| ghcr.io/äcme/kübe");
        input.handle(&forward);
        assert_eq!(shown(&input), "pull ghcr.io|/äcme/kübe");
        input.handle(&forward);
        input.handle(&forward);
        assert_eq!(shown(&input), "pull ghcr.io/äcme/kübe|");
        input.handle(&forward);
        assert_eq!(input.cursor(), input.text().chars().count());
        // ctrl-← / alt-→ move by words as well.
        assert!(input.handle(&KeyEvent::new(KeyCode::Left, KeyModifiers::CONTROL)));
        assert_eq!(shown(&input), "pull ghcr.io/äcme/|kübe");
        assert!(input.handle(&alt(KeyCode::Right)));
        assert_eq!(shown(&input), "pull ghcr.io/äcme/kübe|");
    }

    #[test]
    fn keys_left_to_the_caller() {
        let mut input = LineInput::new("abc");
        input.handle(&key(KeyCode::Left));
        let before = input.clone();
        for k in [
            key(KeyCode::Enter),
            key(KeyCode::Esc),
            key(KeyCode::Tab),
            key(KeyCode::BackTab),
            key(KeyCode::Up),
            key(KeyCode::Down),
            key(KeyCode::PageUp),
            key(KeyCode::F(1)),
            ctrl('c'),
            ctrl('r'),
            ctrl('p'),
            alt(KeyCode::Char('x')),
            alt(KeyCode::Char('B')),
            KeyEvent::new(
                KeyCode::Char('a'),
                KeyModifiers::CONTROL | KeyModifiers::ALT,
            ),
            key(KeyCode::Char('\n')),
            KeyEvent::new_with_kind(
                KeyCode::Char('x'),
                KeyModifiers::NONE,
                KeyEventKind::Release,
            ),
        ] {
            assert!(!input.handle(&k), "{k:?}");
            assert_eq!(input, before, "{k:?}");
        }
        // Shift is fine on printable chars, and repeats type too.
        assert!(input.handle(&KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT)));
        assert!(input.handle(&KeyEvent::new_with_kind(
            KeyCode::Char('z'),
            KeyModifiers::NONE,
            KeyEventKind::Repeat,
        )));
        assert_eq!(shown(&input), "ab?z|c");
    }

    #[test]
    fn history_walks_and_restores_the_draft() {
        let history = vec!["first".to_string(), "sécond".to_string()];
        let mut input = LineInput::with_history("dräft", history);
        input.handle(&key(KeyCode::Left));
        assert!(input.handle(&key(KeyCode::Down)));
        assert_eq!(shown(&input), "dräf|t");
        assert!(input.handle(&key(KeyCode::Up)));
        assert_eq!(shown(&input), "sécond|");
        assert!(input.handle(&key(KeyCode::Up)));
        assert_eq!(input.text(), "first");
        assert!(input.handle(&key(KeyCode::Up)));
        assert_eq!(input.text(), "first");
        assert!(input.handle(&key(KeyCode::Down)));
        assert_eq!(input.text(), "sécond");
        assert!(input.handle(&key(KeyCode::Down)));
        assert_eq!(shown(&input), "dräft|");
        assert!(input.handle(&key(KeyCode::Down)));
        assert_eq!(input.text(), "dräft");

        // Editing a recalled entry makes it the draft; history itself is unchanged.
        input.handle(&key(KeyCode::Up));
        typed(&mut input, "!");
        assert_eq!(input.text(), "sécond!");
        input.handle(&key(KeyCode::Up));
        assert_eq!(input.text(), "sécond");
        input.handle(&key(KeyCode::Up));
        assert_eq!(input.text(), "first");
        input.handle(&key(KeyCode::Down));
        input.handle(&key(KeyCode::Down));
        assert_eq!(input.text(), "sécond!");

        // Moving the cursor in a recalled entry is not an edit.
        input.handle(&key(KeyCode::Up));
        input.handle(&key(KeyCode::Home));
        input.handle(&key(KeyCode::Down));
        assert_eq!(input.text(), "sécond!");

        let mut empty_history = LineInput::with_history("x", Vec::new());
        assert!(!empty_history.handle(&key(KeyCode::Up)));
        assert!(!empty_history.handle(&key(KeyCode::Down)));
    }

    #[test]
    fn masked_counts_chars() {
        assert_eq!(LineInput::new("").masked(), "");
        assert_eq!(LineInput::new("pä🦀").masked(), "•••");
    }

    #[test]
    fn no_key_sequence_panics() {
        let keys = [
            key(KeyCode::Char('é')),
            key(KeyCode::Char('/')),
            key(KeyCode::Char(' ')),
            key(KeyCode::Char('🦀')),
            key(KeyCode::Backspace),
            key(KeyCode::Delete),
            key(KeyCode::Left),
            key(KeyCode::Right),
            key(KeyCode::Home),
            key(KeyCode::End),
            key(KeyCode::Up),
            key(KeyCode::Down),
            ctrl('a'),
            ctrl('e'),
            ctrl('u'),
            ctrl('k'),
            ctrl('w'),
            alt(KeyCode::Backspace),
            alt(KeyCode::Char('b')),
            alt(KeyCode::Char('f')),
            KeyEvent::new(KeyCode::Left, KeyModifiers::CONTROL),
            KeyEvent::new(KeyCode::Right, KeyModifiers::CONTROL),
        ];
        let starts = ["", "a", "é ü/🦀", "./out/kube rnetes", "  //  ", "🦀🦀"];
        let histories: [Vec<String>; 2] =
            [Vec::new(), vec!["ü/x".into(), "".into(), "🦀 a".into()]];
        let check = |input: &LineInput| {
            let count = input.text().chars().count();
            assert!(input.cursor() <= count, "{input:?}");
            assert_eq!(
                format!("{}{}", input.before_cursor(), input.after_cursor()),
                input.text()
            );
            assert_eq!(input.before_cursor().chars().count(), input.cursor());
        };
        // Every sequence of three keys, from every start, at every cursor position.
        for start in starts {
            for history in &histories {
                for position in 0..=start.chars().count() {
                    let mut base = LineInput::with_history(start, history.clone());
                    base.cursor = position;
                    for a in &keys {
                        for b in &keys {
                            for c in &keys {
                                let mut input = base.clone();
                                for k in [a, b, c] {
                                    input.handle(k);
                                    check(&input);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
