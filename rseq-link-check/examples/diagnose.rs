//! Prints how this process finds its rseq area: human-readable by default, JSON with
//! `--json`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut json = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            "-h" | "--help" => {
                println!("usage: diagnose [--json]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("diagnose: unknown argument `{other}` (usage: diagnose [--json])");
                return ExitCode::from(2);
            }
        }
    }
    let report = rseq_link_check::runtime::diagnose();
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    ExitCode::SUCCESS
}
