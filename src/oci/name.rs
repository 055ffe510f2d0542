//! The distribution spec's grammar for repository names and tags.
//!
//! A name is `component(/component)*` where a component is
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`; a tag is `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
//! Because components can never be empty, `.`/`..` or start with `_`, a valid name is also a
//! safe relative path, and the `_`-prefixed directories a store keeps beside it cannot collide.

/// Why a repository name or tag is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error(
        "`{name}` is not a valid repository name: {why}; use lowercase letters and digits separated by `.`, `_`, `__`, `-` or `/`"
    )]
    Repository { name: String, why: &'static str },
    #[error(
        "`{0}` is not a valid tag: use up to 128 of `A-Z a-z 0-9 _ . -`, not starting with `.` or `-`"
    )]
    Tag(String),
}

/// Longest name accepted; the spec lets registries limit names, and 255 is what clients expect.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a repository name against the spec's grammar.
pub fn validate_repository(name: &str) -> Result<(), NameError> {
    let refuse = |why| {
        Err(NameError::Repository {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return refuse("it is longer than 255 characters");
    }
    for component in name.split('/') {
        if !valid_component(component) {
            return refuse(if component.is_empty() {
                "it has an empty path component"
            } else if component.bytes().any(|b| b.is_ascii_uppercase()) {
                "it contains uppercase letters"
            } else {
                "a path component does not match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*"
            });
        }
    }
    Ok(())
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Checks a tag against the spec's grammar.
pub fn validate_tag(tag: &str) -> Result<(), NameError> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-');
    if ok {
        Ok(())
    } else {
        Err(NameError::Tag(tag.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in [
            "a",
            "provisioning-extensions/kubernetes",
            "a.b_c__d---e/f0",
            "library/ubuntu",
            "x/y/z",
        ] {
            assert!(validate_repository(good).is_ok(), "{good} refused");
        }
        for bad in [
            "", "../x", "A/B", "a//b", "/a", "a/", "_a", "a_", "a___b", "a..b", "a/./b", "a/../b",
            "a b", "a:b", "a\\b", "a.-b",
        ] {
            assert!(validate_repository(bad).is_err(), "{bad} accepted");
        }
        assert!(validate_repository(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tags() {
        for good in ["latest", "1.28.0", "1.0.0_build.1", "_x", "V1-rc.2"] {
            assert!(validate_tag(good).is_ok(), "{good} refused");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "a+b", "..", &"a".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad} accepted");
        }
    }
}
