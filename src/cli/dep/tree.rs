//! `dep tree`: the resolved graph as `cargo tree` draws it, inverted, or as Graphviz and
//! Mermaid — a conflict or a cycle drawn over what the lock knows, marked in red.

use color_eyre::eyre::Result;

use super::super::GlobalArgs;
use super::super::exit::{Exit, coded, outln};
use super::super::output::print_structured;
use super::{DepArgs, Setup, TreeFormat, resolve_options, sync_report};
use crate::deps::ResolveEvents;
use crate::deps::graph::DepGraph;
use crate::deps::lock::{Lockfile, lock_path};
use crate::deps::resolve::ResolveError;
use crate::deps::sync::{SyncError, SyncOptions, plan_sync};
use crate::workspace::Workspace;

#[allow(clippy::too_many_arguments)]
pub(super) async fn tree(
    setup: &Setup,
    args: &DepArgs,
    offline: bool,
    name: Option<String>,
    invert: Option<String>,
    depth: Option<usize>,
    duplicates: bool,
    format: TreeFormat,
    global: &GlobalArgs,
) -> Result<()> {
    let mut options = SyncOptions::new(resolve_options(
        setup,
        args,
        offline,
        ResolveEvents::silent(),
    ));
    options.dry_run = true;
    let (graph, failure) = match plan_sync(&setup.workspace, &options).await {
        Ok(outcome) => (outcome.resolution.graph, None),
        Err(SyncError::Resolve(ResolveError::Cycle(path))) => {
            // Draw what the lock knows, with the cycle marked.
            let names: Vec<String> = path
                .iter()
                .map(|p| p.split(' ').next().unwrap_or(p).to_string())
                .collect();
            let graph = lock_graph(&setup.workspace, &names, true);
            (
                graph,
                Some(sync_report(SyncError::Resolve(ResolveError::Cycle(path)))),
            )
        }
        Err(SyncError::Resolve(ResolveError::Conflict(explanation))) => {
            // Draw what the lock knows, with the extensions of the conflict marked.
            let graph = lock_graph(&setup.workspace, &explanation.involved, false);
            (
                graph,
                Some(sync_report(SyncError::Resolve(ResolveError::Conflict(
                    explanation,
                )))),
            )
        }
        Err(e) => return Err(sync_report(e)),
    };
    let start = invert.as_deref().or(name.as_deref());
    if let Some(start) = start
        && !graph.contains(start)
    {
        return Err(coded(
            Exit::NotFound,
            format!("{start} is not in the resolved graph"),
        ));
    }
    match format {
        TreeFormat::Dot => outln!("{}", graph.dot().trim_end()),
        TreeFormat::Mermaid => outln!("{}", graph.mermaid().trim_end()),
        TreeFormat::Text if duplicates => {
            let shared = graph.shared();
            if !print_structured(
                global.output,
                &shared
                    .iter()
                    .map(|(n, by)| serde_json::json!({"name": n.name, "version": n.version, "needed_by": by.iter().map(|b| &b.name).collect::<Vec<_>>()}))
                    .collect::<Vec<_>>(),
            )? {
                for (node, by) in shared {
                    outln!(
                        "{} {} (needed by {})",
                        node.name,
                        node.version,
                        by.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
                    );
                }
            }
        }
        TreeFormat::Text => {
            let lines = graph.tree(start, invert.is_some(), depth);
            if !print_structured(global.output, &lines)? {
                for text in draw_tree(&lines) {
                    outln!("{text}");
                }
            }
        }
    }
    match failure {
        Some(report) => Err(report),
        None => Ok(()),
    }
}

/// `cargo tree`'s drawing: `├──` before a child with siblings after it, `└──` before the
/// last, `│` continuing a parent's line.
fn draw_tree(lines: &[crate::deps::graph::TreeLine]) -> Vec<String> {
    let mut out = Vec::new();
    // Whether each open ancestor level is drawn as its parent's last child.
    let mut last_at: Vec<bool> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let last = lines[i + 1..]
            .iter()
            .find(|l| l.level <= line.level)
            .is_none_or(|l| l.level < line.level);
        last_at.truncate(line.level);
        let mut text = String::new();
        if line.level > 0 {
            for &ancestor_last in last_at.iter().skip(1) {
                text.push_str(if ancestor_last { "    " } else { "│   " });
            }
            text.push_str(if last { "└── " } else { "├── " });
        }
        text.push_str(&format!(
            "{} {}{}",
            line.name,
            line.version,
            if line.repeated { " (*)" } else { "" }
        ));
        out.push(text);
        last_at.push(last);
    }
    out
}

/// The graph the lock describes, `flagged` marked (and, for a cycle's `path`, its edges).
fn lock_graph(workspace: &Workspace, flagged: &[String], path: bool) -> DepGraph {
    let lock = Lockfile::read(&lock_path(workspace)).ok().flatten();
    let modules: Vec<&str> = workspace
        .config
        .modules
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let mut nodes: Vec<(String, String, bool)> = lock
        .iter()
        .flat_map(|l| l.extensions.iter())
        .map(|e| {
            (
                e.name.clone(),
                e.version.to_string(),
                modules.contains(&e.name.as_str()),
            )
        })
        .collect();
    let mut edges: Vec<(String, String)> = lock
        .iter()
        .flat_map(|l| l.extensions.iter())
        .flat_map(|e| e.dependencies.iter().map(|d| (e.name.clone(), d.clone())))
        .collect();
    for pair in flagged.windows(2).filter(|_| path) {
        for n in pair {
            if !nodes.iter().any(|x| &x.0 == n) {
                nodes.push((n.clone(), String::new(), modules.contains(&n.as_str())));
            }
        }
        edges.push((pair[0].clone(), pair[1].clone()));
    }
    let mut graph = DepGraph::build(&nodes, &edges);
    graph.flag(flagged);
    graph
}
