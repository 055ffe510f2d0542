//! What the Registry pane fetches for what is on screen, and only that: descriptions of the
//! visible repositories and tags (each asked for once, kept), the preview of the selected tag,
//! and which tags the workspace uses.

use std::str::FromStr;

use super::{Level, RegistryPane, WIDE};
use crate::extension::range::VersionRange;
use crate::oci::Reference;
use crate::oci::reference::tag_to_version;
use crate::tui::panes::{Effects, LoadState};
use crate::tui::worker::{Description, Request};

/// A description's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Described {
    /// Asked for; the row shows `…`.
    Pending,
    Found(Description),
    /// The row shows `-`; it is not asked for again until a refresh.
    Failed,
}

/// Whether the workspace uses a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// A module pins exactly this tag.
    Pinned,
    /// A module's range admits this version.
    InRange,
}

impl Usage {
    pub fn label(self) -> &'static str {
        match self {
            Usage::Pinned => "pinned",
            Usage::InRange => "in range",
        }
    }
}

/// List rows assumed visible before the first frame (a 40-row terminal).
const ROWS_BEFORE_DRAWN: usize = 34;

impl RegistryPane {
    /// Rows of the list on screen: from the last frame, or a guess before the first.
    pub fn visible_rows(&self) -> usize {
        let geometry = self.geometry.get();
        if geometry.area.height == 0 {
            ROWS_BEFORE_DRAWN
        } else {
            geometry.page() as usize
        }
    }

    /// Whether tags are shown beside a preview (also before the first frame).
    pub fn wide(&self) -> bool {
        let width = self.width.get();
        width == 0 || width >= WIDE
    }

    /// Asks for what the rows on screen need and nobody asked for yet: descriptions, and in
    /// the wide layout the selected tag's preview. Called after anything that moves or
    /// changes the list.
    pub fn follow(&mut self, fx: &mut Effects) {
        let rows = self.visible_rows();
        match self.level {
            Level::Repositories => {
                let registry = self.registry().to_string();
                let (_, window) = self.repos.window(rows);
                let wanted: Vec<Reference> = window
                    .iter()
                    .map(|(_, entry)| Reference {
                        registry: registry.clone(),
                        repository: entry.repository.clone(),
                        tag: None,
                        digest: None,
                    })
                    .collect();
                self.describe(wanted, fx);
            }
            Level::Tags => {
                let Some(base) = self.tags_of.clone() else {
                    return;
                };
                if self.tags_state != LoadState::Loaded {
                    return;
                }
                let (_, window) = self.tags.window(rows);
                let wanted: Vec<Reference> =
                    window.iter().map(|(_, t)| base.with_tag(&t.tag)).collect();
                self.describe(wanted, fx);
                if self.wide() {
                    self.preview(fx);
                }
            }
            Level::Detail => {}
        }
    }

    fn describe(&mut self, wanted: Vec<Reference>, fx: &mut Effects) {
        for reference in wanted {
            if !self.descriptions.contains_key(&reference) {
                self.descriptions
                    .insert(reference.clone(), Described::Pending);
                fx.send(Request::Describe { reference });
            }
        }
    }

    /// Fetches the selected tag's detail for the preview, unless it is the one shown. A newer
    /// selection replaces the older fetch in the worker, which waits a moment before it
    /// starts, so holding `j` fetches only where the selection stops.
    fn preview(&mut self, fx: &mut Effects) {
        let Some(reference) = self.selected_reference() else {
            return;
        };
        if self.detail_of.as_ref() == Some(&reference)
            && matches!(self.detail_state, LoadState::Loaded | LoadState::Loading)
        {
            return;
        }
        self.detail = None;
        self.detail_scroll = 0;
        self.detail_state = LoadState::Loading;
        self.detail_of = Some(reference.clone());
        fx.send(Request::Inspect { reference });
    }

    /// The description of `reference` when it is known.
    pub fn description(&self, reference: &Reference) -> Option<&Described> {
        self.descriptions.get(reference)
    }

    /// Whether the workspace uses `tag` of the repository shown.
    pub fn usage(&self, tag: &str) -> Option<Usage> {
        let name = self.tags_of.as_ref()?.name().to_string();
        let mut usage = None;
        for (module, requirement) in &self.workspace_modules {
            if *module != name {
                continue;
            }
            let requirement = requirement.trim();
            if requirement == tag || requirement.strip_prefix('=') == Some(tag) {
                return Some(Usage::Pinned);
            }
            if let (Ok(range), Some(version)) =
                (VersionRange::from_str(requirement), tag_to_version(tag))
                && range.matches(&version)
            {
                usage = Some(Usage::InRange);
            }
        }
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::ReferenceDefaults;

    fn pane(modules: &[(&str, &str)]) -> RegistryPane {
        let mut pane = RegistryPane::new(
            vec!["registry.example:5000".into()],
            ReferenceDefaults {
                registry: "registry.example:5000".into(),
                namespace: "team".into(),
            },
        );
        pane.tags_of = Some(Reference {
            registry: "registry.example:5000".into(),
            repository: "team/kubernetes".into(),
            tag: None,
            digest: None,
        });
        pane.workspace_modules = modules
            .iter()
            .map(|(n, r)| (n.to_string(), r.to_string()))
            .collect();
        pane
    }

    #[test]
    fn a_pin_marks_its_tag_and_a_range_the_versions_it_admits() {
        let pinned = pane(&[("kubernetes", "1.30.2"), ("etcd", "3.5.12")]);
        assert_eq!(pinned.usage("1.30.2"), Some(Usage::Pinned));
        assert_eq!(pinned.usage("1.30.3"), None, "a pin is exact");
        let ranged = pane(&[("kubernetes", ">=1.29.0, <1.31.0")]);
        assert_eq!(ranged.usage("1.29.3"), Some(Usage::InRange));
        assert_eq!(ranged.usage("1.31.1"), None);
        assert_eq!(ranged.usage("latest"), None, "not a version");
        assert_eq!(
            pane(&[("etcd", "*")]).usage("1.30.2"),
            None,
            "another module"
        );
    }
}
