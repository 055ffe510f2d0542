//! Why no versions fit, in plain sentences: who pins what, which extension at which version
//! needs which range (as its manifest writes it), what is not published — and, where one
//! exists, the way out. Built from the facts at the leaves of PubGrub's derivation tree rather
//! than from its derivation steps, which read like a proof.

use std::collections::BTreeMap;
use std::fmt;

use pubgrub::{DerivationTree, External, VersionSet};
use semver::Version;
use serde::Serialize;

use super::provider::{Origin, Pkg, Provider, Wanted};
use super::versions::Versions;

/// A conflict explained.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// One sentence per fact, the workspace's own first.
    pub facts: Vec<String>,
    /// Changes that would resolve, each with its command.
    pub ways_out: Vec<WayOut>,
    /// The extensions that take part in the conflict.
    pub involved: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WayOut {
    pub text: String,
    pub command: Option<String>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "no versions of the workspace's extensions fit together:")?;
        for fact in &self.facts {
            writeln!(f, "  - {fact}")?;
        }
        if !self.ways_out.is_empty() {
            writeln!(f, "ways out:")?;
            for way in &self.ways_out {
                match &way.command {
                    Some(command) => writeln!(f, "  - {}: {command}", way.text)?,
                    None => writeln!(f, "  - {}", way.text)?,
                }
            }
        }
        Ok(())
    }
}

type Tree = DerivationTree<Pkg, Versions, String>;

/// The leaves of the derivation tree, in the order a reader meets them, without repeats.
fn leaves<'a>(tree: &'a Tree, out: &mut Vec<&'a External<Pkg, Versions, String>>) {
    match tree {
        DerivationTree::External(external) => {
            if !out.iter().any(|e| std::ptr::eq(*e, external)) {
                out.push(external);
            }
        }
        DerivationTree::Derived(derived) => {
            leaves(&derived.cause1, out);
            leaves(&derived.cause2, out);
        }
    }
}

/// `1.14.0`, `1.14.0 and 1.14.5`, `1.14.0, 1.14.5 and 1.15.0`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The published versions of `name` in `set`, oldest first.
fn versions_in(provider: &Provider, name: &str, set: &Versions) -> Vec<Version> {
    let mut found: Vec<Version> = provider
        .candidates(name)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| set.contains(v))
        .collect();
    found.sort();
    found
}

/// Sentences for the facts of a failed resolution.
pub fn explain(tree: &Tree, provider: &Provider) -> Explanation {
    let mut externals = Vec::new();
    leaves(tree, &mut externals);
    let mut root_facts: Vec<String> = Vec::new();
    let mut pins: Vec<String> = Vec::new();
    let mut facts: Vec<String> = Vec::new();
    let push = |facts: &mut Vec<String>, s: String| {
        if !facts.contains(&s) {
            facts.push(s);
        }
    };
    for external in externals {
        match external {
            External::NotRoot(..) => {}
            External::FromDependencyOf(Pkg::Root, _, Pkg::Core, _) => {
                if let Some((version, source)) = &provider.core {
                    push(
                        &mut root_facts,
                        format!("the workspace uses provisioning core {version} ({source})"),
                    );
                }
            }
            External::FromDependencyOf(Pkg::Root, _, Pkg::Ext(name), _) => {
                for root in provider.roots.iter().filter(|r| &r.name == name) {
                    match (&root.origin, &root.wanted, root.module) {
                        (Origin::Local { path, meta }, _, _) => push(
                            &mut root_facts,
                            format!(
                                "the workspace uses the local module {name} {} ({})",
                                meta.version,
                                path.display()
                            ),
                        ),
                        (_, Wanted::Exact(v), true) => pins.push(format!("{name} {v}")),
                        (_, Wanted::Range(r), true) => push(
                            &mut root_facts,
                            format!("the workspace asks for {name} {r}"),
                        ),
                        (_, wanted, false) => push(
                            &mut root_facts,
                            format!("the update holds {name} at {wanted}"),
                        ),
                    }
                }
            }
            External::FromDependencyOf(Pkg::Ext(name), set, dep, _) => {
                // Group the versions by the range they write, so the sentence quotes it.
                let mut by_range: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for version in versions_in(provider, name, set) {
                    let Ok(Some(meta)) = provider.meta(name, &version) else {
                        continue;
                    };
                    let written = match dep {
                        Pkg::Ext(d) => meta
                            .dependencies
                            .iter()
                            .find(|(n, _)| n == d)
                            .map(|(_, r)| format!("{d} {r}")),
                        Pkg::Core => meta.min_provisioning_version.as_ref().map(|m| {
                            format!("provisioning core >={m} (its min_provisioning_version)")
                        }),
                        Pkg::Root => None,
                    };
                    if let Some(written) = written {
                        by_range
                            .entry(written)
                            .or_default()
                            .push(version.to_string());
                    }
                }
                if let Pkg::Ext(d) = dep
                    && !provider.missing.borrow().contains_key(d)
                {
                    let published = provider.candidates(d).unwrap_or_default();
                    for version in versions_in(provider, name, set) {
                        let Ok(Some(meta)) = provider.meta(name, &version) else {
                            continue;
                        };
                        if let Some((_, r)) = meta.dependencies.iter().find(|(n, _)| n == d)
                            && !published.iter().any(|v| r.matches(v))
                        {
                            push(
                                &mut facts,
                                format!(
                                    "no published version of {d} is {r} (there are {})",
                                    and_list(
                                        &published
                                            .iter()
                                            .rev()
                                            .map(Version::to_string)
                                            .collect::<Vec<_>>()
                                    )
                                ),
                            );
                        }
                    }
                }
                for (written, versions) in by_range {
                    let verb = if versions.len() == 1 { "needs" } else { "need" };
                    push(
                        &mut facts,
                        format!("{name} {} {verb} {written}", and_list(&versions)),
                    );
                }
            }
            External::FromDependencyOf(Pkg::Core | Pkg::Root, ..) => {}
            External::NoVersions(Pkg::Ext(name), set) => {
                if let Some(missing) = provider.missing.borrow().get(name) {
                    push(&mut facts, missing.clone());
                    continue;
                }
                let published = provider.candidates(name).unwrap_or_default();
                let newest: Vec<String> =
                    published.iter().take(5).map(Version::to_string).collect();
                let text = match set {
                    Versions::Only(wanted) if !wanted.is_empty() => {
                        let wanted: Vec<String> = wanted.iter().map(Version::to_string).collect();
                        format!(
                            "{name} {} is not published (the newest are {})",
                            and_list(&wanted),
                            newest.join(", ")
                        )
                    }
                    _ => format!(
                        "no other version of {name} is published (there are {})",
                        and_list(
                            &published
                                .iter()
                                .rev()
                                .map(Version::to_string)
                                .collect::<Vec<_>>()
                        )
                    ),
                };
                push(&mut facts, text);
            }
            External::NoVersions(Pkg::Core, _) => {
                if let Some((version, source)) = &provider.core {
                    push(
                        &mut facts,
                        format!("the only core there is is {version}, from {source}"),
                    );
                }
            }
            External::NoVersions(Pkg::Root, _) => {}
            External::Custom(pkg, set, reason) => {
                let versions = match pkg {
                    Pkg::Ext(name) => versions_in(provider, name, set)
                        .iter()
                        .map(Version::to_string)
                        .collect(),
                    _ => Vec::new(),
                };
                push(
                    &mut facts,
                    format!("{pkg} {} cannot be used: {reason}", and_list(&versions)),
                );
            }
        }
    }
    // What collapsing may have folded away: a core that is too old, a pin or a repository
    // that is not published, a range nothing published matches.
    let packages = tree.packages();
    if packages.contains(&Pkg::Core)
        && let Some((version, source)) = &provider.core
    {
        push(
            &mut root_facts,
            format!("the workspace uses provisioning core {version} ({source})"),
        );
    }
    for pkg in &packages {
        let Pkg::Ext(name) = pkg else { continue };
        if let Some(missing) = provider.missing.borrow().get(name) {
            push(&mut facts, missing.clone());
            continue;
        }
        let published = provider.candidates(name).unwrap_or_default();
        let newest: Vec<String> = published.iter().take(5).map(Version::to_string).collect();
        for root in provider.roots.iter().filter(|r| &r.name == name) {
            if let Wanted::Exact(v) = &root.wanted
                && !published.contains(v)
            {
                push(
                    &mut facts,
                    format!(
                        "{name} {v} is not published (the newest are {})",
                        newest.join(", ")
                    ),
                );
            }
            if let Wanted::Range(r) = &root.wanted
                && !published.iter().any(|v| r.matches(v))
            {
                push(
                    &mut facts,
                    format!(
                        "no published version of {name} is {r} (the newest are {})",
                        newest.join(", ")
                    ),
                );
            }
        }
    }
    if !pins.is_empty() {
        pins.sort();
        root_facts.insert(0, format!("the workspace pins {}", and_list(&pins)));
    }
    root_facts.extend(facts);
    let mut involved: Vec<String> = packages
        .iter()
        .filter_map(|p| match p {
            Pkg::Ext(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    involved.sort();
    Explanation {
        facts: root_facts,
        ways_out: Vec::new(),
        involved,
    }
}

/// The extensions the workspace pins exactly that take part in the conflict.
pub fn pinned_in_conflict(tree: &Tree, provider: &Provider) -> Vec<(String, Version)> {
    let packages = tree.packages();
    let mut out: Vec<(String, Version)> = provider
        .roots
        .iter()
        .filter(|r| r.module && packages.contains(&Pkg::Ext(r.name.clone())))
        .filter_map(|r| match (&r.origin, &r.wanted) {
            (Origin::Registry(_), Wanted::Exact(v)) => Some((r.name.clone(), v.clone())),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// The core version the extensions in the conflict need, if the core is part of it.
pub fn core_needed(tree: &Tree, provider: &Provider) -> Option<Version> {
    let mut externals = Vec::new();
    leaves(tree, &mut externals);
    externals
        .iter()
        .filter_map(|e| match e {
            External::FromDependencyOf(Pkg::Ext(name), set, Pkg::Core, _) => {
                versions_in(provider, name, set)
                    .into_iter()
                    .filter_map(|v| provider.meta(name, &v).ok().flatten())
                    .filter_map(|m| m.min_provisioning_version.clone())
                    .min()
            }
            _ => None,
        })
        .max()
}
