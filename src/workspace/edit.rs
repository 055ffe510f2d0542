//! Edits of `provisioning.yaml` that change only the lines they must: a value is replaced
//! within its own bytes, a list item is added on a line of its own after the last one (with
//! its indentation) or removed with its line, and missing keys are added at the end of their
//! mapping. Comments, blank lines, key order, quoting and unknown keys are never touched.

use super::yaml::{self, Node, Style, Value};

/// Why an edit cannot be made in place.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("line {line}: {message}")]
    Unsupported { line: usize, message: String },
    #[error("the file does not parse: line {line}: {message}")]
    Syntax { line: usize, message: String },
}

fn unsupported(node: &Node, message: impl Into<String>) -> EditError {
    EditError::Unsupported {
        line: node.pos.line,
        message: message.into(),
    }
}

fn root(text: &str) -> Result<Option<Node>, EditError> {
    yaml::parse(text).map_err(|e| EditError::Syntax {
        line: e.pos.line,
        message: e.message,
    })
}

/// Byte offset of the start of the line holding `offset`.
fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// Byte offset of the end of the line holding `offset` (before its newline).
fn line_end(text: &str, offset: usize) -> usize {
    text[offset..].find('\n').map_or(text.len(), |i| offset + i)
}

/// The leading spaces of the line holding `offset`.
fn indent_of(text: &str, offset: usize) -> usize {
    let start = line_start(text, offset);
    text[start..].len() - text[start..].trim_start_matches(' ').len()
}

/// A string as a YAML scalar: plain when that reads back as the same string, else quoted.
pub fn scalar(text: &str) -> String {
    let plain_ok = !text.is_empty()
        && !text.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`~ ".contains(c))
        && !text.ends_with(' ')
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.contains(['\n', '\t', ',', '[', ']', '{', '}'])
        && !matches!(
            text,
            "true"
                | "false"
                | "null"
                | "True"
                | "False"
                | "Null"
                | "TRUE"
                | "FALSE"
                | "NULL"
                | "yes"
                | "no"
        )
        && text.parse::<f64>().is_err();
    if plain_ok {
        text.to_string()
    } else {
        quoted(text)
    }
}

/// A double-quoted YAML scalar.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A scalar written in the same style as `like` (quoted stays quoted).
fn scalar_like(like: &Node, text: &str) -> String {
    match &like.value {
        Value::Scalar {
            style: Style::Double,
            ..
        } => quoted(text),
        Value::Scalar {
            style: Style::Single,
            ..
        } if !text.contains('\'') => format!("'{text}'"),
        _ => scalar(text),
    }
}

/// The deepest existing mapping along `path`: the nodes found (key, value) and how many keys
/// of `path` matched.
fn walk<'n>(root: &'n Node, path: &[&str]) -> Vec<(&'n Node, &'n Node)> {
    let mut found = Vec::new();
    let mut current = root;
    for key in path {
        match current.get(key) {
            Some((k, v)) => {
                found.push((k, v));
                current = v;
            }
            None => break,
        }
    }
    found
}

/// Sets the scalar at `path` (keys from the root), keeping its quoting style; adds the key
/// (and missing parents) at the end of its mapping when absent.
pub fn set_scalar(text: &mut String, path: &[&str], value: &str) -> Result<(), EditError> {
    let root = root(text)?;
    if let Some(root) = &root {
        let found = walk(root, path);
        if found.len() == path.len() {
            let (_, node) = found[found.len() - 1];
            return match &node.value {
                Value::Scalar { text: current, .. } if current == value => Ok(()),
                Value::Scalar { style, .. }
                    if node.exact && *style != Style::Block && !node.is_null() =>
                {
                    let new = scalar_like(node, value);
                    text.replace_range(node.start..node.end, &new);
                    Ok(())
                }
                _ if node.is_null() => {
                    let (key, _) = found[found.len() - 1];
                    let remove = remove_null_value(text, key, node);
                    text.replace_range(key.end..remove, &format!(": {}", scalar(value)));
                    Ok(())
                }
                _ => Err(unsupported(
                    node,
                    format!(
                        "`{}` is not a one-line value; edit it by hand",
                        path.join(".")
                    ),
                )),
            };
        }
    }
    insert_missing(text, root.as_ref(), path, &scalar(value), false)
}

/// Where a key's explicit null (`~`, `null`) or empty value ends, so it can be replaced.
fn remove_null_value(text: &str, key: &Node, value: &Node) -> usize {
    let colon = text[key.end..].find(':').map_or(key.end, |i| key.end + i);
    if value.as_str().is_some_and(|t| !t.is_empty()) && value.exact {
        value.end
    } else {
        colon + 1
    }
}

/// Adds `item` (a YAML scalar or one-line flow mapping) to the list at `path`, creating the
/// list (and its parents) when missing.
pub fn append_item(text: &mut String, path: &[&str], item: &str) -> Result<(), EditError> {
    let root = root(text)?;
    let Some(root_node) = &root else {
        return insert_missing(text, None, path, item, true);
    };
    let found = walk(root_node, path);
    if found.len() < path.len() {
        return insert_missing(text, root.as_ref(), path, item, true);
    }
    let (key, list) = found[found.len() - 1];
    match &list.value {
        Value::Seq { items, flow: false } if !items.is_empty() => {
            let last = items.last().expect("non-empty");
            let first = &items[0];
            let indent = indent_of(text, first.start);
            let at = line_end(text, last.end);
            text.insert_str(at, &format!("\n{}- {item}", " ".repeat(indent)));
            Ok(())
        }
        Value::Seq { items, flow: true } if !items.is_empty() => {
            let last_end = items.last().expect("non-empty").end;
            text.insert_str(last_end, &format!(", {item}"));
            Ok(())
        }
        // `[]`, `~` or nothing: a block list with the item on the next line.
        Value::Seq { flow: true, .. } => {
            open_block_list(text, key, list.end, item);
            Ok(())
        }
        _ if list.is_null() => {
            let end = remove_null_value(text, key, list);
            open_block_list(text, key, end, item);
            Ok(())
        }
        _ => Err(unsupported(
            list,
            format!("`{}` is {}, not a list", path.join("."), list.describe()),
        )),
    }
}

/// Removes the value after `key:` (up to `value_end`) and puts `item` on the next line as
/// the first item of a block list.
fn open_block_list(text: &mut String, key: &Node, value_end: usize, item: &str) {
    let colon = text[key.end..]
        .find(':')
        .map_or(key.end, |i| key.end + i + 1);
    let key_indent = indent_of(text, key.start);
    text.replace_range(colon..value_end.max(colon), "");
    let at = line_end(text, colon);
    text.insert_str(at, &format!("\n{}- {item}", " ".repeat(key_indent + 2)));
}

/// Adds the keys of `path` that do not exist yet at the end of the deepest mapping that
/// does, ending with `leaf` as the value (or, when `as_item`, as the list's one item).
fn insert_missing(
    text: &mut String,
    root: Option<&Node>,
    path: &[&str],
    leaf: &str,
    as_item: bool,
) -> Result<(), EditError> {
    let found = root.map(|r| walk(r, path)).unwrap_or_default();
    // Where the new lines go, their indentation, and whether they follow a line of text.
    let (indent, at, after_line) = match found.last() {
        None => match root {
            Some(r) if matches!(r.value, Value::Map { flow: false, .. }) => {
                let first = &r.entries().expect("mapping")[0].0;
                (indent_of(text, first.start), line_end(text, r.end), true)
            }
            Some(r) if !r.is_null() => {
                return Err(unsupported(
                    r,
                    "the document is not a block mapping; write it in block style",
                ));
            }
            _ => (0, text.len(), false),
        },
        Some((key, value)) => match &value.value {
            Value::Map {
                entries,
                flow: false,
            } if !entries.is_empty() => (
                indent_of(text, entries[0].0.start),
                line_end(text, value.end),
                true,
            ),
            _ if value.is_null() => {
                let end = remove_null_value(text, key, value);
                let colon = text[key.end..]
                    .find(':')
                    .map_or(key.end, |i| key.end + i + 1);
                text.replace_range(colon..end.max(colon), "");
                (indent_of(text, key.start) + 2, line_end(text, colon), true)
            }
            _ => {
                return Err(unsupported(
                    value,
                    format!(
                        "`{}` is {}; write it as a block mapping to edit it",
                        key.as_str().unwrap_or(""),
                        value.describe()
                    ),
                ));
            }
        },
    };
    let rest = &path[found.len()..];
    let mut lines: Vec<String> = rest
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let pad = " ".repeat(indent + 2 * i);
            if i + 1 == rest.len() && !as_item {
                format!("{pad}{key}: {leaf}")
            } else {
                format!("{pad}{key}:")
            }
        })
        .collect();
    if as_item {
        lines.push(format!("{}- {leaf}", " ".repeat(indent + 2 * rest.len())));
    }
    let block = lines.join("\n");
    let insert = if after_line {
        format!("\n{block}")
    } else if text.is_empty() || text.ends_with('\n') {
        format!("{block}\n")
    } else {
        format!("\n{block}\n")
    };
    text.insert_str(at, &insert);
    Ok(())
}

/// Replaces the list item at `path[index]` with `item`.
pub fn replace_item(
    text: &mut String,
    path: &[&str],
    index: usize,
    item: &str,
) -> Result<(), EditError> {
    let root = root(text)?.ok_or_else(|| EditError::Syntax {
        line: 1,
        message: "the file is empty".into(),
    })?;
    let found = walk(&root, path);
    let node = found
        .last()
        .filter(|_| found.len() == path.len())
        .and_then(|(_, list)| list.items()?.get(index))
        .ok_or_else(|| EditError::Syntax {
            line: 1,
            message: format!("no item {index} in `{}`", path.join(".")),
        })?;
    if !node.exact {
        return Err(unsupported(
            node,
            "this entry spans lines in a way that cannot be edited in place; write it on one line",
        ));
    }
    if let Value::Scalar {
        style: Style::Block,
        ..
    } = node.value
    {
        return Err(unsupported(
            node,
            "a block scalar cannot be edited in place",
        ));
    }
    text.replace_range(node.start..node.end, item);
    Ok(())
}

/// Removes the list item at `path[index]`, with its line when it has one of its own.
pub fn remove_item(text: &mut String, path: &[&str], index: usize) -> Result<(), EditError> {
    let root = root(text)?.ok_or_else(|| EditError::Syntax {
        line: 1,
        message: "the file is empty".into(),
    })?;
    let found = walk(&root, path);
    let Some((_, list)) = found.last().filter(|_| found.len() == path.len()) else {
        return Ok(());
    };
    let Some(items) = list.items() else {
        return Ok(());
    };
    let Some(node) = items.get(index) else {
        return Ok(());
    };
    if matches!(list.value, Value::Seq { flow: true, .. }) {
        let (from, to) = match (
            index.checked_sub(1).map(|i| &items[i]),
            items.get(index + 1),
        ) {
            (_, Some(next)) => (node.start, next.start),
            (Some(prev), None) => (prev.end, node.end),
            (None, None) => (node.start, node.end),
        };
        text.replace_range(from..to, "");
        return Ok(());
    }
    let start = line_start(text, node.start);
    let before = &text[start..node.start];
    if before.trim_start().trim_end() != "-" {
        return Err(unsupported(
            node,
            "the list item does not start its own line; edit it by hand",
        ));
    }
    let end = line_end(text, node.end.max(node.start));
    let end = if end < text.len() { end + 1 } else { end };
    text.replace_range(start..end, "");
    Ok(())
}
