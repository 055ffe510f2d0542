#!/usr/bin/env nu
# Health check of the postgres taskserv: configuration present, service active, ports listening.

const TASKSERV = "postgres"

def main [
    --settings: path   # the settings file used at install time
    --timeout: duration = 30sec  # how long to wait for the ports to open
] {
    let given = (if $settings == null { {} } else { open $settings })
    let config_dir = ($given.install?.config_dir? | default $"/etc/($TASKSERV)")
    let service = ($given.install?.service? | default true)
    let ports = ($given.ports? | default {})

    let config = ($config_dir | path join "postgres.yaml")
    if not ($config | path exists) {
        error make { msg: $"($TASKSERV): ($config) is missing; run scripts/install.nu" }
    }

    if $service {
        let state = (do { ^systemctl is-active $"($TASKSERV).service" } | complete | get stdout | str trim)
        if $state != "active" {
            error make { msg: $"($TASKSERV): service is ($state)" }
        }
    }

    let deadline = ((date now) + $timeout)
    for port in ($ports | transpose name number) {
        loop {
            let listening = (^ss -ltnH | lines | any {|line| $line =~ $":($port.number)\\s" })
            if $listening { break }
            if (date now) > $deadline {
                error make { msg: $"($TASKSERV): nothing listens on ($port.name) port ($port.number)" }
            }
            sleep 1sec
        }
    }
    print $"($TASKSERV): healthy"
}
