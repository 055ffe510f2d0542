//! A YAML tree that remembers where every node sits in the text: line and column for
//! diagnostics, byte offsets for edits that change only the bytes they must.
//!
//! yaml-rust2 gives each event a start mark; the end of a scalar is found by reading the text
//! from there (quoted scalars to their closing quote, plain ones as written), and the end of a
//! collection is the end of its last child (or its closing bracket).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// 1-based line and column, for people and editors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Single,
    Double,
    /// `|` or `>`: never edited in place.
    Block,
}

#[derive(Debug, Clone)]
pub enum Value {
    Scalar {
        text: String,
        style: Style,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
}

/// A node with its place: `start..end` are byte offsets into the source text.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub start: usize,
    pub end: usize,
    pub value: Value,
    /// Whether `start..end` is known exactly (an alias copy or a multi-line plain scalar is not).
    pub exact: bool,
}

impl Node {
    /// The scalar's text, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A plain empty scalar, `~` or `null`: the value YAML gives a key written with nothing after it.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, style: Style::Plain }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    pub fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map { entries, .. } => Some(entries),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq { items, .. } => Some(items),
            _ => None,
        }
    }

    /// The value under `key` in a mapping, with its key node.
    pub fn get(&self, key: &str) -> Option<(&Node, &Node)> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// What kind of value this is, for messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Seq { .. } => "a list",
            Value::Map { .. } => "a mapping",
            _ if self.is_null() => "empty",
            _ => "a scalar",
        }
    }
}

/// A YAML syntax problem with its place.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Nesting deeper than this is refused: no workspace needs it, and it bounds recursion.
const MAX_DEPTH: usize = 32;
/// Nodes produced by alias expansion, bounding "billion laughs" documents.
const MAX_ALIAS_NODES: usize = 10_000;

/// Parses `text` into a positioned tree; `None` for an empty document.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let lines = LineIndex::new(text);
    let mut builder = Builder {
        text,
        lines: &lines,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        alias_nodes: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, mark)) => {
                builder.event(event, mark);
                if let Some(e) = builder.error.take() {
                    return Err(e);
                }
            }
            Err(e) => {
                return Err(SyntaxError {
                    pos: lines.pos(e.marker()),
                    message: format!("invalid YAML: {}", e.info()),
                });
            }
        }
    }
    Ok(builder.root)
}

/// Maps yaml-rust2 marks (line from 1, column in characters from 0) to byte offsets.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    fn pos(&self, mark: &Marker) -> Pos {
        Pos {
            line: mark.line().max(1),
            column: mark.col() + 1,
        }
    }

    fn offset(&self, mark: &Marker) -> usize {
        let line = mark.line().max(1) - 1;
        let Some(&start) = self.starts.get(line) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        rest.char_indices()
            .nth(mark.col())
            .map(|(i, _)| start + i)
            .unwrap_or(self.text.len())
    }

    /// The 1-based line and column of byte `offset`.
    pub fn pos_of(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self.text[start..offset.min(self.text.len())]
            .chars()
            .count()
            + 1;
        Pos { line, column }
    }
}

enum Frame {
    Seq {
        mark: (Pos, usize),
        anchor: usize,
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        mark: (Pos, usize),
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        flow: bool,
    },
}

struct Builder<'a> {
    text: &'a str,
    lines: &'a LineIndex<'a>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    alias_nodes: usize,
    error: Option<SyntaxError>,
}

impl Builder<'_> {
    fn fail(&mut self, pos: Pos, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                pos,
                message: message.into(),
            });
        }
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn open(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(pos, "the document is nested too deeply");
        } else {
            self.stack.push(frame);
        }
    }

    fn event(&mut self, event: Event, mark: Marker) {
        let pos = self.lines.pos(&mark);
        let offset = self.lines.offset(&mark);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        pos,
                        "provisioning.yaml holds more than one YAML document; keep one and remove the `---` separator and what follows",
                    );
                }
            }
            Event::Scalar(text, style, anchor, _) => {
                let (style, end, exact) = self.scalar_end(&text, style, offset);
                let node = Node {
                    pos,
                    start: offset,
                    end,
                    value: Value::Scalar { text, style },
                    exact,
                };
                self.complete(node, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                let flow = self.text[offset..].starts_with('[');
                self.open(
                    Frame::Seq {
                        mark: (pos, offset),
                        anchor,
                        items: Vec::new(),
                        flow,
                    },
                    pos,
                )
            }
            Event::MappingStart(anchor, _) => {
                let flow = self.text[offset..].starts_with('{');
                self.open(
                    Frame::Map {
                        mark: (pos, offset),
                        anchor,
                        entries: Vec::new(),
                        key: None,
                        flow,
                    },
                    pos,
                )
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq {
                        mark,
                        anchor,
                        items,
                        flow,
                    }) => {
                        let first = items.first().map(|n| (n.pos, n.start));
                        let last_end = items.last().map(|n| n.end);
                        let exact = items.iter().all(|n| n.exact);
                        let value = Value::Seq { items, flow };
                        (
                            self.collection(mark, first, last_end, flow, exact, value),
                            anchor,
                        )
                    }
                    Some(Frame::Map {
                        mark,
                        anchor,
                        entries,
                        flow,
                        ..
                    }) => {
                        let first = entries.first().map(|(k, _)| (k.pos, k.start));
                        let last_end = entries.last().map(|(_, v)| v.end.max(v.start));
                        let exact = entries.iter().all(|(k, v)| k.exact && v.exact);
                        let value = Value::Map { entries, flow };
                        (
                            self.collection(mark, first, last_end, flow, exact, value),
                            anchor,
                        )
                    }
                    None => {
                        self.fail(pos, "unbalanced YAML structure");
                        return;
                    }
                };
                self.complete(node.0, node.1);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    self.alias_nodes += count_nodes(node);
                    if self.alias_nodes > MAX_ALIAS_NODES {
                        self.fail(
                            pos,
                            "aliases expand to too many nodes; write the values out",
                        );
                    } else {
                        let mut node = node.clone();
                        node.pos = pos;
                        node.start = offset;
                        node.end = offset + alias_len(&self.text[offset..]);
                        node.exact = false;
                        self.complete(node, 0);
                    }
                }
                None => self.fail(pos, "alias to an unknown anchor"),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }

    /// A collection node: block collections start at their first child (their event sits
    /// elsewhere) and end with their last; flow ones run from the bracket to its partner.
    fn collection(
        &self,
        mark: (Pos, usize),
        first: Option<(Pos, usize)>,
        last_end: Option<usize>,
        flow: bool,
        exact: bool,
        value: Value,
    ) -> Node {
        if flow {
            let from = last_end.unwrap_or(mark.1 + 1);
            let close = if matches!(value, Value::Seq { .. }) {
                ']'
            } else {
                '}'
            };
            let end = find_closing(self.text, from, close).map_or(self.text.len(), |i| i + 1);
            return Node {
                pos: mark.0,
                start: mark.1,
                end,
                value,
                exact,
            };
        }
        let (pos, start) = first.unwrap_or(mark);
        Node {
            pos,
            start,
            end: last_end.unwrap_or(start).max(start),
            value,
            exact,
        }
    }

    /// Where a scalar that starts at `offset` ends, and whether that is exact.
    fn scalar_end(&self, value: &str, style: TScalarStyle, offset: usize) -> (Style, usize, bool) {
        let rest = &self.text[offset.min(self.text.len())..];
        match style {
            TScalarStyle::DoubleQuoted => match closing_double(rest) {
                Some(len) => (Style::Double, offset + len, true),
                None => (Style::Double, offset, false),
            },
            TScalarStyle::SingleQuoted => match closing_single(rest) {
                Some(len) => (Style::Single, offset + len, true),
                None => (Style::Single, offset, false),
            },
            TScalarStyle::Plain => {
                if rest.starts_with(value) {
                    (Style::Plain, offset + value.len(), true)
                } else {
                    // A plain scalar folded over lines: its text is not the source's.
                    (Style::Plain, offset + plain_extent(rest), false)
                }
            }
            _ => (Style::Block, offset + block_extent(rest), false),
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq { items, .. } => items.iter().map(count_nodes).sum(),
        Value::Map { entries, .. } => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
    }
}

fn alias_len(rest: &str) -> usize {
    rest.find(|c: char| c.is_whitespace() || ",]}".contains(c))
        .unwrap_or(rest.len())
}

/// The length of `"…"` at the start of `rest`, closing quote included.
fn closing_double(rest: &str) -> Option<usize> {
    let mut chars = rest.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The length of `'…'` at the start of `rest` (`''` is a quote inside).
fn closing_single(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The closing bracket of a flow collection, skipping quoted text and comments.
fn find_closing(text: &str, from: usize, close: char) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i += closing_double(&text[i..])?,
            b'\'' => i += closing_single(&text[i..])?,
            b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            c if c as char == close => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A multi-line plain scalar: its first line and the more-indented lines after it.
fn plain_extent(rest: &str) -> usize {
    let first = rest.find('\n').unwrap_or(rest.len());
    first.min(rest[..first].find(" #").unwrap_or(first))
}

/// A `|` or `>` scalar: the indicator line and the lines indented more than the line before.
fn block_extent(rest: &str) -> usize {
    let first = rest.find('\n').map_or(rest.len(), |i| i + 1);
    let mut end = first;
    let mut pos = first;
    let mut base: Option<usize> = None;
    for line in rest[first..].split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start_matches(' ').len();
        if content.trim().is_empty() {
            pos += line.len();
            continue;
        }
        let base = *base.get_or_insert(indent);
        if indent < base || indent == 0 {
            break;
        }
        pos += line.len();
        end = pos;
    }
    end.min(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice<'a>(text: &'a str, node: &Node) -> &'a str {
        &text[node.start..node.end]
    }

    #[test]
    fn scalars_have_exact_spans() {
        let text = "a: \"x: \\\"y\\\"\" # c\nb: 'it''s'\nc: plain value  # note\nlist:\n  - one\n  - \"two\"\nflow: [1, \"2\"]\nmap: {k: v}\n";
        let root = parse(text).unwrap().unwrap();
        assert_eq!(slice(text, root.get("a").unwrap().1), "\"x: \\\"y\\\"\"");
        assert_eq!(slice(text, root.get("b").unwrap().1), "'it''s'");
        assert_eq!(slice(text, root.get("c").unwrap().1), "plain value");
        let list = root.get("list").unwrap().1;
        assert_eq!(slice(text, list), "one\n  - \"two\"");
        assert_eq!(list.pos, Pos { line: 5, column: 5 });
        assert_eq!(slice(text, root.get("flow").unwrap().1), "[1, \"2\"]");
        assert_eq!(slice(text, root.get("map").unwrap().1), "{k: v}");
        let (key, _) = root.get("map").unwrap();
        assert_eq!(key.pos, Pos { line: 8, column: 1 });
    }

    #[test]
    fn non_ascii_text_keeps_byte_offsets() {
        let text = "# ünïcode ✓\nname: \"café\"\nnext: ok\n";
        let root = parse(text).unwrap().unwrap();
        assert_eq!(slice(text, root.get("name").unwrap().1), "\"café\"");
        assert_eq!(slice(text, root.get("next").unwrap().1), "ok");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a:\n  b: [\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn nested_block_mapping_spans_its_entries() {
        let text = "top:\n  inner:\n    k: v\n    l: w\n# after\nnext: 1\n";
        let root = parse(text).unwrap().unwrap();
        let inner = root.get("top").unwrap().1.get("inner").unwrap().1;
        assert_eq!(slice(text, inner), "k: v\n    l: w");
        let line = LineIndex::new(text);
        assert_eq!(line.pos_of(inner.start), Pos { line: 3, column: 5 });
    }
}
