//! Helpers shared by the unit tests of the `files` modules: a temp root that shows anything
//! written outside the output directory, and raw tar headers that bypass the builder's checks.

use std::fs;
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::{FilesError, Staging, UnpackLimits, UnpackedEntry};

/// A temp root holding only `root/out`, so anything written elsewhere shows up.
pub struct Env {
    pub tmp: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("root")).unwrap();
        Env { tmp }
    }

    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    pub fn dest(&self) -> PathBuf {
        self.root().join("out")
    }

    pub fn staging(&self) -> Staging {
        Staging::new(&self.dest()).unwrap()
    }

    /// Nothing outside `dest`, nothing inside it, no leftover staging directory.
    pub fn assert_untouched(&self) {
        assert_eq!(listing(self.tmp.path()), vec!["root"]);
        let root = listing(&self.root());
        assert!(root.is_empty() || root == vec!["out"], "{root:?}");
        if self.dest().exists() {
            assert!(listing(&self.dest()).is_empty());
        }
    }
}

pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A header with raw name bytes, bypassing the builder's refusal of hostile paths.
pub fn raw_header(name: &[u8], kind: EntryType, size: u64, link: &[u8], mode: u32) -> Header {
    let mut header = Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_cksum();
    header
}

pub fn file(name: &str, data: &[u8]) -> (Header, Vec<u8>) {
    let header = raw_header(
        name.as_bytes(),
        EntryType::Regular,
        data.len() as u64,
        b"",
        0o644,
    );
    (header, data.to_vec())
}

pub fn dir(name: &str) -> (Header, Vec<u8>) {
    (
        raw_header(name.as_bytes(), EntryType::Directory, 0, b"", 0o755),
        Vec::new(),
    )
}

pub fn link(name: &str, kind: EntryType, target: &str) -> (Header, Vec<u8>) {
    let header = raw_header(name.as_bytes(), kind, 0, target.as_bytes(), 0o777);
    (header, Vec::new())
}

pub fn raw_tar(entries: &[(Header, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (header, data) in entries {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub fn unpack(env: &Env, tar: &[u8]) -> Result<Vec<UnpackedEntry>, FilesError> {
    let mut staging = env.staging();
    staging.unpack_tar("", &mut Cursor::new(tar), false, UnpackLimits::default())
}

/// Unpacks, expects a refusal, and checks that nothing is left anywhere.
pub fn refused(entries: &[(Header, Vec<u8>)]) -> FilesError {
    let env = Env::new();
    let err = unpack(&env, &raw_tar(entries)).unwrap_err();
    env.assert_untouched();
    err
}

/// A lazily produced run of zeros, so a huge stream costs no memory.
pub struct Zeros(pub u64);

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.0).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.0 -= n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}
