#!/usr/bin/env nu
# Structure test of the aws provider: the manifest says what this directory is, every
# script parses, and every template is present. Run with `nu tests/check_test.nu`.

use std assert

def main [] {
    let root = ($env.FILE_PWD | path dirname)

    let manifest = (open ($root | path join manifest.yaml))
    assert equal $manifest.name "aws"
    assert equal $manifest.type "provider"
    assert equal $manifest.version "2.0.0"
    assert ($manifest.description | is-not-empty) "manifest.yaml needs a description"

    let dependencies = ($manifest.dependencies? | default {} | columns | sort)
    assert equal $dependencies ([] | sort)

    for schema in ["manifest.toml" "aws.ncl" "version.ncl" "dependencies.ncl"] {
        let file = ($root | path join schemas $schema)
        assert ($file | path exists) $"missing ($file)"
    }

    for script in [install check uninstall] {
        let file = ($root | path join scripts $"($script).nu")
        assert ($file | path exists) $"missing ($file)"
        assert (nu-check $file) $"($file) does not parse"
    }

    let templates = (glob ($root | path join templates "*.j2"))
    assert ($templates | is-not-empty) "templates/ has no .j2 template"

    print "aws: structure ok"
}
