//! The resolved graph (petgraph): cycles with their full path, the install order (each
//! extension after what it needs), and the views `dep tree` prints — the tree from the
//! workspace or one extension, the inverted tree ("why is this here"), Graphviz and Mermaid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// One node: an extension at its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub version: String,
    /// Listed in `provisioning.yaml`.
    pub module: bool,
    /// Marked in pictures: part of a conflict or a cycle.
    pub flagged: bool,
}

/// Extensions and who needs whom (an edge goes from the one that needs to the one needed).
#[derive(Clone, Debug, Default)]
pub struct DepGraph {
    graph: DiGraph<Node, ()>,
    index: BTreeMap<String, NodeIndex>,
}

impl DepGraph {
    /// `nodes` are (name, version, module); `edges` are (from, to) by name, dangling ones ignored.
    pub fn build(nodes: &[(String, String, bool)], edges: &[(String, String)]) -> DepGraph {
        let mut graph = DiGraph::new();
        let mut index = BTreeMap::new();
        let mut sorted: Vec<&(String, String, bool)> = nodes.iter().collect();
        sorted.sort();
        for (name, version, module) in sorted {
            let i = graph.add_node(Node {
                name: name.clone(),
                version: version.clone(),
                module: *module,
                flagged: false,
            });
            index.insert(name.clone(), i);
        }
        let mut sorted_edges: Vec<&(String, String)> = edges.iter().collect();
        sorted_edges.sort();
        sorted_edges.dedup();
        for (from, to) in sorted_edges {
            if let (Some(&a), Some(&b)) = (index.get(from), index.get(to)) {
                graph.add_edge(a, b, ());
            }
        }
        DepGraph { graph, index }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.index.get(name).map(|&i| &self.graph[i])
    }

    /// Marks nodes to highlight.
    pub fn flag(&mut self, names: &[String]) {
        for name in names {
            if let Some(&i) = self.index.get(name) {
                self.graph[i].flagged = true;
            }
        }
    }

    /// What `name` needs, sorted.
    pub fn needs(&self, name: &str) -> Vec<&Node> {
        self.neighbors(name, Direction::Outgoing)
    }

    /// Who needs `name`, sorted.
    pub fn needed_by(&self, name: &str) -> Vec<&Node> {
        self.neighbors(name, Direction::Incoming)
    }

    fn neighbors(&self, name: &str, direction: Direction) -> Vec<&Node> {
        let Some(&i) = self.index.get(name) else {
            return Vec::new();
        };
        let mut out: Vec<&Node> = self
            .graph
            .neighbors_directed(i, direction)
            .map(|n| &self.graph[n])
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }

    /// A cycle as a path that ends where it starts (`a 1.0.0 → b 1.0.0 → a 1.0.0`), if any.
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        let label = |i: NodeIndex| format!("{} {}", self.graph[i].name, self.graph[i].version);
        let mut components = tarjan_scc(&self.graph);
        components.sort_by_key(|c| c.iter().map(|&i| self.graph[i].name.clone()).min());
        for component in components {
            let members: BTreeSet<NodeIndex> = component.iter().copied().collect();
            let start = *component
                .iter()
                .min_by_key(|&&i| self.graph[i].name.clone())?;
            if component.len() == 1 && !self.graph.contains_edge(start, start) {
                continue;
            }
            // Walk inside the component until a node repeats; the repeat closes the cycle.
            let mut path = vec![start];
            let mut current = start;
            loop {
                let mut next: Vec<NodeIndex> = self
                    .graph
                    .edges(current)
                    .map(|e| e.target())
                    .filter(|t| members.contains(t))
                    .collect();
                next.sort_by_key(|&i| self.graph[i].name.clone());
                let step = *next.first()?;
                if let Some(at) = path.iter().position(|&p| p == step) {
                    let mut cycle: Vec<String> = path[at..].iter().map(|&i| label(i)).collect();
                    cycle.push(label(step));
                    return Some(cycle);
                }
                path.push(step);
                current = step;
            }
        }
        None
    }

    /// Every extension after the ones it needs; `None` when there is a cycle.
    pub fn install_order(&self) -> Option<Vec<String>> {
        let order = toposort(&self.graph, None).ok()?;
        Some(
            order
                .into_iter()
                .rev()
                .map(|i| self.graph[i].name.clone())
                .collect(),
        )
    }

    /// `cargo tree`-like lines from `start` (or every module), following what each needs —
    /// or, with `invert`, who needs it. Repeats are shown once, then marked `(*)`, unless
    /// `all` is set.
    pub fn tree(&self, start: Option<&str>, invert: bool, depth: Option<usize>) -> Vec<TreeLine> {
        let roots: Vec<NodeIndex> = match start {
            Some(name) => self.index.get(name).copied().into_iter().collect(),
            None => self
                .index
                .values()
                .copied()
                .filter(|&i| self.graph[i].module)
                .collect(),
        };
        let direction = if invert {
            Direction::Incoming
        } else {
            Direction::Outgoing
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for root in roots {
            self.walk(
                root,
                direction,
                0,
                depth,
                &mut Vec::new(),
                &mut seen,
                &mut out,
            );
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        node: NodeIndex,
        direction: Direction,
        level: usize,
        depth: Option<usize>,
        ancestors: &mut Vec<NodeIndex>,
        seen: &mut BTreeSet<NodeIndex>,
        out: &mut Vec<TreeLine>,
    ) {
        let n = &self.graph[node];
        let repeated = seen.contains(&node) && level > 0;
        let cyclic = ancestors.contains(&node);
        out.push(TreeLine {
            level,
            name: n.name.clone(),
            version: n.version.clone(),
            repeated: repeated || cyclic,
            flagged: n.flagged,
        });
        if repeated || cyclic || depth.is_some_and(|d| level >= d) {
            return;
        }
        seen.insert(node);
        let mut next: Vec<NodeIndex> = self.graph.neighbors_directed(node, direction).collect();
        next.sort_by_key(|&i| self.graph[i].name.clone());
        next.dedup();
        ancestors.push(node);
        for child in next {
            self.walk(child, direction, level + 1, depth, ancestors, seen, out);
        }
        ancestors.pop();
    }

    /// Extensions more than one other extension needs (`--duplicates`: what is shared).
    pub fn shared(&self) -> Vec<(&Node, Vec<&Node>)> {
        self.index
            .keys()
            .filter_map(|name| {
                let by = self.needed_by(name);
                (by.len() > 1).then(|| (self.node(name).expect("indexed"), by))
            })
            .collect()
    }

    /// Graphviz, flagged nodes in red.
    pub fn dot(&self) -> String {
        let mut out = String::from("digraph dependencies {\n  rankdir=LR;\n  node [shape=box];\n");
        for i in self.graph.node_indices() {
            let n = &self.graph[i];
            let mut attrs = vec![format!("label=\"{} {}\"", n.name, n.version)];
            if n.module {
                attrs.push("style=bold".into());
            }
            if n.flagged {
                attrs.push("color=red, fontcolor=red".into());
            }
            let _ = writeln!(out, "  \"{}\" [{}];", n.name, attrs.join(", "));
        }
        for e in self.graph.edge_references() {
            let (a, b) = (&self.graph[e.source()], &self.graph[e.target()]);
            let red = if a.flagged && b.flagged {
                " [color=red]"
            } else {
                ""
            };
            let _ = writeln!(out, "  \"{}\" -> \"{}\"{red};", a.name, b.name);
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart for a Markdown page, flagged nodes styled red.
    pub fn mermaid(&self) -> String {
        let id = |name: &str| name.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        let mut out = String::from("```mermaid\nflowchart LR\n");
        for i in self.graph.node_indices() {
            let n = &self.graph[i];
            let _ = writeln!(out, "  {}[\"{} {}\"]", id(&n.name), n.name, n.version);
        }
        for e in self.graph.edge_references() {
            let _ = writeln!(
                out,
                "  {} --> {}",
                id(&self.graph[e.source()].name),
                id(&self.graph[e.target()].name)
            );
        }
        let flagged: Vec<String> = self
            .graph
            .node_indices()
            .filter(|&i| self.graph[i].flagged)
            .map(|i| id(&self.graph[i].name))
            .collect();
        if !flagged.is_empty() {
            out.push_str("  classDef problem stroke:#d00,stroke-width:3px,color:#d00\n");
            let _ = writeln!(out, "  class {} problem", flagged.join(","));
        }
        out.push_str("```\n");
        out
    }
}

/// One line of `dep tree`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TreeLine {
    pub level: usize,
    pub name: String,
    pub version: String,
    /// Shown before (or a cycle back to an ancestor): not expanded again.
    pub repeated: bool,
    pub flagged: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> DepGraph {
        let mut names: Vec<String> = edges
            .iter()
            .flat_map(|(a, b)| [a.to_string(), b.to_string()])
            .collect();
        names.sort();
        names.dedup();
        let nodes: Vec<(String, String, bool)> = names
            .iter()
            .map(|n| (n.clone(), "1.0.0".to_string(), n == "app"))
            .collect();
        let edges: Vec<(String, String)> = edges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        DepGraph::build(&nodes, &edges)
    }

    #[test]
    fn cycles_are_reported_with_their_path() {
        let g = graph(&[
            ("app", "cycle-a"),
            ("cycle-a", "cycle-b"),
            ("cycle-b", "cycle-a"),
        ]);
        assert_eq!(
            g.find_cycle().unwrap(),
            ["cycle-a 1.0.0", "cycle-b 1.0.0", "cycle-a 1.0.0"]
        );
        assert!(g.install_order().is_none());
        let selfloop = graph(&[("app", "app")]);
        assert_eq!(selfloop.find_cycle().unwrap(), ["app 1.0.0", "app 1.0.0"]);
    }

    #[test]
    fn install_order_puts_dependencies_first() {
        let g = graph(&[("app", "b"), ("b", "c"), ("app", "c")]);
        assert!(g.find_cycle().is_none());
        assert_eq!(g.install_order().unwrap(), ["c", "b", "app"]);
        let lines = g.tree(None, false, None);
        let shown: Vec<(usize, &str, bool)> = lines
            .iter()
            .map(|l| (l.level, l.name.as_str(), l.repeated))
            .collect();
        assert_eq!(
            shown,
            [
                (0, "app", false),
                (1, "b", false),
                (2, "c", false),
                (1, "c", true)
            ]
        );
        let why = g.tree(Some("c"), true, None);
        assert_eq!(why.len(), 4);
        assert_eq!(g.shared().len(), 1);
        assert!(g.dot().contains("\"b\" -> \"c\""));
        assert!(g.mermaid().contains("b --> c"));
    }
}
