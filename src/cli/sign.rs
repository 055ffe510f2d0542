//! `oci keygen`, `oci sign` and `oci verify`: cosign-compatible signatures with key pairs
//! (`crate::oci::sign` does the work), and the signature lines of `oci inspect`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use color_eyre::eyre::{Result, WrapErr};
use serde::Serialize;

use super::GlobalArgs;
use super::context::OciContext;
use super::exit::{Exit, coded, outln, usage};
use super::output::{print_fields, print_structured};
use super::prompt;
use crate::oci::sign::{self, Signer, Verifier};
use crate::oci::{Digest, Reference};

/// The environment variable holding the private key's password.
pub const PASSWORD_ENV: &str = "PROVISIONING_SIGNING_PASSWORD";

#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Write a cosign key pair: the private key encrypted with a password
    /// (PROVISIONING_SIGNING_PASSWORD, else asked for) and the PEM public key.
    Keygen {
        /// The private key file (written 0600).
        #[arg(long, value_name = "FILE", default_value = "cosign.key")]
        output_key: PathBuf,
        /// The public key file.
        #[arg(long, value_name = "FILE", default_value = "cosign.pub")]
        output_pub: PathBuf,
    },
    /// Sign an artifact's manifest digest as cosign does (the `sha256-<hex>.sig` tag beside it).
    Sign {
        reference: String,
        /// The cosign private key (password from PROVISIONING_SIGNING_PASSWORD, else asked for).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Check an artifact's cosign signatures against a public key: exit 0 when one verifies,
    /// 4 when there is none, 1 when none verifies.
    Verify {
        reference: String,
        /// The PEM public key.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
}

pub async fn run(ctx: &OciContext, command: SignCommand, global: &GlobalArgs) -> Result<()> {
    match command {
        SignCommand::Keygen {
            output_key,
            output_pub,
        } => keygen(&output_key, &output_pub, global),
        SignCommand::Sign { reference, key } => sign_command(ctx, &reference, &key, global).await,
        SignCommand::Verify { reference, key } => verify(ctx, &reference, &key, global).await,
    }
}

/// The password: the environment variable, else asked on the terminal (twice when `confirm`).
fn password(confirm: bool) -> Result<String> {
    if let Some(value) = std::env::var_os(PASSWORD_ENV) {
        return value
            .into_string()
            .map_err(|_| usage(format!("{PASSWORD_ENV} is not valid UTF-8")));
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "no terminal to ask for the key's password on; set {PASSWORD_ENV}"
        )));
    }
    let first = prompt::ask_secret("Password for the private key: ")?;
    if confirm && prompt::ask_secret("Again: ")? != first {
        return Err(usage("the passwords differ; nothing was written"));
    }
    Ok(first)
}

fn keygen(output_key: &Path, output_pub: &Path, global: &GlobalArgs) -> Result<()> {
    for path in [output_key, output_pub] {
        if path.exists() {
            return Err(coded(
                Exit::Conflict,
                format!(
                    "{} exists; refusing to overwrite a key: move it away or pick another --output-key/--output-pub",
                    path.display()
                ),
            ));
        }
    }
    let password = password(true)?;
    let (private, public) = sign::generate_key_pair(password.as_bytes())?;
    write_new(output_key, private.as_bytes(), 0o600)?;
    if let Err(e) = write_new(output_pub, public.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(output_key);
        return Err(e);
    }
    #[derive(Serialize)]
    struct Written<'a> {
        private_key: &'a Path,
        public_key: &'a Path,
    }
    let written = Written {
        private_key: output_key,
        public_key: output_pub,
    };
    if !print_structured(global.output, &written)? && !global.quiet {
        outln!(
            "Private key written to {} (keep it secret)\nPublic key written to {}",
            output_key.display(),
            output_pub.display()
        );
    }
    Ok(())
}

/// Creates `path` with `mode`, refusing one that appeared meanwhile.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .wrap_err_with(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

/// Reads and opens a cosign private key.
pub fn load_signer(path: &Path) -> Result<Signer> {
    let pem = std::fs::read(path)
        .wrap_err_with(|| format!("cannot read the private key {}", path.display()))?;
    let password = password(false)?;
    Signer::from_encrypted_pem(&pem, password.as_bytes())
        .wrap_err_with(|| format!("{} cannot sign", path.display()))
}

/// Reads a PEM public key.
pub fn load_verifier(path: &Path) -> Result<Verifier> {
    let pem = std::fs::read(path)
        .wrap_err_with(|| format!("cannot read the public key {}", path.display()))?;
    Verifier::from_pem(&pem).wrap_err_with(|| format!("{}", path.display()))
}

/// The manifest digest a reference names (a digest as given, a tag as the registry has it).
async fn resolve(ctx: &OciContext, reference: &Reference) -> Result<Digest> {
    if let Some(digest) = &reference.digest {
        return Ok(digest.clone());
    }
    let tag = reference.tag.as_deref().unwrap_or("latest");
    let client = ctx.registries.client(&reference.registry);
    client
        .manifest_digest(&reference.repository, tag)
        .await?
        .ok_or_else(|| coded(Exit::NotFound, format!("{} not found", reference.target())))
}

/// Signs the artifact `reference` names; used by `oci sign` and `oci publish --sign`.
pub async fn sign_reference(
    ctx: &OciContext,
    reference: &Reference,
    signer: &Signer,
) -> Result<sign::SignatureOutcome> {
    let digest = resolve(ctx, reference).await?;
    let client = ctx.registries.client(&reference.registry);
    sign::sign_manifest(&client, &reference.repository, &digest, signer)
        .await
        .wrap_err_with(|| format!("cannot sign {}", reference.target()))
}

async fn sign_command(
    ctx: &OciContext,
    reference: &str,
    key: &Path,
    global: &GlobalArgs,
) -> Result<()> {
    let reference = ctx.reference(reference)?;
    let signer = load_signer(key)?;
    let outcome = sign_reference(ctx, &reference, &signer).await?;
    if !print_structured(global.output, &outcome)? && !global.quiet {
        let what = if outcome.unchanged {
            "already signed with this key"
        } else {
            "signed"
        };
        outln!(
            "{} {what}: {}:{} ({} signature{})",
            reference.target(),
            reference.repository,
            outcome.tag,
            outcome.count,
            if outcome.count == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct Verified {
    reference: String,
    digest: Digest,
    key: PathBuf,
    signatures: usize,
    verified: usize,
}

async fn verify(ctx: &OciContext, reference: &str, key: &Path, global: &GlobalArgs) -> Result<()> {
    let reference = ctx.reference(reference)?;
    let verifier = load_verifier(key)?;
    let digest = resolve(ctx, &reference).await?;
    let client = ctx.registries.client(&reference.registry);
    let layers = sign::fetch_signatures(&client, &reference.repository, &digest).await?;
    let target = reference.target();
    if layers.is_empty() {
        return Err(coded(
            Exit::NotFound,
            format!(
                "{target} ({digest}) is not signed: no {} in {}; sign it with `oci sign {target} --key KEY`",
                sign::signature_tag(&digest),
                reference.repository
            ),
        ));
    }
    let verdict = sign::judge(&layers, std::slice::from_ref(&verifier), &digest);
    if !verdict.any_verified() {
        return Err(coded(
            Exit::Failure,
            format!(
                "{target} ({digest}): none of its {} signature(s) verifies with {}: {}",
                verdict.count,
                key.display(),
                verdict.failures.join("; ")
            ),
        ));
    }
    let verified = verdict.verified_by.iter().flatten().count();
    let report = Verified {
        reference: target.clone(),
        digest,
        key: key.to_path_buf(),
        signatures: verdict.count,
        verified,
    };
    if !print_structured(global.output, &report)? && !global.quiet {
        print_fields(&[
            ("reference", report.reference.clone()),
            ("digest", report.digest.to_string()),
            ("verified with", key.display().to_string()),
            (
                "signatures",
                format!("{verified} of {} verify", report.signatures),
            ),
        ])?;
    }
    Ok(())
}

/// `oci inspect`'s signature lines: how many signatures the artifact has and, with `key`,
/// how many verify.
pub async fn inspect_lines(
    ctx: &OciContext,
    reference: &Reference,
    digest: &Digest,
    key: Option<&Path>,
) -> Result<Vec<(&'static str, String)>> {
    let client = ctx.registries.client(&reference.registry);
    let layers = sign::fetch_signatures(&client, &reference.repository, digest).await?;
    let mut rows = vec![("signatures", layers.len().to_string())];
    if let Some(key) = key {
        let verifier = load_verifier(key)?;
        let verdict = sign::judge(&layers, std::slice::from_ref(&verifier), digest);
        let verified = verdict.verified_by.iter().flatten().count();
        rows.push((
            "signature check",
            if verified > 0 {
                format!(
                    "verified with {} ({verified} of {})",
                    key.display(),
                    verdict.count
                )
            } else {
                format!("NOT verified with {}", key.display())
            },
        ));
    }
    Ok(rows)
}

/// Signs every artifact a publish left in the registry (published, replaced or unchanged).
pub async fn sign_published(
    ctx: &OciContext,
    entries: &[crate::extension::publish::PublishEntry],
    signer: &Signer,
) -> Result<()> {
    use crate::extension::publish::PublishStatus;
    for entry in entries {
        let digest = match &entry.status {
            PublishStatus::Published { digest }
            | PublishStatus::Replaced { digest, .. }
            | PublishStatus::Unchanged { digest } => digest,
            _ => continue,
        };
        let Some(reference) = &entry.reference else {
            continue;
        };
        let reference = ctx.reference(reference)?.with_digest(digest.clone());
        sign_reference(ctx, &reference, signer).await?;
    }
    Ok(())
}
