#!/usr/bin/env nu
# Installs the radicle taskserv (1.0.0) on this host: user, directories, the release,
# its configuration rendered from templates/, and a systemd service.

const TASKSERV = "radicle"
const VERSION = "1.0.0"

# The settings file merged over the defaults of schemas/radicle.ncl.
def load-settings [file?: path] {
    let defaults = {
        name: $TASKSERV
        version: $VERSION
        install: {
            method: "binary"
            package: $TASKSERV
            prefix: "/usr/local"
            config_dir: $"/etc/($TASKSERV)"
            data_dir: $"/var/lib/($TASKSERV)"
            user: $TASKSERV
            service: true
        }
        listen_address: "0.0.0.0"
        ports: {}
        env: {}
        extra_args: []
    }
    if $file == null { $defaults } else { $defaults | merge deep (open $file) }
}

# Runs `action` unless this is a dry run, saying what it does either way.
def step [check: bool, what: string, action: closure] {
    if $check { print $"would ($what)" } else { print $what; do $action }
}

def arch [] {
    match (uname | get machine) {
        "x86_64" => "amd64"
        "aarch64" => "arm64"
        $other => $other
    }
}

# Renders a template of this extension with `settings` into `target` (jinja2-cli).
def render [template: string, settings: record, target: path] {
    let root = ($env.FILE_PWD | path dirname)
    let data = (mktemp --suffix .json)
    { settings: $settings } | to json | save --force $data
    ^jinja2 ($root | path join templates $template) $data --format json | save --force $target
    rm $data
}

def main [
    --settings: path   # YAML or JSON file with values for schemas/radicle.ncl
    --check            # report what would be done, change nothing
] {
    let s = (load-settings $settings)
    let install = $s.install

    if (^id -u | str trim) != "0" and not $check {
        error make { msg: $"($TASKSERV): install needs root" }
    }

    step $check $"create system user ($install.user)" {
        if (do { ^id $install.user } | complete).exit_code != 0 {
            ^useradd --system --no-create-home --shell /usr/sbin/nologin $install.user
        }
    }
    step $check $"create ($install.config_dir) and ($install.data_dir)" {
        mkdir $install.config_dir $install.data_dir
        ^chown $install.user $install.data_dir
    }

    match $install.method {
        "package" => {
            step $check $"install package ($install.package)" {
                if (which apt-get | is-not-empty) {
                    ^apt-get install -y $install.package
                } else {
                    ^dnf install -y $install.package
                }
            }
        }
        "binary" => {
            let url = ($install.url? | default "")
            if $url == "" {
                error make { msg: $"($TASKSERV): install.url is needed for the binary method" }
            }
            let url = ($url | str replace --all "{version}" $s.version | str replace --all "{arch}" (arch))
            step $check $"download ($url) into ($install.prefix)/bin" {
                let archive = (mktemp --suffix .tar.gz)
                http get --raw $url | save --force $archive
                ^tar -xzf $archive -C ($install.prefix | path join bin) --no-same-owner
                rm $archive
            }
        }
        "container" => { print $"($TASKSERV) runs as a container: nothing to install on the host" }
        $other => { error make { msg: $"($TASKSERV): unknown install method ($other)" } }
    }

    step $check $"write ($install.config_dir)/radicle.yaml" {
        render "radicle.yaml.j2" $s ($install.config_dir | path join "radicle.yaml")
    }

    if $install.service and $install.method != "container" {
        step $check $"enable and start radicle.service" {
            render "radicle.service.j2" $s $"/etc/systemd/system/($TASKSERV).service"
            ^systemctl daemon-reload
            ^systemctl enable --now $"($TASKSERV).service"
        }
    }
    print $"($TASKSERV) ($s.version): installed"
}
