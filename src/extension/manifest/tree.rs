//! The spanned tree: yaml-rust2's marked events built into nodes that remember the line and
//! column of every value, so that each problem can point at its place in the file.

use super::*;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub(super) line: usize,
    pub(super) column: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) pos: Pos,
    pub(super) value: Value,
}

#[derive(Debug, Clone)]
pub(super) enum Value {
    /// `plain` scalars are subject to YAML's type resolution (`1.0` is a number).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScalarKind {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

impl Node {
    pub(super) fn scalar_kind(&self) -> Option<ScalarKind> {
        match &self.value {
            Value::Scalar { text, plain: true } => Some(resolve_plain(text)),
            Value::Scalar { plain: false, .. } => Some(ScalarKind::Str),
            _ => None,
        }
    }

    pub(super) fn is_null(&self) -> bool {
        self.scalar_kind() == Some(ScalarKind::Null)
    }

    pub(super) fn describe(&self) -> &'static str {
        match (&self.value, self.scalar_kind()) {
            (Value::Seq(_), _) => "a list",
            (Value::Map(_), _) => "a mapping",
            (_, Some(ScalarKind::Null)) => "empty",
            (_, Some(ScalarKind::Bool)) => "a boolean",
            (_, Some(ScalarKind::Int | ScalarKind::Float)) => "a number",
            _ => "a string",
        }
    }
}

pub(super) fn resolve_plain(text: &str) -> ScalarKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return ScalarKind::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return ScalarKind::Bool,
        ".inf" | ".Inf" | ".INF" | "-.inf" | "-.Inf" | "-.INF" | "+.inf" | "+.Inf" | "+.INF"
        | ".nan" | ".NaN" | ".NAN" => return ScalarKind::Float,
        _ => {}
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(hex) = text.strip_prefix("0x") {
        return if digits(hex, 16) {
            ScalarKind::Int
        } else {
            ScalarKind::Str
        };
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return if digits(oct, 8) {
            ScalarKind::Int
        } else {
            ScalarKind::Str
        };
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits(unsigned, 10) {
        return ScalarKind::Int;
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (int.is_empty() || digits(int, 10))
                && (frac.is_empty() || digits(frac, 10))
                && !(int.is_empty() && frac.is_empty())
        }
        None => digits(mantissa, 10),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    if mantissa_ok && exponent_ok {
        ScalarKind::Float
    } else {
        ScalarKind::Str
    }
}

pub(super) struct TreeError {
    pub(super) pos: Pos,
    pub(super) message: String,
    pub(super) hint: Option<String>,
}

/// Nesting deeper than this is refused: no manifest needs it, and it bounds recursion.
pub(super) const MAX_DEPTH: usize = 32;
/// Nodes produced by alias expansion, bounding "billion laughs" documents.
pub(super) const MAX_ALIAS_NODES: usize = 10_000;

pub(super) enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Turns marked events into a [`Node`] tree; stops at the first problem.
#[derive(Default)]
pub(super) struct TreeBuilder {
    pub(super) stack: Vec<Frame>,
    pub(super) anchors: HashMap<usize, Node>,
    pub(super) documents: usize,
    pub(super) root: Option<Node>,
    pub(super) alias_nodes: usize,
    pub(super) error: Option<TreeError>,
}

impl TreeBuilder {
    pub(super) fn fail(&mut self, pos: Pos, message: impl Into<String>, hint: Option<&str>) {
        if self.error.is_none() {
            self.error = Some(TreeError {
                pos,
                message: message.into(),
                hint: hint.map(str::to_string),
            });
        }
    }

    pub(super) fn complete(&mut self, node: Node, anchor: usize) {
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

    pub(super) fn open(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(pos, "the document is nested too deeply", None);
        } else {
            self.stack.push(frame);
        }
    }
}

pub(super) fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = Pos::from(mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        pos,
                        "manifest.yaml holds more than one YAML document",
                        Some("keep one document; remove the `---` separator and what follows"),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let explicit_str = tag.is_some_and(|t| t.suffix == "str");
                let plain = style == TScalarStyle::Plain && !explicit_str;
                self.complete(
                    Node {
                        pos,
                        value: Value::Scalar { text, plain },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => self.open(
                Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                },
                pos,
            ),
            Event::MappingStart(anchor, _) => self.open(
                Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                },
                pos,
            ),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => {
                    // A block sequence's event sits on its first item; use that.
                    let pos = items.first().map_or(pos, |n| min_pos(pos, n.pos));
                    self.complete(
                        Node {
                            pos,
                            value: Value::Seq(items),
                        },
                        anchor,
                    );
                }
                Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    ..
                }) => {
                    // A block mapping's event sits after its first key; the key is the start.
                    let pos = entries.first().map_or(pos, |(k, _)| min_pos(pos, k.pos));
                    self.complete(
                        Node {
                            pos,
                            value: Value::Map(entries),
                        },
                        anchor,
                    );
                }
                None => self.fail(pos, "unbalanced YAML structure", None),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    self.alias_nodes += count_nodes(node);
                    if self.alias_nodes > MAX_ALIAS_NODES {
                        self.fail(
                            pos,
                            "aliases expand to too many nodes",
                            Some("write the values out instead of using `*alias`"),
                        );
                    } else {
                        let mut node = node.clone();
                        node.pos = pos;
                        self.complete(node, 0);
                    }
                }
                None => self.fail(pos, "alias to an unknown anchor", None),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

pub(super) fn min_pos(a: Pos, b: Pos) -> Pos {
    if (b.line, b.column) < (a.line, a.column) {
        b
    } else {
        a
    }
}

/// The document's root node, or `None` for an empty stream.
pub(super) fn build_tree(text: &str) -> Result<Option<Node>, TreeError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = TreeBuilder::default();
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((ev, mark)) => {
                builder.on_event(ev, mark);
                if let Some(e) = builder.error.take() {
                    return Err(e);
                }
            }
            Err(e) => {
                return Err(TreeError {
                    pos: Pos::from(*e.marker()),
                    message: format!("invalid YAML: {}", e.info()),
                    hint: Some(
                        "check the indentation (spaces, not tabs) and quote values containing `: ` or starting with special characters"
                            .to_string(),
                    ),
                });
            }
        }
    }
    Ok(builder.root)
}
