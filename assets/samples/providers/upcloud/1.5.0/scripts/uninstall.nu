#!/usr/bin/env nu
# Removes the upcloud provider settings from a workspace. Servers created with it are left
# running: delete them first with the provider's own tools.

const PROVIDER = "upcloud"

def main [
    --workspace: path  # workspace to clean; $PROVISIONING_WORKSPACE when not given
    --check            # report what would be removed, change nothing
] {
    let workspace = ($workspace | default ($env.PROVISIONING_WORKSPACE? | default $env.PWD))
    let target = ($workspace | path join .provisioning providers $PROVIDER)
    if not ($target | path exists) {
        print $"($PROVIDER): nothing to remove"
        return
    }
    if $check {
        print $"would remove ($target)"
        return
    }
    rm --recursive $target
    print $"($PROVIDER): removed ($target)"
}
