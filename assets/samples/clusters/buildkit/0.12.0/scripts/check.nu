#!/usr/bin/env nu
# Checks the buildkit cluster: every taskserv it is made of passes its own check.

const CLUSTER = "buildkit"
const TASKSERVS = ["containerd" "kubernetes" "oci-reg"]

# Where an installed component lives: a taskserv, or a cluster this one is built on.
def component-dir [workspace: path, name: string] {
    ["taskservs" "clusters"]
    | each {|kind| $workspace | path join .provisioning extensions $kind $name }
    | where {|dir| $dir | path exists }
    | get 0?
}

def main [
    --settings: path   # the settings file used at install time
    --workspace: path  # workspace whose extensions are used; $PROVISIONING_WORKSPACE when not given
] {
    let given = (if $settings == null { {} } else { open $settings })
    let workspace = ($workspace | default ($env.PROVISIONING_WORKSPACE? | default $env.PWD))
    let names = (if ($given.taskservs? | default [] | is-empty) { $TASKSERVS } else { $given.taskservs | get name })

    let results = ($names | each {|name|
        let dir = (component-dir $workspace $name)
        let outcome = (if $dir == null {
            { exit_code: 1, stderr: "not installed" }
        } else {
            do { ^nu ($dir | path join scripts check.nu) } | complete
        })
        { taskserv: $name, healthy: ($outcome.exit_code == 0), detail: ($outcome.stderr | str trim) }
    })
    print ($results | table)
    let failed = ($results | where healthy == false)
    if ($failed | is-not-empty) {
        error make { msg: $"($CLUSTER): unhealthy: ($failed.taskserv | str join ', ')" }
    }
    print $"($CLUSTER): healthy"
}
