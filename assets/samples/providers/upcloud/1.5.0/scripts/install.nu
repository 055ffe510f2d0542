#!/usr/bin/env nu
# Sets up the upcloud provider (1.5.0) for a workspace: checks the credentials and writes
# the provider settings that server creation reads.

const PROVIDER = "upcloud"

# The settings file merged over the defaults of schemas/upcloud.ncl.
def load-settings [file?: path] {
    let defaults = {
        credentials: {
            access_key_env: "UPCLOUD_ACCESS_KEY"
            secret_key_env: "UPCLOUD_SECRET_KEY"
        }
        region: null
        zone: null
        servers: []
    }
    if $file == null { $defaults } else { $defaults | merge deep (open $file) }
}

def main [
    --settings: path   # YAML or JSON file with the provider settings (region, zone, servers)
    --workspace: path  # workspace to configure; $PROVISIONING_WORKSPACE when not given
    --check            # report what would be done, change nothing
] {
    let settings = (load-settings $settings)
    let workspace = ($workspace | default ($env.PROVISIONING_WORKSPACE? | default $env.PWD))

    if $settings.region == null or $settings.zone == null {
        error make { msg: $"($PROVIDER): settings need a region and a zone" }
    }
    let profile = ($settings.credentials.profile? | default "")
    if $profile == "" {
        let missing = ([$settings.credentials.access_key_env $settings.credentials.secret_key_env]
            | where {|var| $var not-in ($env | columns) })
        if ($missing | is-not-empty) {
            error make { msg: $"($PROVIDER): set ($missing | str join ', ') before installing" }
        }
    }

    let target = ($workspace | path join .provisioning providers $PROVIDER)
    let file = ($target | path join settings.json)
    if $check {
        print $"would write ($file) for region ($settings.region), zone ($settings.zone)"
        return
    }
    mkdir $target
    $settings | to json | save --force $file
    print $"($PROVIDER): configured region ($settings.region), zone ($settings.zone), ($settings.servers | length) servers"
}
