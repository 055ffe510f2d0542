//! File names of tags. Tags are case-sensitive (`v1` and `V1` are two tags) but filesystems may
//! not be (macOS, Windows), where `_tags/V1` would overwrite `_tags/v1`. A tag is therefore
//! stored under a name without capitals: the lowercased tag, and when the tag had capitals,
//! `~` and the positions of the capitals as a hex bit mask. `~` cannot occur in a tag, so the
//! mapping is one-to-one, and two stored names never differ only by case.
//!
//! `v1` → `v1`, `V1` → `v1~1`, `Latest-RC` → `latest-rc~181` (bits 0, 7 and 8).

/// The file name of `tag` (a valid tag: at most 128 ASCII characters).
pub fn encode(tag: &str) -> String {
    let mut mask: u128 = 0;
    for (i, b) in tag.bytes().enumerate() {
        if b.is_ascii_uppercase() {
            mask |= 1 << i;
        }
    }
    let lower = tag.to_ascii_lowercase();
    if mask == 0 {
        lower
    } else {
        format!("{lower}~{mask:x}")
    }
}

/// The tag stored under file name `name`. Names written before this encoding (capitals kept
/// as they are) decode to themselves.
pub fn decode(name: &str) -> Option<String> {
    let Some((lower, mask)) = name.split_once('~') else {
        return Some(name.to_string());
    };
    let mask = u128::from_str_radix(mask, 16).ok()?;
    if lower.len() > 128 || (lower.len() < 128 && mask >> lower.len() != 0) {
        return None;
    }
    Some(
        lower
            .bytes()
            .enumerate()
            .map(|(i, b)| {
                if mask & (1 << i) != 0 {
                    b.to_ascii_uppercase() as char
                } else {
                    b as char
                }
            })
            .collect(),
    )
}

/// Whether `name` is a tag file written before the encoding, which keeps capitals.
pub fn is_legacy(name: &str) -> bool {
    !name.contains('~') && name.bytes().any(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let long = "A".repeat(128);
        for tag in ["v1", "V1", "Latest-RC", "a.B_c-D", "_X", long.as_str()] {
            let name = encode(tag);
            assert!(!name.bytes().any(|b| b.is_ascii_uppercase()), "{name}");
            assert!(name.len() <= 255, "{name}");
            assert_eq!(decode(&name).as_deref(), Some(tag));
        }
        assert_eq!(encode("Latest-RC"), "latest-rc~181");
        assert_eq!(decode("Legacy").as_deref(), Some("Legacy"));
        assert!(is_legacy("Legacy") && !is_legacy("v1") && !is_legacy("v1~1"));
        assert_eq!(decode("v1~zz"), None);
        assert_eq!(decode("v1~8"), None);
    }
}
