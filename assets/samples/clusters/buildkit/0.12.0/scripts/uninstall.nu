#!/usr/bin/env nu
# Tears down the buildkit cluster: uninstalls its taskservs in reverse order.

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
    --purge            # also delete each taskserv's data
    --check            # report what would be removed, change nothing
] {
    let given = (if $settings == null { {} } else { open $settings })
    let workspace = ($workspace | default ($env.PROVISIONING_WORKSPACE? | default $env.PWD))
    let names = (if ($given.taskservs? | default [] | is-empty) { $TASKSERVS } else { $given.taskservs | get name })

    for name in ($names | reverse) {
        let dir = (component-dir $workspace $name)
        if $dir == null {
            print $"($CLUSTER): ($name) is not installed, skipped"
            continue
        }
        let flags = ([(if $purge { "--purge" }) (if $check { "--check" })] | compact)
        ^nu ($dir | path join scripts uninstall.nu) ...$flags
    }
    print $"($CLUSTER): removed"
}
