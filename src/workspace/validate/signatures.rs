//! `signatures:` (top level): `{keys: [paths], require: true}`.

use super::*;

impl Checker<'_> {
    pub(super) fn signatures(&mut self, key: &Node, value: &Node) -> Option<SignaturePolicy> {
        let block = self.mapping(key, value, "signatures")?;
        let mut policy = SignaturePolicy::default();
        for (k, v) in block.entries().unwrap_or_default() {
            match k.as_str() {
                Some("keys") => match &v.value {
                    Value::Seq { items, .. } => {
                        for item in items {
                            if let Some(path) = self.string(item, item, "signatures.keys") {
                                policy.keys.push(expand_home(Path::new(&path)));
                            }
                        }
                    }
                    _ if v.is_null() => {}
                    _ => self.error(
                        v.pos,
                        "signatures.keys",
                        format!("`signatures.keys` must be a list, found {}", v.describe()),
                        Some("write `keys: [keys/release.pub]`: cosign public key files"),
                    ),
                },
                Some("require") => {
                    policy.require = self.boolean(k, v, "signatures.require").unwrap_or(false);
                }
                _ => {}
            }
        }
        if policy.require && policy.keys.is_empty() {
            self.error(
                key.pos,
                "signatures",
                "`signatures.require` is true but no key is listed: nothing could verify",
                Some("add `keys: [path/to/cosign.pub]` or set `require: false`"),
            );
        }
        Some(policy)
    }
}
