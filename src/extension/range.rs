//! Dependency version ranges as extension authors write them in `manifest.yaml`.
//!
//! Authors come from npm, Helm and Cargo, so the common spellings of all three are accepted and
//! translated into `semver::VersionReq`s (one per `||` alternative), whose matching rules —
//! including pre-release handling — then apply unchanged:
//!
//! | written | means |
//! | --- | --- |
//! | `>=1.7.0`, `<2`, `>1.2`, `<=1.4`, `=1.2.3` | a comparison; missing parts are filled the semver way (`<=1.4` is `<1.5.0`) |
//! | `^1.2`, `~1.2.3` | caret / tilde ranges |
//! | `1.2.x`, `1.2.*`, `1.2`, `1` | any version with that prefix |
//! | `*`, `x` | any release version |
//! | `1.2.3` | exactly 1.2.3 (npm and Helm semantics, not Cargo's `^`) |
//! | `>=1.0, <2.0` or `>=1.0 <2.0` | all comparators must hold |
//! | `1.2 - 2.3.4` | inclusive: `>=1.2.0, <=2.3.4`; a partial upper bound covers its prefix (`- 2.3` is `<2.4.0`) |
//! | `A || B` | either alternative |
//!
//! A pre-release version only matches when a comparator names the same `major.minor.patch`
//! with a pre-release, as in semver and npm.

use std::fmt;
use std::str::FromStr;

use semver::{Comparator, Op, Prerelease, Version, VersionReq};

/// Forms listed in every error, so a refused range shows what would have worked.
pub const ACCEPTED_FORMS: &str = "`>=1.7.0`, `^1.2`, `~1.2.3`, `1.2.x`, `*`, `1.2.3` (exact), `>=1.0, <2.0`, `>=1.0 <2.0`, `1.0 - 2.0`, `A || B`";

/// A dependency version range: one or more alternatives, each a conjunction of comparators.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionRange {
    alternatives: Vec<VersionReq>,
}

/// Why a range was refused: the offending part and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version range `{input}`: {reason}; accepted forms: {ACCEPTED_FORMS}")]
pub struct RangeError {
    input: String,
    part: String,
    reason: String,
}

impl RangeError {
    fn new(input: &str, part: &str, reason: impl Into<String>) -> Self {
        RangeError {
            input: input.to_string(),
            part: part.to_string(),
            reason: reason.into(),
        }
    }

    /// The whole range as written.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The part of the range that is wrong (a comparator, a version or an alternative).
    pub fn part(&self) -> &str {
        &self.part
    }

    /// What is wrong, without the list of accepted forms.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl VersionRange {
    /// Any release version (`*`).
    pub fn any() -> Self {
        VersionRange {
            alternatives: vec![VersionReq::STAR],
        }
    }

    /// Exactly this version.
    pub fn exact(v: &Version) -> Self {
        VersionRange {
            alternatives: vec![VersionReq {
                comparators: vec![Comparator {
                    op: Op::Exact,
                    major: v.major,
                    minor: Some(v.minor),
                    patch: Some(v.patch),
                    pre: v.pre.clone(),
                }],
            }],
        }
    }

    /// Whether `v` satisfies any alternative.
    pub fn matches(&self, v: &Version) -> bool {
        self.alternatives.iter().any(|req| req.matches(v))
    }

    /// The alternatives (joined by `||`), each a semver requirement whose comparators all hold.
    pub fn alternatives(&self) -> &[VersionReq] {
        &self.alternatives
    }

    /// The alternatives as owned requirements, for code that works on bounds.
    pub fn to_semver_reqs(&self) -> Vec<VersionReq> {
        self.alternatives.clone()
    }

    /// Consumes the range into its alternatives.
    pub fn into_semver_reqs(self) -> Vec<VersionReq> {
        self.alternatives
    }
}

impl From<VersionReq> for VersionRange {
    fn from(req: VersionReq) -> Self {
        VersionRange {
            alternatives: vec![req],
        }
    }
}

impl fmt::Display for VersionRange {
    /// The normalised form: semver comparators joined by `, `, alternatives by ` || `.
    /// Parsing it again gives the same range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, req) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" || ")?;
            }
            write!(f, "{req}")?;
        }
        Ok(())
    }
}

impl FromStr for VersionRange {
    type Err = RangeError;

    fn from_str(input: &str) -> Result<Self, RangeError> {
        if input.trim().is_empty() {
            return Err(RangeError::new(input, input, "it is empty"));
        }
        let mut alternatives = Vec::new();
        for alt in input.split("||") {
            let alt = alt.trim();
            if alt.is_empty() {
                return Err(RangeError::new(
                    input,
                    "||",
                    "`||` needs a range on both sides",
                ));
            }
            alternatives.push(parse_alternative(input, alt)?);
        }
        Ok(VersionRange { alternatives })
    }
}

impl serde::Serialize for VersionRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for VersionRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Spellings that parse but may not mean what their author expects, each with a suggestion:
/// a bare full version (`1.2.3`) is an exact pin here, as in npm and Helm, while Cargo users
/// read it as `^1.2.3`; `~>` (Ruby, Terraform) is read as `~`, which for `~>1.2` allows only
/// 1.2.x where Ruby allows anything below 2.0.
pub fn warnings(input: &str) -> Vec<String> {
    let mut out = Vec::new();
    for alt in input.split("||") {
        if alt.split_whitespace().any(|t| t == "-") {
            continue;
        }
        for piece in alt.split(',') {
            let mut words = piece.split_whitespace().peekable();
            while let Some(word) = words.next() {
                let text = if word.chars().all(is_op_char) {
                    match words.next() {
                        Some(next) => format!("{word}{next}"),
                        None => continue,
                    }
                } else {
                    word.to_string()
                };
                let op_len = text.find(|c: char| !is_op_char(c)).unwrap_or(text.len());
                let (op, version) = text.split_at(op_len);
                if op == "~>" {
                    out.push(format!(
                        "`{text}` is read as `~{version}` (only that minor version's patches); for Ruby's meaning write `>={version}, <NEXT` with the bound you want"
                    ));
                } else if op.is_empty() && is_full_version(version) {
                    out.push(format!(
                        "`{text}` means exactly {version} (as in npm and Helm, not Cargo's `^`); write `={version}` to pin it, or `^{version}` for compatible updates"
                    ));
                }
            }
        }
    }
    out
}

/// `1.2.3` (optionally `v`-prefixed or with a pre-release): all three parts are numbers.
fn is_full_version(text: &str) -> bool {
    let body = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let core = body.split_once('-').map_or(body, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// One `||` alternative: a hyphen range, or comparators separated by commas and/or spaces.
fn parse_alternative(input: &str, alt: &str) -> Result<VersionReq, RangeError> {
    let tokens: Vec<&str> = alt.split_whitespace().collect();
    if tokens.contains(&"-") {
        return parse_hyphen(input, alt, &tokens);
    }
    let mut comparators = Vec::new();
    for piece in alt.split(',') {
        let piece = piece.trim();
        if piece.is_empty() {
            return Err(RangeError::new(
                input,
                alt,
                "a `,` needs a comparator on both sides",
            ));
        }
        // Join an operator written apart from its version (`>= 1.0`) back to it.
        let mut words = piece.split_whitespace().peekable();
        while let Some(word) = words.next() {
            let text = if word.chars().all(is_op_char) {
                match words.next() {
                    Some(next) => format!("{word}{next}"),
                    None => {
                        return Err(RangeError::new(
                            input,
                            word,
                            format!("operator `{word}` is not followed by a version"),
                        ));
                    }
                }
            } else {
                word.to_string()
            };
            if let Some(c) = parse_comparator(input, &text)? {
                comparators.push(c);
            }
        }
    }
    Ok(VersionReq { comparators })
}

fn is_op_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '^' | '~' | '!')
}

/// `A - B`: inclusive on both ends; missing parts of A are zeros, of B are "any".
fn parse_hyphen(input: &str, alt: &str, tokens: &[&str]) -> Result<VersionReq, RangeError> {
    let [low, "-", high] = tokens else {
        return Err(RangeError::new(
            input,
            alt,
            "a hyphen range is `LOW - HIGH`, with a version on both sides of ` - `",
        ));
    };
    let low_p = parse_partial(input, low)?;
    let high_p = parse_partial(input, high)?;
    if low_p.major.is_none() || high_p.major.is_none() {
        return Err(RangeError::new(
            input,
            alt,
            "both ends of a hyphen range must be versions, not `*`",
        ));
    }
    let lower = Comparator {
        op: Op::GreaterEq,
        major: low_p.major.unwrap_or(0),
        minor: Some(low_p.minor.unwrap_or(0)),
        patch: Some(low_p.patch.unwrap_or(0)),
        pre: low_p.pre,
    };
    // semver reads `<=2.3` as "below 2.4.0", which is exactly npm's `- 2.3`.
    let upper = Comparator {
        op: Op::LessEq,
        major: high_p.major.unwrap_or(0),
        minor: high_p.minor,
        patch: high_p.patch,
        pre: high_p.pre,
    };
    Ok(VersionReq {
        comparators: vec![lower, upper],
    })
}

/// One comparator such as `>=1.7`, `^1.2`, `1.2.x` or `*`; `*` yields nothing to check.
fn parse_comparator(input: &str, text: &str) -> Result<Option<Comparator>, RangeError> {
    let op_len = text.find(|c: char| !is_op_char(c)).unwrap_or(text.len());
    let (op_text, rest) = text.split_at(op_len);
    let op = match op_text {
        "" => None,
        "=" | "==" => Some(Op::Exact),
        ">" => Some(Op::Greater),
        ">=" => Some(Op::GreaterEq),
        "<" => Some(Op::Less),
        "<=" => Some(Op::LessEq),
        "~" | "~>" => Some(Op::Tilde),
        "^" => Some(Op::Caret),
        other => {
            return Err(RangeError::new(
                input,
                text,
                format!("unknown operator `{other}` (use one of >=, >, <=, <, =, ^, ~)"),
            ));
        }
    };
    if rest.is_empty() {
        return Err(RangeError::new(
            input,
            text,
            format!("operator `{op_text}` is not followed by a version"),
        ));
    }
    let p = parse_partial(input, rest)?;
    let Some(major) = p.major else {
        return match op {
            None => Ok(None),
            Some(_) => Err(RangeError::new(
                input,
                text,
                "a wildcard cannot follow an operator; write `*` alone",
            )),
        };
    };
    let op = match op {
        Some(op) => op,
        // A bare full version is an exact pin; a bare partial one is a prefix wildcard.
        None if p.patch.is_some() => Op::Exact,
        None => Op::Wildcard,
    };
    Ok(Some(Comparator {
        op,
        major,
        minor: p.minor,
        patch: p.patch,
        pre: p.pre,
    }))
}

/// A version with possibly missing or wildcard (`x`, `X`, `*`) trailing parts.
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Prerelease,
}

fn parse_partial(input: &str, text: &str) -> Result<Partial, RangeError> {
    let err = |reason: String| RangeError::new(input, text, reason);
    let body = text
        .strip_prefix(['v', 'V'])
        .filter(|b| b.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(text);
    if body.contains('+') {
        return Err(err(format!(
            "`{text}` has build metadata (`+…`), which ranges cannot compare; remove it"
        )));
    }
    let (core, pre) = match body.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (body, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 {
        return Err(err(format!(
            "`{text}` has more than three parts; a version is MAJOR.MINOR.PATCH"
        )));
    }
    let mut nums: [Option<u64>; 3] = [None; 3];
    let mut wild = false;
    for (i, part) in parts.iter().enumerate() {
        if matches!(*part, "x" | "X" | "*") {
            wild = true;
            continue;
        }
        if wild {
            return Err(err(format!(
                "`{text}` has a number after a wildcard; only trailing parts can be `x` or `*`"
            )));
        }
        nums[i] = Some(parse_number(part).map_err(&err)?);
    }
    let pre = match pre {
        None => Prerelease::EMPTY,
        Some("") => return Err(err(format!("`{text}` ends with `-` but no pre-release"))),
        Some(_) if nums[2].is_none() => {
            return Err(err(format!(
                "`{text}` has a pre-release but not all three version parts"
            )));
        }
        Some(p) => Prerelease::new(p)
            .map_err(|e| err(format!("`{text}` has an invalid pre-release `{p}`: {e}")))?,
    };
    Ok(Partial {
        major: nums[0],
        minor: nums[1],
        patch: nums[2],
        pre,
    })
}

fn parse_number(part: &str) -> Result<u64, String> {
    if part.is_empty() {
        return Err("a version part is empty".to_string());
    }
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{part}` is not a number"));
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err(format!("`{part}` has a leading zero"));
    }
    part.parse()
        .map_err(|_| format!("`{part}` is too large for a version number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> VersionRange {
        match s.parse::<VersionRange>() {
            Ok(r) => r,
            Err(e) => panic!("{s:?} refused: {e}"),
        }
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn check(range: &str, yes: &[&str], no: &[&str]) {
        let parsed = r(range);
        for y in yes {
            assert!(parsed.matches(&v(y)), "{range} ({parsed}) should match {y}");
        }
        for n in no {
            assert!(
                !parsed.matches(&v(n)),
                "{range} ({parsed}) should not match {n}"
            );
        }
        // The normalised form reads back as the same range.
        assert_eq!(r(&parsed.to_string()), parsed, "{range} round trip");
    }

    #[test]
    fn greater_eq() {
        check(
            ">=1.7.0",
            &["1.7.0", "1.7.1", "2.0.0"],
            &["1.6.9", "1.7.0-rc.1"],
        );
        assert_eq!(r(">=1.7.0").to_string(), ">=1.7.0");
        check(">= 1.7.0", &["1.7.0"], &["1.6.0"]);
    }

    #[test]
    fn partial_after_operator() {
        check(">=1.7", &["1.7.0", "3.0.0"], &["1.6.99"]);
        check("<2", &["1.99.99", "0.1.0"], &["2.0.0", "2.0.1"]);
        check(">1.2", &["1.3.0"], &["1.2.9"]);
        check("<=1.4", &["1.4.9"], &["1.5.0"]);
        check("=1.2", &["1.2.0", "1.2.7"], &["1.3.0"]);
    }

    #[test]
    fn caret_and_tilde() {
        check("^1.2", &["1.2.0", "1.9.0"], &["2.0.0", "1.1.9"]);
        check("^3.5", &["3.5.0", "3.5.12", "3.9.0"], &["3.4.0", "4.0.0"]);
        check("^0.12", &["0.12.0", "0.12.9"], &["0.13.0"]);
        check("~1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]);
        check("~1.1", &["1.1.0", "1.1.5"], &["1.0.0", "1.2.0"]);
    }

    #[test]
    fn wildcards() {
        for w in ["1.2.x", "1.2.*", "1.2.X", "1.2"] {
            check(w, &["1.2.0", "1.2.99"], &["1.3.0", "1.1.0"]);
            assert_eq!(r(w).to_string(), "1.2.*");
        }
        check("1.x", &["1.0.0", "1.9.9"], &["2.0.0"]);
        check(">=1.2.x", &["1.2.0"], &["1.1.9"]);
        for star in ["*", "x", "X"] {
            check(star, &["0.0.1", "99.0.0"], &["1.0.0-alpha"]);
            assert_eq!(r(star).to_string(), "*");
        }
    }

    #[test]
    fn bare_full_version_is_exact() {
        check("1.2.3", &["1.2.3"], &["1.2.4", "1.3.0"]);
        assert_eq!(r("1.2.3").to_string(), "=1.2.3");
        check("v1.2.3", &["1.2.3"], &["1.2.4"]);
        check("1.2.3-rc.1", &["1.2.3-rc.1"], &["1.2.3"]);
    }

    #[test]
    fn conjunctions() {
        for s in [">=1.0, <2.0", ">=1.0 <2.0", ">=1.0,<2.0", ">= 1.0, < 2.0"] {
            check(s, &["1.0.0", "1.9.9"], &["0.9.9", "2.0.0"]);
            assert_eq!(r(s).to_string(), ">=1.0, <2.0");
        }
        check(
            ">=1.26.0, <1.30.0",
            &["1.26.0", "1.28.0", "1.29.3"],
            &["1.25.9", "1.30.0", "1.31.1"],
        );
    }

    #[test]
    fn hyphen() {
        check(
            "1.0 - 2.0",
            &["1.0.0", "2.0.0", "2.0.9"],
            &["0.9.9", "2.1.0"],
        );
        assert_eq!(r("1.0 - 2.0").to_string(), ">=1.0.0, <=2.0");
        check("1.2.3 - 2.3", &["1.2.3", "2.3.9"], &["1.2.2", "2.4.0"]);
        check("1.2 - 2.3.4", &["1.2.0", "2.3.4"], &["1.1.9", "2.3.5"]);
        check("1 - 2", &["1.0.0", "2.9.9"], &["3.0.0", "0.9.0"]);
    }

    #[test]
    fn alternatives() {
        let range = r("^1.2 || >=3.0.0, <3.5 || 5.x");
        assert_eq!(range.alternatives().len(), 3);
        assert_eq!(range.to_semver_reqs().len(), 3);
        check(
            "^1.2 || >=3.0.0, <3.5 || 5.x",
            &["1.3.0", "3.4.0", "5.1.0"],
            &["2.0.0", "3.5.0", "6.0.0"],
        );
        assert_eq!(range.to_string(), "^1.2 || >=3.0.0, <3.5 || 5.*");
    }

    #[test]
    fn prereleases_follow_semver() {
        check(
            ">=1.2.3-alpha",
            &["1.2.3-alpha", "1.2.3-beta", "1.2.3", "1.3.0"],
            &["1.3.0-alpha", "1.2.3-0"],
        );
        check("^1.2", &["1.2.0"], &["1.2.1-rc.1"]);
    }

    #[test]
    fn serde_as_string() {
        let range = r(">=1.0 <2.0");
        let json = serde_json::to_string(&range).unwrap();
        assert_eq!(json, "\">=1.0, <2.0\"");
        let back: VersionRange = serde_json::from_str(&json).unwrap();
        assert_eq!(back, range);
        assert!(serde_json::from_str::<VersionRange>("\">>1\"").is_err());
    }

    #[test]
    fn constructors() {
        assert!(VersionRange::any().matches(&v("7.0.0")));
        let exact = VersionRange::exact(&v("1.2.3-rc.1"));
        assert!(exact.matches(&v("1.2.3-rc.1")));
        assert!(!exact.matches(&v("1.2.3")));
        assert_eq!(exact.to_string(), "=1.2.3-rc.1");
    }

    #[test]
    fn refusals() {
        for (bad, part) in [
            ("", ""),
            ("   ", "   "),
            (">=", ">="),
            ("1.2.3.4", "1.2.3.4"),
            (">>1", ">>1"),
            ("1 - ", "1 -"),
            (" - 2", "- 2"),
            ("||", "||"),
            ("^1 ||", "||"),
            ("1 - 2 - 3", "1 - 2 - 3"),
            (">=1,,<2", ">=1,,<2"),
            ("abc", "abc"),
            ("1.x.3", "1.x.3"),
            ("1.2-rc.1", "1.2-rc.1"),
            ("01.2.3", "01.2.3"),
            ("1.2.3+build", "1.2.3+build"),
            (">=*", ">=*"),
            ("* - 2", "* - 2"),
            ("1..2", "1..2"),
            ("99999999999999999999", "99999999999999999999"),
            ("!=1.0", "!=1.0"),
            ("1.2.3-", "1.2.3-"),
        ] {
            match bad.parse::<VersionRange>() {
                Ok(r) => panic!("{bad:?} accepted as {r}"),
                Err(e) => {
                    assert_eq!(e.part(), part, "{bad:?}: {e}");
                    assert_eq!(e.input(), bad);
                    assert!(e.to_string().contains("accepted forms"), "{e}");
                    assert!(!e.reason().is_empty());
                }
            }
        }
        let e = ">>1".parse::<VersionRange>().unwrap_err();
        assert!(e.reason().contains("unknown operator `>>`"), "{e}");
        let e = "1.2.3.4".parse::<VersionRange>().unwrap_err();
        assert!(e.reason().contains("more than three parts"), "{e}");
    }

    #[test]
    fn bare_versions_and_ruby_tilde_are_warned_about() {
        let w = warnings("1.2.3");
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("means exactly 1.2.3") && w[0].contains("`^1.2.3`"),
            "{w:?}"
        );
        assert_eq!(warnings("v1.2.3-rc.1 || >=2.0").len(), 1);
        let w = warnings("~> 1.2");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("`~>1.2` is read as `~1.2`"), "{w:?}");
        for quiet in [
            "=1.2.3",
            "^1.2.3",
            "~1.2.3",
            ">=1.2.3",
            "1.2",
            "1.2.x",
            "*",
            "1.0 - 2.0",
            ">=1.0, <2.0",
        ] {
            assert!(warnings(quiet).is_empty(), "{quiet}: {:?}", warnings(quiet));
        }
        // Both still mean what the table says.
        let exact: VersionRange = "1.2.3".parse().unwrap();
        assert!(exact.matches(&Version::new(1, 2, 3)) && !exact.matches(&Version::new(1, 2, 4)));
    }
}
