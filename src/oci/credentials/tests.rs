use super::docker_config::*;
use super::helpers::*;
use super::token_file::*;
use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tempfile::TempDir;

const FAKE_HELPER: &str = r#"#!/bin/sh
# Keeps one JSON file per server URL under ./store, beside this script.
store="$(dirname "$0")/store"
mkdir -p "$store"
echo "$1" >> "$(dirname "$0")/calls"
case "$1" in
get)
url=$(cat)
f="$store/$(printf %s "$url" | tr '/:' '__')"
if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi
;;
store)
json=$(cat)
url=$(printf %s "$json" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
printf %s "$json" > "$store/$(printf %s "$url" | tr '/:' '__')"
;;
erase)
url=$(cat)
f="$store/$(printf %s "$url" | tr '/:' '__')"
if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi
;;
*)
echo "unknown action $1" >&2
exit 2
;;
esac
"#;

/// Fails every action, echoing its input to both streams.
const ECHO_HELPER: &str = "#!/bin/sh\ninput=$(cat)\necho \"failed: $input\" >&2\necho \"keychain is locked\" >&2\necho \"$input\"\nexit 1\n";

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn docker_config(&self) -> PathBuf {
        self.path("docker/config.json")
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }
    fn write_config(&self, value: Value) {
        self.write("docker/config.json", &value.to_string());
    }
    fn read_config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.docker_config()).expect("read config"))
            .expect("config is JSON")
    }
    fn helper(&self, name: &str, script: &str) {
        let path = self.write(&format!("bin/docker-credential-{name}"), script);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    fn calls(&self) -> String {
        std::fs::read_to_string(self.path("bin/calls")).unwrap_or_default()
    }
    fn store(&self) -> CredentialStore {
        CredentialStore::new(self.docker_config(), None, None).with_helper_dir(self.path("bin"))
    }
}

fn basic(username: &str, password: &str) -> Credential {
    Credential::Basic {
        username: username.to_string(),
        password: password.to_string(),
    }
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

#[test]
fn known_registries_come_from_auths_and_helpers() {
    let fx = Fixture::new();
    fx.write_config(serde_json::json!({
        "auths": {"https://harbor.example.com": {"auth": b64("u:p")}, "localhost:5000": {}},
        "credHelpers": {"ghcr.io": "pass"},
        "other": true
    }));
    assert_eq!(
        fx.store().known_registries(),
        ["ghcr.io", "harbor.example.com", "localhost:5000"]
    );
}

#[test]
fn debug_and_display_hide_the_secret() {
    let c = basic("alice", "hunter2-secret");
    for text in [format!("{c:?}"), format!("{c}"), format!("{:?}", Some(&c))] {
        assert!(!text.contains("hunter2-secret"), "{text}");
    }
    assert!(format!("{c:?}").contains("alice"));
    let t = Credential::Token("tok-secret-123".to_string());
    assert!(!format!("{t:?}").contains("tok-secret-123"));
    assert!(!format!("{t}").contains("tok-secret-123"));
    let id = basic(IDENTITY_TOKEN_USERNAME, "id-secret");
    assert_eq!(id.to_string(), "identity token");
}

#[test]
fn nothing_configured_is_none() {
    let f = Fixture::new();
    let store = CredentialStore::new(
        f.docker_config(),
        Some(f.path("auth.json")),
        Some(TokenFile::new("reg.example", f.path("token"))),
    );
    assert!(store.get("reg.example").expect("get").is_none());
    assert!(store.sources("reg.example").is_empty());
    assert!(!store.erase("reg.example").expect("erase"));
}

#[test]
fn auths_auth_field() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({"auths": {"reg.example": {"auth": b64("alice:pa:ss")}}}));
    let (cred, source) = f.store().get("reg.example").expect("get").expect("found");
    assert_eq!(cred, basic("alice", "pa:ss"));
    assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
    assert!(f.store().get("other.example").expect("get").is_none());
}

#[test]
fn auths_auth_without_padding() {
    let f = Fixture::new();
    let auth = b64("bob:pw").trim_end_matches('=').to_string();
    f.write_config(serde_json::json!({"auths": {"reg.example": {"auth": auth}}}));
    let (cred, _) = f.store().get("reg.example").expect("get").expect("found");
    assert_eq!(cred, basic("bob", "pw"));
}

#[test]
fn auths_username_password_fields() {
    let f = Fixture::new();
    f.write_config(
        serde_json::json!({"auths": {"reg.example": {"username": "u", "password": "p"}}}),
    );
    let (cred, _) = f.store().get("reg.example").expect("get").expect("found");
    assert_eq!(cred, basic("u", "p"));
}

#[test]
fn identity_token_is_basic_with_token_username() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({"auths": {"reg.example": {
        "auth": b64("00000000-0000-0000-0000-000000000000:"),
        "identitytoken": "refresh-me"
    }}}));
    let (cred, _) = f.store().get("reg.example").expect("get").expect("found");
    assert_eq!(cred, basic("<token>", "refresh-me"));
}

#[test]
fn registry_token_is_bearer() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({"auths": {"reg.example": {"registrytoken": "bearer-x"}}}));
    let (cred, _) = f.store().get("reg.example").expect("get").expect("found");
    assert_eq!(cred, Credential::Token("bearer-x".to_string()));
}

#[test]
fn keys_with_scheme_port_and_path_match() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({"auths": {
        "https://reg.example:5000": {"auth": b64("a:1")},
        "http://plain.example:8080/": {"auth": b64("b:2")},
        "legacy.example/v1/": {"auth": b64("c:3")},
    }}));
    let store = f.store();
    let get = |r: &str| store.get(r).expect("get").map(|(c, _)| c);
    assert_eq!(get("reg.example:5000"), Some(basic("a", "1")));
    assert_eq!(get("https://reg.example:5000/v2/"), Some(basic("a", "1")));
    assert_eq!(
        get("reg.example"),
        None,
        "a different port is another registry"
    );
    assert_eq!(get("reg.example:5001"), None);
    assert_eq!(get("plain.example:8080"), Some(basic("b", "2")));
    assert_eq!(get("legacy.example"), Some(basic("c", "3")));
}

#[test]
fn exact_key_beats_scheme_key_and_empty_entries_are_skipped() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({"auths": {
        "https://reg.example": {"auth": b64("scheme:1")},
        "reg.example": {"auth": b64("exact:2")},
        "https://other.example": {"auth": b64("real:3")},
        "other.example": {},
    }}));
    let store = f.store();
    let (cred, _) = store.get("reg.example").expect("get").expect("found");
    assert_eq!(cred, basic("exact", "2"));
    let (cred, _) = store.get("other.example").expect("get").expect("found");
    assert_eq!(cred, basic("real", "3"));
}

#[test]
fn docker_hub_aliases_share_one_entry() {
    let f = Fixture::new();
    f.write_config(
        serde_json::json!({"auths": {"https://index.docker.io/v1/": {"auth": b64("hub:pw")}}}),
    );
    for registry in ["docker.io", "registry-1.docker.io", "index.docker.io"] {
        let (cred, _) = f.store().get(registry).expect("get").expect(registry);
        assert_eq!(cred, basic("hub", "pw"));
    }
    let f = Fixture::new();
    f.store()
        .store("docker.io", &basic("me", "pw"))
        .expect("store");
    let auths = &f.read_config()["auths"];
    assert!(auths.get(DOCKER_HUB_SERVER).is_some(), "{auths}");
}

#[test]
fn auth_json_after_docker_config() {
    let f = Fixture::new();
    let auth_json = f.write(
        "containers/auth.json",
        &serde_json::json!({"auths": {
            "quay.io": {"auth": b64("podman:pw")},
            "both.example": {"auth": b64("podman:2")},
            "quay.io/org/repo": {"auth": b64("scoped:pw")},
        }})
        .to_string(),
    );
    f.write_config(serde_json::json!({"auths": {"both.example": {"auth": b64("docker:1")}}}));
    let store = CredentialStore::new(f.docker_config(), Some(auth_json.clone()), None);
    let (cred, source) = store.get("quay.io").expect("get").expect("found");
    assert_eq!(cred, basic("podman", "pw"));
    assert_eq!(source, CredentialSource::AuthJson(auth_json.clone()));
    let (cred, source) = store.get("both.example").expect("get").expect("found");
    assert_eq!(cred, basic("docker", "1"));
    assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
    assert_eq!(
        store.sources("quay.io"),
        vec![auth_json.display().to_string()]
    );
}

#[test]
fn token_file_last_and_only_for_its_host() {
    let f = Fixture::new();
    let token = f.write("ws/token", "  tok-123\n");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    f.write_config(serde_json::json!({"auths": {"reg.example": {"auth": b64("a:b")}}}));
    let binding = TokenFile::new("ws.example:5000", token.clone());
    let store = CredentialStore::new(f.docker_config(), None, Some(binding));
    let (cred, source) = store.get("ws.example:5000").expect("get").expect("found");
    assert_eq!(cred, Credential::Token("tok-123".to_string()));
    assert_eq!(source, CredentialSource::TokenFile(token.clone()));
    assert_eq!(
        store.sources("ws.example:5000"),
        vec![format!("token file {}", token.display())]
    );
    // Any other host: never the workspace's token, not even as a fallback.
    for other in [
        "other.example",
        "ws.example",
        "ws.example:5001",
        "127.0.0.1:5000",
    ] {
        assert!(store.get(other).expect("get").is_none(), "{other}");
        assert!(store.sources(other).is_empty(), "{other}");
    }
    let (_, source) = store.get("reg.example").expect("get").expect("found");
    assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
}

#[test]
fn each_token_file_serves_its_own_host() {
    let f = Fixture::new();
    let a = f.write("a-token", "token-a\n");
    let b = f.write("b-token", "token-b\n");
    let store = CredentialStore::from_env([
        TokenFile::new("a.example", a.clone()),
        TokenFile::new("b.example:5000", b.clone()),
    ]);
    let found = |host: &str| store.get(host).expect("get").map(|(c, _)| c);
    assert_eq!(
        found("a.example"),
        Some(Credential::Token("token-a".into()))
    );
    assert_eq!(
        found("b.example:5000"),
        Some(Credential::Token("token-b".into()))
    );
    assert_eq!(found("b.example"), None);
}

#[test]
fn token_file_readable_by_others_still_works_and_blank_is_none() {
    let f = Fixture::new();
    let token = f.write("token", "tok\n");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let store = CredentialStore::new(
        f.docker_config(),
        None,
        Some(TokenFile::new("r", token.clone())),
    );
    let (cred, _) = store.get("r").expect("get").expect("found");
    assert_eq!(cred, Credential::Token("tok".to_string()));
    std::fs::write(&token, " \n").expect("write");
    assert!(store.get("r").expect("get").is_none());
}

#[test]
fn home_prefix_expanded() {
    let home = Path::new("/home/me");
    assert_eq!(
        expand_home(Path::new("~/ws/token"), Some(home)),
        PathBuf::from("/home/me/ws/token")
    );
    assert_eq!(
        expand_home(Path::new("/abs/token"), Some(home)),
        PathBuf::from("/abs/token")
    );
    assert_eq!(
        expand_home(Path::new("~other/token"), Some(home)),
        PathBuf::from("~other/token")
    );
    assert_eq!(expand_home(Path::new("~/t"), None), PathBuf::from("~/t"));
}

#[test]
fn store_then_get_round_trips() {
    let f = Fixture::new();
    let store = f.store();
    let credentials = [
        basic("alice", "p@ss:word\"\\"),
        basic(IDENTITY_TOKEN_USERNAME, "refresh"),
        Credential::Token("bearer".to_string()),
    ];
    for credential in credentials {
        let source = store.store("reg.example:5000", &credential).expect("store");
        assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
        let (got, source) = store.get("reg.example:5000").expect("get").expect("found");
        assert_eq!(got, credential);
        assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
        let auths = f.read_config()["auths"].clone();
        assert_eq!(auths.as_object().map(Map::len), Some(1), "{auths}");
    }
}

#[test]
fn store_preserves_everything_else_and_is_private() {
    let f = Fixture::new();
    let original = serde_json::json!({
        "auths": {
            "other.example": {"auth": b64("o:p"), "email": "o@example"},
            "https://reg.example": {"auth": b64("old:old"), "email": "keep@example", "identitytoken": "stale"},
        },
        "credHelpers": {"gcr.io": "gcloud"},
        "psFormat": "table {{.ID}}",
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
        "experimental": "enabled",
    });
    f.write_config(original.clone());
    f.store()
        .store("reg.example", &basic("new", "pw"))
        .expect("store");

    let mut expected = original;
    expected["auths"]["https://reg.example"] =
        serde_json::json!({"auth": b64("new:pw"), "email": "keep@example"});
    assert_eq!(f.read_config(), expected);

    let mode = std::fs::metadata(f.docker_config())
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(f.path("docker"))
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("config.json")]);
}

#[test]
fn store_creates_private_directory() {
    let f = Fixture::new();
    let config = f.path("new/dir/config.json");
    let store = CredentialStore::new(config.clone(), None, None);
    store.store("reg.example", &basic("u", "p")).expect("store");
    let mode = std::fs::metadata(f.path("new/dir"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let mode = std::fs::metadata(&config)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        store.get("reg.example").expect("get").map(|(c, _)| c),
        Some(basic("u", "p"))
    );
}

#[test]
fn store_writes_through_a_symlink() {
    let f = Fixture::new();
    let real = f.write("dotfiles/docker.json", r#"{"auths":{}}"#);
    std::fs::create_dir_all(f.path("docker")).expect("mkdir");
    std::os::unix::fs::symlink(&real, f.docker_config()).expect("symlink");
    f.store()
        .store("reg.example", &basic("u", "p"))
        .expect("store");
    let meta = std::fs::symlink_metadata(f.docker_config()).expect("meta");
    assert!(meta.file_type().is_symlink());
    let text = std::fs::read_to_string(&real).expect("read");
    assert!(text.contains("reg.example"), "{text}");
}

#[test]
fn store_refuses_username_with_colon() {
    let f = Fixture::new();
    let err = f
        .store()
        .store("reg.example", &basic("a:b", "secret-pw"))
        .expect_err("refused");
    assert!(matches!(err, CredentialError::UsernameWithColon { .. }));
    assert!(!f.docker_config().exists());
}

#[test]
fn erase_from_config() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({
        "auths": {
            "https://reg.example": {"auth": b64("a:1")},
            "reg.example": {"auth": b64("a:2")},
            "other.example": {"auth": b64("b:3")},
        },
        "psFormat": "x",
    }));
    let store = f.store();
    assert!(store.erase("reg.example").expect("erase"));
    assert!(store.get("reg.example").expect("get").is_none());
    assert_eq!(
        f.read_config(),
        serde_json::json!({"auths": {"other.example": {"auth": b64("b:3")}}, "psFormat": "x"})
    );
    assert!(!store.erase("reg.example").expect("erase again"));
    let mode = std::fs::metadata(f.docker_config())
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn malformed_config_names_file_and_position() {
    let f = Fixture::new();
    f.write(
        "docker/config.json",
        "{\n  \"auths\": {\n    \"reg\": {\"auth\": \"x\",}\n  }\n}\n",
    );
    let err = f.store().get("reg").expect_err("malformed");
    let CredentialError::Syntax { line, column, .. } = &err else {
        panic!("not a syntax error: {err:?}");
    };
    assert_eq!(*line, 3);
    assert!(*column > 0);
    let text = err.to_string();
    let expected = format!("{}:3:{column}: invalid JSON", f.docker_config().display());
    assert!(text.starts_with(&expected), "{text}");
    assert!(!text.contains("at line"), "{text}");
    // Writes refuse too rather than replacing a file they could not read.
    assert!(f.store().store("reg", &basic("u", "p")).is_err());
    assert!(f.store().sources("reg")[0].contains("invalid JSON"));
}

#[test]
fn bad_entries_name_the_field_not_the_value() {
    let f = Fixture::new();
    f.write_config(
        serde_json::json!({"auths": {"reg.example": {"auth": "!!not-base64-secret!!"}}}),
    );
    let err = f.store().get("reg.example").expect_err("bad auth");
    let text = err.to_string();
    assert!(text.contains("auths.\"reg.example\".auth"), "{text}");
    assert!(
        text.contains(&f.docker_config().display().to_string()),
        "{text}"
    );
    assert!(!text.contains("not-base64-secret"), "{text}");

    f.write_config(serde_json::json!({"auths": {"reg.example": {"password": 12345678}}}));
    let err = f.store().get("reg.example").expect_err("bad type");
    assert!(!format!("{err} {err:?}").contains("12345678"));

    f.write_config(serde_json::json!(["not", "an", "object"]));
    assert!(matches!(
        f.store().get("reg.example"),
        Err(CredentialError::Invalid { .. })
    ));
}

#[test]
fn helper_store_get_erase() {
    let f = Fixture::new();
    f.helper("test", FAKE_HELPER);
    f.write_config(serde_json::json!({"credsStore": "test", "auths": {}}));
    let store = f.store();
    assert!(store.get("reg.example:5000").expect("get").is_none());

    let source = store
        .store("reg.example:5000", &basic("alice", "pw\"1"))
        .expect("store");
    let helper = CredentialSource::CredentialHelper("docker-credential-test".to_string());
    assert_eq!(source, helper);
    let (cred, source) = store.get("reg.example:5000").expect("get").expect("found");
    assert_eq!(cred, basic("alice", "pw\"1"));
    assert_eq!(source, helper);
    assert_eq!(
        f.read_config(),
        serde_json::json!({"credsStore": "test", "auths": {}}),
        "the config file is left alone"
    );
    assert_eq!(
        store.sources("reg.example:5000"),
        vec!["credential helper docker-credential-test".to_string()]
    );

    store
        .store("reg.example:5000", &basic("<token>", "idtok"))
        .expect("store");
    let (cred, _) = store.get("reg.example:5000").expect("get").expect("found");
    assert_eq!(cred, basic("<token>", "idtok"));

    assert!(store.erase("reg.example:5000").expect("erase"));
    assert!(store.get("reg.example:5000").expect("get").is_none());
    assert!(!store.erase("reg.example:5000").expect("erase again"));
    assert!(f.calls().contains("erase"));
}

#[test]
fn cred_helpers_entry_beats_creds_store_and_falls_through() {
    let f = Fixture::new();
    f.helper("test", FAKE_HELPER);
    f.helper("broken", ECHO_HELPER);
    f.write_config(serde_json::json!({
        "credsStore": "broken",
        "credHelpers": {"https://reg.example:5000": "test"},
        "auths": {"plain.example": {"auth": b64("p:q")}},
    }));
    let store = f.store();
    store
        .store("reg.example:5000", &basic("alice", "pw"))
        .expect("store in `test`");
    let (cred, source) = store.get("reg.example:5000").expect("get").expect("found");
    assert_eq!(cred, basic("alice", "pw"));
    assert_eq!(
        source,
        CredentialSource::CredentialHelper("docker-credential-test".to_string())
    );
    assert!(
        store.get("plain.example").is_err(),
        "credsStore `broken` fails"
    );

    // Nothing in the helper: a plaintext `auths` entry beside it is stale, as Docker reads it.
    f.write_config(serde_json::json!({
        "credHelpers": {"plain.example": "test"},
        "auths": {"plain.example": {"auth": b64("p:q")}},
    }));
    assert_eq!(store.get("plain.example").expect("get"), None);
    assert_eq!(
        store.sources("plain.example"),
        vec!["credential helper docker-credential-test".to_string()]
    );
    f.write_config(serde_json::json!({
        "credsStore": "test",
        "auths": {"plain.example": {"auth": b64("p:q")}},
    }));
    assert_eq!(store.get("plain.example").expect("get"), None);
    // Where no helper is configured, the entry is what there is.
    f.write_config(serde_json::json!({"auths": {"plain.example": {"auth": b64("p:q")}}}));
    let (cred, source) = store.get("plain.example").expect("get").expect("found");
    assert_eq!(cred, basic("p", "q"));
    assert_eq!(source, CredentialSource::DockerConfig(f.docker_config()));
}

#[test]
fn a_helper_that_hangs_is_given_up_on() {
    let f = Fixture::new();
    // Waits for a file nobody writes: a keychain prompt no one answers.
    f.helper(
        "hang",
        "#!/bin/sh\nwhile [ ! -e \"$(dirname \"$0\")/never\" ]; do sleep 0.05; done\n",
    );
    f.write_config(serde_json::json!({"credsStore": "hang"}));
    let store = f
        .store()
        .with_helper_timeout(std::time::Duration::from_millis(300));
    let err = store.get("reg.example").expect_err("times out");
    assert!(
        matches!(&err, CredentialError::HelperTimeout { action: "get", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("docker-credential-hang get"),
        "{err}"
    );
}

#[test]
fn helper_errors_never_show_the_secret() {
    let f = Fixture::new();
    f.helper("echo", ECHO_HELPER);
    f.write_config(serde_json::json!({"credsStore": "echo"}));
    let secret = "s3cr\"et\\pa55";
    let err = f
        .store()
        .store("reg.example", &basic("alice", secret))
        .expect_err("fails");
    let text = format!("{err} {err:?}");
    assert!(
        matches!(err, CredentialError::HelperFailed { .. }),
        "{text}"
    );
    assert!(text.contains("docker-credential-echo"), "{text}");
    assert!(
        text.contains("keychain is locked"),
        "other output is quoted: {text}"
    );
    assert!(text.contains("withheld"), "{text}");
    assert!(!text.contains("s3cr"), "{text}");
    assert!(!text.contains("pa55"), "{text}");

    let err = f.store().get("reg.example").expect_err("fails");
    assert!(
        err.to_string().contains("docker-credential-echo get"),
        "{err}"
    );
}

#[test]
fn redact_cuts_secrets_and_keeps_the_rest() {
    let text = "keychain locked\nsecret is hunter2 here\nmangled hunt\\er2\nbye";
    let out = redact(text, &["hunter2"]);
    assert_eq!(
        out,
        "keychain locked\nsecret is <redacted> here\n<line withheld: it may hold the secret>\nbye"
    );
    assert_eq!(redact("a \"q\\\"x\" b", &["q\"x"]), "a \"<redacted>\" b");
    assert_eq!(redact("plain", &[""]), "plain");
}

#[test]
fn helper_bad_output_is_an_error_without_the_secret() {
    let f = Fixture::new();
    f.helper(
        "odd",
        "#!/bin/sh\ncat >/dev/null\necho '{\"Username\": 7, \"Secret\": \"odd-secret\"}'\n",
    );
    f.write_config(serde_json::json!({"credsStore": "odd"}));
    let err = f.store().get("reg.example").expect_err("bad output");
    let text = format!("{err} {err:?}");
    assert!(
        matches!(err, CredentialError::HelperOutput { .. }),
        "{text}"
    );
    assert!(!text.contains("odd-secret"), "{text}");
}

#[test]
fn missing_helper_says_how_to_fix() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({"credsStore": "surely-not-installed-xyz"}));
    let err = f.store().get("reg.example").expect_err("missing helper");
    let text = err.to_string();
    assert!(
        matches!(err, CredentialError::HelperNotFound { .. }),
        "{text}"
    );
    assert!(
        text.contains("docker-credential-surely-not-installed-xyz"),
        "{text}"
    );
    assert!(text.contains("credsStore"), "{text}");
    assert!(
        text.contains(&f.docker_config().display().to_string()),
        "{text}"
    );
    assert!(text.contains("install it"), "{text}");
}

#[test]
fn helper_names_cannot_be_paths() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({"credHelpers": {"reg.example": "../../bin/sh"}}));
    assert!(matches!(
        f.store().get("reg.example"),
        Err(CredentialError::Invalid { .. })
    ));
}

#[test]
fn tokens_are_not_stored_in_helpers() {
    let f = Fixture::new();
    f.helper("test", FAKE_HELPER);
    f.write_config(serde_json::json!({"credsStore": "test"}));
    let err = f
        .store()
        .store("reg.example", &Credential::Token("tok-secret".to_string()))
        .expect_err("refused");
    assert!(matches!(err, CredentialError::TokenInHelper { .. }));
    assert!(!format!("{err} {err:?}").contains("tok-secret"));
    assert!(!f.calls().contains("store"));
}

#[test]
fn sources_lists_helpers_and_files() {
    let f = Fixture::new();
    f.write_config(serde_json::json!({
        "credsStore": "pass",
        "auths": {"reg.example": {"auth": b64("a:b")}, "empty.example": {}},
    }));
    let store = f.store();
    // The helper is the source; the `auths` entry beside it is not read.
    assert_eq!(
        store.sources("reg.example"),
        vec!["credential helper docker-credential-pass".to_string()]
    );
    f.write_config(serde_json::json!({"auths": {"reg.example": {"auth": b64("a:b")}}}));
    assert_eq!(
        store.sources("reg.example"),
        vec![f.docker_config().display().to_string()]
    );
    f.write_config(serde_json::json!({
        "credsStore": "pass",
        "auths": {"reg.example": {"auth": b64("a:b")}, "empty.example": {}},
    }));
    assert_eq!(
        store.sources("empty.example"),
        vec!["credential helper docker-credential-pass".to_string()]
    );
    assert!(!f.calls().contains("get"), "no helper is run");
}
