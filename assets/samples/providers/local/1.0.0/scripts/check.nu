#!/usr/bin/env nu
# Checks that the local provider is usable: settings written, credentials present, API reachable.

const PROVIDER = "local"

def main [
    --workspace: path  # workspace to check; $PROVISIONING_WORKSPACE when not given
    --offline          # skip the API reachability test
] {
    let workspace = ($workspace | default ($env.PROVISIONING_WORKSPACE? | default $env.PWD))
    let file = ($workspace | path join .provisioning providers $PROVIDER settings.json)
    if not ($file | path exists) {
        error make { msg: $"($PROVIDER): not installed, ($file) is missing; run scripts/install.nu" }
    }
    let settings = (open $file)

    let profile = ($settings.credentials.profile? | default "")
    if $profile == "" {
        for var in [$settings.credentials.access_key_env $settings.credentials.secret_key_env] {
            if $var not-in ($env | columns) {
                error make { msg: $"($PROVIDER): ($var) is not set" }
            }
        }
    }

    let api = ($settings.api_url? | default "")
    if not $offline and $api != "" {
        let status = (http get --full --allow-errors $api | get status)
        if $status >= 500 {
            error make { msg: $"($PROVIDER): ($api) answered ($status)" }
        }
    }
    print $"($PROVIDER): ok \(region ($settings.region), zone ($settings.zone)\)"
}
