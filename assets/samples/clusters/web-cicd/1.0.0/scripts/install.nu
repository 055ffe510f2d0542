#!/usr/bin/env nu
# Brings up the web-cicd cluster (1.0.0): installs each of its taskservs, in order, from the
# workspace's installed extensions, then waits until every one passes its check.

const CLUSTER = "web-cicd"
const TASKSERVS = ["gitea" "buildkit" "oci-reg"]

# Where an installed component lives: a taskserv, or a cluster this one is built on.
def component-dir [workspace: path, name: string] {
    ["taskservs" "clusters"]
    | each {|kind| $workspace | path join .provisioning extensions $kind $name }
    | where {|dir| $dir | path exists }
    | get 0?
}

def main [
    --settings: path   # YAML or JSON file with values for schemas/web-cicd.ncl
    --workspace: path  # workspace whose extensions are used; $PROVISIONING_WORKSPACE when not given
    --check            # report what would be done, change nothing
] {
    let given = (if $settings == null { {} } else { open $settings })
    let workspace = ($workspace | default ($env.PROVISIONING_WORKSPACE? | default $env.PWD))
    let taskservs = ($given.taskservs? | default ($TASKSERVS | each {|name| { name: $name settings: {} } }))
    let nodes = (($given.control_plane?.count? | default 1) + ($given.workers?.count? | default 2))

    print $"($CLUSTER): ($taskservs | length) taskservs on ($nodes) nodes"
    for taskserv in $taskservs {
        let dir = (component-dir $workspace $taskserv.name)
        if $dir == null {
            error make { msg: $"($CLUSTER): taskserv ($taskserv.name) is not installed in ($workspace); run `provisioning dep resolve`" }
        }
        let settings_file = (mktemp --suffix .json)
        $taskserv.settings? | default {} | to json | save --force $settings_file
        if $check {
            ^nu ($dir | path join scripts install.nu) --settings $settings_file --check
        } else {
            ^nu ($dir | path join scripts install.nu) --settings $settings_file
            ^nu ($dir | path join scripts check.nu) --settings $settings_file
        }
        rm $settings_file
    }
    print $"($CLUSTER): up"
}
