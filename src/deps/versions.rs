//! The version sets the solver works with. Every set the resolver builds comes from a range
//! matched against the versions a registry actually lists, so a set is either those versions
//! (`Only`) or every version but some (`AllBut`, the complement PubGrub asks for). Matching is
//! left to `semver` (through [`VersionRange`]), so pre-releases are candidates only when a
//! range names one, as in Cargo.

use std::collections::BTreeSet;
use std::fmt;

use pubgrub::VersionSet;
use semver::Version;

use crate::extension::range::VersionRange;

/// A set of versions: finite, or the complement of a finite set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Versions {
    Only(BTreeSet<Version>),
    AllBut(BTreeSet<Version>),
}

impl Versions {
    /// The versions among `known` that `range` accepts.
    pub fn matching<'a>(
        range: &VersionRange,
        known: impl IntoIterator<Item = &'a Version>,
    ) -> Self {
        Versions::Only(
            known
                .into_iter()
                .filter(|v| range.matches(v))
                .cloned()
                .collect(),
        )
    }

    /// The versions of a finite set, newest first; `None` for a complement.
    pub fn listed(&self) -> Option<impl Iterator<Item = &Version>> {
        match self {
            Versions::Only(set) => Some(set.iter().rev()),
            Versions::AllBut(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Versions::Only(set) if set.is_empty())
    }
}

impl VersionSet for Versions {
    type V = Version;

    fn empty() -> Self {
        Versions::Only(BTreeSet::new())
    }

    fn singleton(v: Version) -> Self {
        Versions::Only(BTreeSet::from([v]))
    }

    fn complement(&self) -> Self {
        match self {
            Versions::Only(set) => Versions::AllBut(set.clone()),
            Versions::AllBut(set) => Versions::Only(set.clone()),
        }
    }

    fn intersection(&self, other: &Self) -> Self {
        match (self, other) {
            (Versions::Only(a), Versions::Only(b)) => {
                Versions::Only(a.intersection(b).cloned().collect())
            }
            (Versions::Only(a), Versions::AllBut(b)) | (Versions::AllBut(b), Versions::Only(a)) => {
                Versions::Only(a.difference(b).cloned().collect())
            }
            (Versions::AllBut(a), Versions::AllBut(b)) => {
                Versions::AllBut(a.union(b).cloned().collect())
            }
        }
    }

    fn contains(&self, v: &Version) -> bool {
        match self {
            Versions::Only(set) => set.contains(v),
            Versions::AllBut(set) => !set.contains(v),
        }
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |set: &BTreeSet<Version>| {
            set.iter()
                .map(Version::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Versions::Only(set) if set.is_empty() => f.write_str("no version"),
            Versions::Only(set) => f.write_str(&list(set)),
            Versions::AllBut(set) if set.is_empty() => f.write_str("any version"),
            Versions::AllBut(set) => write!(f, "any version but {}", list(set)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn a_boolean_algebra() {
        let known = [v("1.0.0"), v("1.1.0"), v("2.0.0"), v("2.1.0-rc.1")];
        let caret1 = Versions::matching(&"^1".parse().unwrap(), &known);
        let ge1 = Versions::matching(&">=1.0.0".parse().unwrap(), &known);
        assert_eq!(caret1.to_string(), "1.0.0, 1.1.0");
        // A range without a pre-release never selects one.
        assert!(!ge1.contains(&v("2.1.0-rc.1")));
        let pre = Versions::matching(&">=2.1.0-rc.1".parse().unwrap(), &known);
        assert!(pre.contains(&v("2.1.0-rc.1")));
        assert_eq!(caret1.intersection(&caret1.complement()), Versions::empty());
        assert_eq!(caret1.union(&caret1.complement()), Versions::full());
        assert!(caret1.subset_of(&ge1));
        assert_eq!(
            ge1.intersection(&caret1.complement()),
            Versions::singleton(v("2.0.0"))
        );
        assert_eq!(Versions::full().to_string(), "any version");
        assert!(Versions::full().contains(&v("9.9.9")));
    }
}
