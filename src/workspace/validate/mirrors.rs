//! `mirrors:` (top level): `{registry: mirror}`, each a `host[:port]`; a mirror may carry a
//! scheme (`http://` for a plain-HTTP mirror). A registry is not its own mirror, a mirror is
//! not mirrored itself (no chains), and a registry has one mirror.

use super::*;

const MIRROR_HINT: &str = "write `mirrors: {\"registry.example.com:5000\": \"airgap.local:5000\"}` (an `http://` mirror for plain HTTP)";

/// The `host[:port]` part of `text`, or None when it is not one (a path, a bad port…).
fn registry_host(text: &str) -> Option<String> {
    let host = text.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return None;
    }
    match Reference::parse(&format!("{host}/probe"), &ReferenceDefaults::default()) {
        Ok(r) if r.registry == host => Some(host.to_string()),
        _ => None,
    }
}

impl Checker<'_> {
    pub(super) fn mirrors(&mut self, key: &Node, value: &Node, config: &mut WorkspaceConfig) {
        let Some(map) = self.mapping(key, value, "mirrors") else {
            return;
        };
        // (registry, position of its key, position of its mirror)
        let mut read: Vec<(Mirror, Pos, Pos)> = Vec::new();
        for (k, v) in map.entries().unwrap_or_default() {
            let name = k.as_str().unwrap_or_default().to_string();
            let field = format!("mirrors.{name}");
            let Some(registry) = registry_host(&name) else {
                self.error(
                    k.pos,
                    &field,
                    format!("`{name}` is not a registry host (host[:port], no scheme, no path)"),
                    Some(MIRROR_HINT),
                );
                continue;
            };
            let Some(text) = self.string(k, v, &field) else {
                continue;
            };
            let (host, tls) = split_endpoint(&text);
            let Some(mirror) = registry_host(&host) else {
                self.error(
                    v.pos,
                    &field,
                    format!("the mirror `{text}` is not a registry host"),
                    Some(MIRROR_HINT),
                );
                continue;
            };
            if mirror.eq_ignore_ascii_case(&registry) {
                self.error(
                    v.pos,
                    &field,
                    format!("`{registry}` is mirrored to itself"),
                    Some("name another registry as the mirror, or remove the entry"),
                );
                continue;
            }
            if let Some((_, first, _)) = read
                .iter()
                .find(|(m, _, _)| m.registry.eq_ignore_ascii_case(&registry))
            {
                let line = first.line;
                self.error(
                    k.pos,
                    &field,
                    format!("`{registry}` has a mirror already (line {line})"),
                    Some("keep one mirror for each registry"),
                );
                continue;
            }
            read.push((
                Mirror {
                    registry,
                    mirror,
                    tls_enabled: tls,
                },
                k.pos,
                v.pos,
            ));
        }
        // No chains: a mirror is where requests end.
        let mut chained = vec![false; read.len()];
        for (i, (m, _, at)) in read.iter().enumerate() {
            if let Some((next, key_pos, _)) = read
                .iter()
                .find(|(n, _, _)| n.registry.eq_ignore_ascii_case(&m.mirror))
            {
                chained[i] = true;
                self.error(
                    *at,
                    &format!("mirrors.{}", m.registry),
                    format!(
                        "the mirror `{}` is mirrored itself, to `{}` (line {}); mirrors do not chain",
                        m.mirror, next.mirror, key_pos.line
                    ),
                    Some("point the registry straight at the last mirror"),
                );
            }
        }
        config.mirrors = read
            .into_iter()
            .zip(chained)
            .filter(|(_, chained)| !chained)
            .map(|((m, _, _), _)| m)
            .collect();
    }

    /// `mirrors:` written inside a `registry:` block is not read there: say where it goes.
    pub(super) fn misplaced_mirrors(&mut self, key: &Node, field: &str) {
        self.error(
            key.pos,
            &format!("{field}.mirrors"),
            format!(
                "`mirrors:` belongs at the top level of provisioning.yaml, not under `{field}`"
            ),
            Some("move `mirrors:` to the top level, beside `dependencies:`"),
        );
    }
}

impl WorkspaceConfig {
    /// The mirror requests for `registry` go to, if any.
    pub fn mirror_for(&self, registry: &str) -> Option<&Mirror> {
        self.mirrors
            .iter()
            .find(|m| m.registry.eq_ignore_ascii_case(registry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Mirror>, Vec<String>> {
        check(Path::new("p.yaml"), text)
            .map(|(c, _)| c.mirrors)
            .map_err(|d| d.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn mirrors_read_with_their_scheme() {
        let mirrors =
            read("mirrors:\n  \"localhost:5000\": airgap.local:5000\n  ghcr.io: \"http://10.0.0.1:5000/\"\n")
                .unwrap();
        assert_eq!(
            mirrors,
            vec![
                Mirror {
                    registry: "localhost:5000".into(),
                    mirror: "airgap.local:5000".into(),
                    tls_enabled: None
                },
                Mirror {
                    registry: "ghcr.io".into(),
                    mirror: "10.0.0.1:5000".into(),
                    tls_enabled: Some(false)
                },
            ]
        );
    }

    #[test]
    fn bad_mirrors_are_positioned() {
        let errors = read("mirrors:\n  a.io: a.io\n  b.io: c.io\n  c.io: d.io\n  e.io: e.io/ns\n  \"https://f.io\": g.io\n").unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(
            errors[0].starts_with("p.yaml:2:9: error: `a.io` is mirrored to itself"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with(
                "p.yaml:3:9: error: the mirror `c.io` is mirrored itself, to `d.io` (line 4)"
            ),
            "{}",
            errors[1]
        );
        assert!(
            errors[2].starts_with("p.yaml:5:9: error: the mirror `e.io/ns` is not a registry host"),
            "{}",
            errors[2]
        );
        assert!(
            errors[3].starts_with("p.yaml:6:3: error: `https://f.io` is not a registry host"),
            "{}",
            errors[3]
        );
    }

    #[test]
    fn mirrors_under_registry_are_refused() {
        let errors = read("registry:\n  mirrors:\n    a.io: b.io\n").unwrap_err();
        assert!(
            errors[0].starts_with("p.yaml:2:3: error: `mirrors:` belongs at the top level"),
            "{errors:#?}"
        );
    }
}
