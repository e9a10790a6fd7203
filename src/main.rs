use std::process::ExitCode;

fn main() -> ExitCode {
    mldatabuild::main()
}
