#!/usr/bin/env nu
# Removes the kubectl taskserv from this host: service, configuration and, with --purge, its data.

const TASKSERV = "kubectl"

def main [
    --settings: path   # the settings file used at install time
    --purge            # also delete the data directory and the system user
    --check            # report what would be removed, change nothing
] {
    let given = (if $settings == null { {} } else { open $settings })
    let install = ({
        prefix: "/usr/local"
        config_dir: $"/etc/($TASKSERV)"
        data_dir: $"/var/lib/($TASKSERV)"
        user: $TASKSERV
    } | merge ($given.install? | default {}))
    let unit = $"/etc/systemd/system/($TASKSERV).service"

    mut targets = [$unit $install.config_dir]
    if $purge { $targets = ($targets | append $install.data_dir) }
    if $check {
        print $"would stop ($TASKSERV).service and remove ($targets | str join ', ')"
        return
    }

    if ($unit | path exists) {
        ^systemctl disable --now $"($TASKSERV).service"
    }
    for target in $targets {
        if ($target | path exists) { rm --recursive $target }
    }
    ^systemctl daemon-reload
    if $purge and (do { ^id $install.user } | complete).exit_code == 0 {
        ^userdel $install.user
    }
    print $"($TASKSERV): removed"
}
