//! The tree as rows, `cargo tree` style: from the modules down to what each needs, a name seen
//! before shown once more and marked `(*)` rather than expanded again; or, inverted, from one
//! extension up to every module that brings it in, each path in full.

use std::collections::BTreeSet;

use super::model::Model;

/// Rows past this are not built (a pathological inverted view).
const MAX_ROWS: usize = 5_000;

/// One node of the drawn tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeNode {
    pub name: String,
    /// Shown before: not expanded again.
    pub repeated: bool,
    /// Back to one of its own ancestors.
    pub cyclic: bool,
    pub children: Vec<TreeNode>,
}

/// A row of the tree, in drawing order (every node is open).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The names from the top of the tree to this row.
    pub path: Vec<String>,
    pub repeated: bool,
    pub cyclic: bool,
}

impl Row {
    pub fn name(&self) -> &str {
        self.path.last().map(String::as_str).unwrap_or("")
    }

    pub fn depth(&self) -> usize {
        self.path.len().saturating_sub(1)
    }
}

/// The built tree and its rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Built {
    pub nodes: Vec<TreeNode>,
    pub rows: Vec<Row>,
}

struct Builder<'a> {
    model: &'a Model,
    keep: Option<BTreeSet<String>>,
    invert: bool,
    seen: BTreeSet<String>,
    rows: Vec<Row>,
}

impl Builder<'_> {
    fn visible(&self, name: &str) -> bool {
        self.keep.as_ref().is_none_or(|k| k.contains(name))
    }

    fn node(&mut self, name: &str, path: &mut Vec<String>) -> Option<TreeNode> {
        if self.rows.len() >= MAX_ROWS {
            return None;
        }
        let cyclic = path.iter().any(|p| p == name);
        // Inverted, every path is drawn in full: that is the point of it.
        let repeated = !self.invert && !cyclic && self.seen.contains(name);
        path.push(name.to_string());
        self.rows.push(Row {
            path: path.clone(),
            repeated,
            cyclic,
        });
        let mut children = Vec::new();
        if !repeated && !cyclic {
            self.seen.insert(name.to_string());
            let next = if self.invert {
                self.model.needed_by.get(name)
            } else {
                self.model.needs.get(name)
            };
            for child in next.cloned().unwrap_or_default() {
                if !self.invert && !self.visible(&child) {
                    continue;
                }
                if let Some(node) = self.node(&child, path) {
                    children.push(node);
                }
            }
        }
        path.pop();
        Some(TreeNode {
            name: name.to_string(),
            repeated,
            cyclic,
            children,
        })
    }
}

/// The tree from the modules down, only what leads to a name containing `filter`.
pub fn forward(model: &Model, filter: &str) -> Built {
    let mut builder = Builder {
        model,
        keep: model.keep(filter),
        invert: false,
        seen: BTreeSet::new(),
        rows: Vec::new(),
    };
    let mut nodes = Vec::new();
    for root in &model.roots {
        if builder.visible(root)
            && let Some(node) = builder.node(root, &mut Vec::new())
        {
            nodes.push(node);
        }
    }
    Built {
        nodes,
        rows: builder.rows,
    }
}

/// The tree from `name` up to every module that needs it, directly or through others.
pub fn inverted(model: &Model, name: &str) -> Built {
    let mut builder = Builder {
        model,
        keep: None,
        invert: true,
        seen: BTreeSet::new(),
        rows: Vec::new(),
    };
    let nodes = builder.node(name, &mut Vec::new()).into_iter().collect();
    Built {
        nodes,
        rows: builder.rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deps::ResolveEvent;
    use crate::tui::panes::dependencies::model::Live;
    use semver::Version;

    fn model(edges: &[(&str, &str)], modules: &[&str]) -> Model {
        let mut live = Live::default();
        let mut names: Vec<&str> = edges.iter().flat_map(|(a, b)| [*a, *b]).collect();
        names.sort();
        names.dedup();
        for name in &names {
            live.apply(ResolveEvent::Chosen {
                name: name.to_string(),
                version: Version::new(1, 0, 0),
            });
        }
        for name in &names {
            live.apply(ResolveEvent::DependenciesKnown {
                name: name.to_string(),
                version: Version::new(1, 0, 0),
                dependencies: edges
                    .iter()
                    .filter(|(a, _)| a == name)
                    .map(|(_, b)| (b.to_string(), ">=1.0.0".to_string()))
                    .collect(),
            });
        }
        let modules: Vec<String> = modules.iter().map(|m| m.to_string()).collect();
        live.model(&modules)
    }

    fn shown(built: &Built) -> Vec<String> {
        built
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{}{}{}",
                    "  ".repeat(r.depth()),
                    r.name(),
                    if r.repeated { " (*)" } else { "" }
                )
            })
            .collect()
    }

    #[test]
    fn repeats_are_marked_and_filter_keeps_paths() {
        let m = model(
            &[("app", "b"), ("b", "c"), ("app", "c"), ("d", "c")],
            &["app", "d"],
        );
        assert_eq!(
            shown(&forward(&m, "")),
            ["app", "  b", "    c", "  c (*)", "d", "  c (*)"]
        );
        assert_eq!(shown(&forward(&m, "B")), ["app", "  b"]);
        assert_eq!(
            shown(&inverted(&m, "c")),
            ["c", "  app", "  b", "    app", "  d"]
        );
        let mut paths = m.paths_to("c", 10);
        paths.sort();
        assert_eq!(
            paths,
            [vec!["app", "b", "c"], vec!["app", "c"], vec!["d", "c"]]
        );
    }

    #[test]
    fn cycles_end_in_a_marked_leaf() {
        let m = model(&[("app", "a"), ("a", "b"), ("b", "a")], &["app"]);
        let built = forward(&m, "");
        assert_eq!(built.rows.len(), 4);
        assert!(built.rows[3].cyclic);
    }
}
