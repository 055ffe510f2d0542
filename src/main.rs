fn main() -> std::process::ExitCode {
    provisioning::cli::main()
}
